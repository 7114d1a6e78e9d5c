/**
 * The notifications domain module: email, SMS and push through provider simulators (or real
 * providers), templates per event and locale, recipients' preferences, one durable outbox per
 * channel with retries, fallback across channels and a dead letter when all fail. Other domains
 * call `notifications.send`.
 */
import { defineDomain, type DomainSimulator } from "../../node/domain";
import type { Env, EnvReader } from "../../config/env";
import { notification, notificationKind } from "./notification.actor";
import { channelJobs } from "./jobs";
import { notificationRoutes } from "./routes";
import { notificationsService } from "./service";
import { createNotificationStore, notificationMigrations } from "./store";
import { startMessageSimulator } from "./simulator";
import type { Channel } from "./templates";

/** Settings of the notifications domain. */
export interface NotificationsConfig {
  readonly urls: Readonly<Record<Channel, string>>;
  readonly useSimulators: boolean;
  readonly channelDeadlineMs: number;
  readonly callTimeoutMs: number;
  readonly sim: { readonly host: string; readonly ports: Readonly<Record<Channel, number>> };
}

declare module "../../config" {
  interface DomainConfigs {
    /** Notifications (services/notifications/). */
    readonly notifications: NotificationsConfig;
  }
}

function notificationsConfig(r: EnvReader, env: Env): NotificationsConfig {
  const host = r.str("SIM_HOST", "127.0.0.1");
  const ports = {
    email: r.int("SIM_EMAIL_PORT", 4120, 1, 65535),
    sms: r.int("SIM_SMS_PORT", 4121, 1, 65535),
    push: r.int("SIM_PUSH_PORT", 4122, 1, 65535),
  };
  const url = (c: Channel) =>
    r
      .url(`NOTIFICATIONS_${c.toUpperCase()}_URL`, `http://${host}:${ports[c]}`, ["http:", "https:"])
      .replace(/\/+$/, "");
  const set = (c: Channel) => (env[`NOTIFICATIONS_${c.toUpperCase()}_URL`] ?? "").trim() !== "";
  return {
    urls: { email: url("email"), sms: url("sms"), push: url("push") },
    useSimulators: !set("email") && !set("sms") && !set("push"),
    channelDeadlineMs: r.int("NOTIFICATIONS_CHANNEL_DEADLINE_MS", 60_000, 100, 7 * 86_400_000),
    callTimeoutMs: r.int("NOTIFICATIONS_CALL_TIMEOUT_MS", 5000, 100, 60_000),
    sim: { host, ports },
  };
}

const simulators: DomainSimulator[] = (["email", "sms", "push"] as const).map((channel) => ({
  name: channel,
  wanted: (config) => config.notifications.useSimulators,
  async start(config, logger) {
    const n = config.notifications;
    const sim = await startMessageSimulator({ channel, host: n.sim.host, port: n.sim.ports[channel], logger });
    return { url: sim.url, stop: () => sim.close() };
  },
}));

/** The notifications domain (see module doc). */
export const notificationsDomain = defineDomain({
  name: "notifications",
  summary: "email, SMS and push: templates per event and locale, preferences, an outbox per channel, fallback",
  config: notificationsConfig,
  declare: (config, topo) => ({
    migrations: notificationMigrations,
    kinds: [
      notificationKind({
        channelDeadlineMs: config.notifications.channelDeadlineMs,
        dlqSubject: (id) => `${topo.ns}.dlq.notifications.${id}`,
      }),
    ],
    jobs: channelJobs(config.notifications.urls, config.notifications.callTimeoutMs),
    routes: notificationRoutes,
  }),
  start: (ctx) => ({
    services: [notificationsService(createNotificationStore({ pg: ctx.pg }), notification.on(ctx.runtime))],
  }),
  simulators,
});
