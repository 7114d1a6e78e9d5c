/**
 * Tracking test world: one real node in this process (runtime, gateway, tracking,
 * notifications, rewards) in a fresh namespace, the push/email/SMS simulators on free ports, a
 * producer client, and a NATS connection that collects every proximity event. Helpers walk
 * devices along tracks over HTTP, as a mobile backend would.
 */
import pino from "pino";
import { clientAdminDeps, createClient } from "../../services/gateway/clients";
import { startMessageSimulator, type MessageSimulator } from "../../services/notifications/simulator";
import { connectNats, type NatsHandles, type Subscription } from "../../nats";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace, freshNamespace } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { freePort } from "../support/ports";
import { startInProcess, type InProcessNode } from "../support/node";
import { call, type Answer } from "../support/http";

export { waitFor } from "../support/wait";

/** A proximity event as published on `{ns}.tracking.events.>`. */
export interface SeenEvent {
  readonly subject: string;
  readonly text: string;
  readonly e: {
    type: string;
    id: string;
    meetingId: string;
    civilian: string;
    officer: string;
    cell: string;
    reason?: string;
  };
}

/** A running tracking test world. */
export interface World {
  readonly ns: string;
  readonly url: string;
  readonly node: InProcessNode;
  readonly push: MessageSimulator;
  readonly email: MessageSimulator;
  readonly sms: MessageSimulator;
  readonly producer: string;
  readonly admin: string;
  readonly events: SeenEvent[];
  http(key: string, method: string, path: string, body?: unknown): Promise<Answer>;
  /** A civilian user: a client with its push token set (its id is the user id). */
  civilianUser(token: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts the world; `extra` env overrides the defaults. */
export async function startWorld(extra: Record<string, string> = {}): Promise<World> {
  const ns = freshNamespace("ttr");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const [email, sms, push] = await Promise.all(
    (["email", "sms", "push"] as const).map((channel) => startMessageSimulator({ channel, port: 0, logger })),
  );
  const node = await startInProcess({
    NAMESPACE: ns,
    NODE_ID: `${ns}-n1`,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime,gateway,tracking,notifications,rewards",
    ACTOR_PARTITIONS: "4",
    LEASE_TTL_MS: "3000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    REWARDS_CHECK_INTERVAL_MS: "0",
    NOTIFICATIONS_EMAIL_URL: email!.url,
    NOTIFICATIONS_SMS_URL: sms!.url,
    NOTIFICATIONS_PUSH_URL: push!.url,
    NOTIFICATIONS_CHANNEL_DEADLINE_MS: "60000",
    TRACKING_PARTITIONS: "4",
    TRACKING_MIN_INTERVAL_MS: "0",
    TRACKING_MIN_DISTANCE_M: "0",
    TRACKING_SILENCE_MS: "3000",
    TRACKING_COOLDOWN_MS: "600000",
    ...extra,
  });
  const deps = clientAdminDeps(node.node.ctx);
  const mk = (scopes: string[]) => createClient(deps, { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes });
  const producer = (await mk(["tracking:read", "tracking:write"])).apiKey;
  const admin = (await mk(["admin", "rewards:read", "rewards:write"])).apiKey;
  const h: NatsHandles = await connectNats(NATS_URL, `${ns}-events`);
  const events: SeenEvent[] = [];
  const sub: Subscription = h.nc.subscribe(`${ns}.tracking.events.>`, {
    callback: (err, m) => {
      if (!err) events.push({ subject: m.subject, text: m.string(), e: m.json() });
    },
  });
  const http = (key: string, method: string, path: string, body?: unknown) =>
    call(`${url}${path}`, key, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
    });
  return {
    ns,
    url,
    node,
    push: push!,
    email: email!,
    sms: sms!,
    producer,
    admin,
    events,
    http,
    async civilianUser(token) {
      const c = await mk(["notifications:read", "notifications:write"]);
      const r = await http(c.apiKey, "PUT", "/api/v1/notifications/preferences", {
        locale: "en",
        channels: { push: { address: token, enabled: true } },
      });
      if (r.status !== 200) throw new Error(`preferences not set: ${r.status} ${r.text}`);
      return c.client.id;
    },
    async close() {
      sub.unsubscribe();
      await h.nc.close();
      await node.stop();
      await Promise.all([email!.close(), sms!.close(), push!.close()]);
      await cleanupNamespace(ns);
      await cleanupRedis(ns);
    },
  };
}

/** The point `dx` metres east and `dy` metres north of (lat, lng). */
export function offset(lat: number, lng: number, dx: number, dy: number): { lat: number; lng: number } {
  return { lat: lat + dy / 111_195, lng: lng + dx / (111_195 * Math.cos((lat * Math.PI) / 180)) };
}
