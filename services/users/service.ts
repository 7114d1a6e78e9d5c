/** The Moleculer service "userdomain": access check, one store query, the answer. */
import type { Context, ServiceSchema } from "moleculer";
import {
  intCursorOf,
  requireCaller,
  requireSelf,
  withNextCursor,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import { AppError } from "../../lib/errors";
import type { UserDomainStore } from "./store";

type Ctx<Q = Record<string, unknown>> = Context<HttpCallParams<{ id: string }, Q>, GatewayMeta>;

/** The service over `store`. */
export function userDomainService(store: UserDomainStore): ServiceSchema {
  const known = async (id: string, kind?: string) => {
    const u = await store.user(id);
    if (!u || (kind !== undefined && u.kind !== kind))
      throw new AppError("NOT_FOUND", `${kind ?? "user"} ${id} not found`);
    return u;
  };
  return {
    name: "userdomain",
    actions: {
      profile(c: Ctx) {
        requireCaller(c, ["users:read"]);
        requireSelf(c, c.params.params.id, "user");
        return known(c.params.params.id);
      },
      async officersMet(c: Ctx<{ limit?: number; cursor?: string; after?: string }>) {
        requireCaller(c, ["users:read"]);
        requireSelf(c, c.params.params.id, "user");
        await known(c.params.params.id, "civilian");
        const q = c.params.query;
        return withNextCursor(await store.officersMet(c.params.params.id, q.limit ?? 100, q.cursor ?? q.after));
      },
      async donations(c: Ctx<{ limit?: number; cursor?: string; before?: number }>) {
        requireCaller(c, ["users:read"]);
        requireSelf(c, c.params.params.id, "user");
        const u = await known(c.params.params.id);
        if (u.kind !== "family" && u.kind !== "charity") throw new AppError("NOT_FOUND", `family ${u.id} not found`);
        const q = c.params.query;
        return withNextCursor(
          await store.received(u.id, "donation", ["posted"], q.limit ?? 100, intCursorOf(q.cursor, q.before)),
        );
      },
      async sales(c: Ctx<{ limit?: number; cursor?: string; before?: number }>) {
        requireCaller(c, ["users:read"]);
        requireSelf(c, c.params.params.id, "user");
        await known(c.params.params.id, "merchant");
        return store.received(
          c.params.params.id,
          "exchange",
          ["posted"],
          c.params.query.limit ?? 100,
          intCursorOf(c.params.query.cursor, c.params.query.before),
        );
      },
    },
  };
}
