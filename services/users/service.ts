/** The Moleculer service "userdomain": access check, one store query, the answer. */
import type { Context, ServiceSchema } from "moleculer";
import { requireCaller, type GatewayMeta, type HttpCallParams } from "../../gateway";
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
        return known(c.params.params.id);
      },
      async officersMet(c: Ctx<{ limit?: number; after?: string }>) {
        requireCaller(c, ["users:read"]);
        await known(c.params.params.id, "civilian");
        return store.officersMet(c.params.params.id, c.params.query.limit ?? 100, c.params.query.after);
      },
      async donations(c: Ctx<{ limit?: number; before?: number }>) {
        requireCaller(c, ["users:read"]);
        const u = await known(c.params.params.id);
        if (u.kind !== "family" && u.kind !== "charity") throw new AppError("NOT_FOUND", `family ${u.id} not found`);
        return store.received(u.id, "donation", ["posted"], c.params.query.limit ?? 100, c.params.query.before);
      },
      async sales(c: Ctx<{ limit?: number; before?: number }>) {
        requireCaller(c, ["users:read"]);
        await known(c.params.params.id, "merchant");
        return store.received(
          c.params.params.id,
          "exchange",
          ["posted"],
          c.params.query.limit ?? 100,
          c.params.query.before,
        );
      },
    },
  };
}
