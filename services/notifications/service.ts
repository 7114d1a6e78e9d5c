/**
 * The notifications' Moleculer service "notifications":
 *
 *   notifications.send {event, to, critical?, data?, id?}   (nodes and operators) plans the
 *       channels from the recipient's preferences and hands the notification to its actor;
 *       `id` makes a resend idempotent (default: derived from event, recipient and data)
 *   preferences routes (scope notifications:read / notifications:write), and a notification's
 *   state for operators.
 */
import { createHash } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import {
  requireNodeOrOperator,
  requireOperator,
  requireScope,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import type { ActorClient } from "../../actors/refs";
import { AppError } from "../../lib/errors";
import type { NotificationMessage, NotificationState } from "./notification.actor";
import { planFor } from "./plan";
import type { NotificationStore, Preferences } from "./store";
import { EVENTS } from "./templates";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

function dataOf(v: unknown): Record<string, string | number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object") throw new AppError("BAD_REQUEST", "data is an object");
  const out: Record<string, string | number> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string" || typeof x === "number") out[k] = x;
  return out;
}

/** The service over `store` and the notification actors. */
export function notificationsService(
  store: NotificationStore,
  actors: ActorClient<NotificationState, NotificationMessage>,
): ServiceSchema {
  return {
    name: "notifications",
    actions: {
      async send(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        const p = c.params;
        const event = p["event"];
        const to = p["to"];
        if (typeof event !== "string" || !EVENTS.includes(event)) throw new AppError("BAD_REQUEST", "unknown event");
        if (typeof to !== "string" || to === "" || to.length > 200) throw new AppError("BAD_REQUEST", "to is required");
        const data = dataOf(p["data"]);
        const critical = p["critical"] === true;
        const given = typeof p["id"] === "string" && /^[A-Za-z0-9_=-]{1,100}$/.test(p["id"]) ? p["id"] : undefined;
        const id =
          given ??
          `n${createHash("sha256")
            .update(JSON.stringify([event, to, data]))
            .digest("base64url")
            .slice(0, 32)}`;
        const plan = planFor(await store.get(to), event, data, critical);
        await actors.send(id, { type: "send", user: to, event, critical, plan }, { id: `ntf:${id}` });
        return { id, channels: plan.map((s) => s.channel) };
      },

      async getPreferences(c: Ctx) {
        const client = requireScope(c, "notifications:read");
        return (await store.get(client.id)) ?? { locale: "en", channels: {} };
      },

      async putPreferences(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, Preferences>>) {
        const client = requireScope(c, "notifications:write");
        const b = c.params.body;
        if (!b) throw new AppError("BAD_REQUEST", "a body is required");
        await store.put(client.id, b);
        return (await store.get(client.id)) ?? b;
      },

      async get(c: Ctx<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        const s = await actors.state(c.params.params.id);
        if (!s) throw new AppError("NOT_FOUND", "notification not found");
        return s;
      },
    },
  };
}
