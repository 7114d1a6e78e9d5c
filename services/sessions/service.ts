/**
 * The sessions' Moleculer service "sessions": a client's session (last seen, its carts'
 * summaries) and cached product views, read through the Redis cache; invalidated by the
 * broadcasts `catalog.variantChanged` (a price change: the product's cached view) and
 * `carts.changed` (the cart's summary). `sessions.stats` answers hit rate and size.
 */
import type { Context, ServiceSchema } from "moleculer";
import { requireOperator, requireScope, type GatewayMeta, type HttpCallParams } from "../../gateway";
import { AppError } from "../../lib/errors";
import type { SessionCache } from "./cache";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

function field(v: unknown, name: string): string | undefined {
  if (typeof v !== "object" || v === null || !(name in v)) return undefined;
  const x: unknown = Object.entries(v).find(([k]) => k === name)?.[1];
  return typeof x === "string" ? x : undefined;
}

/** The service over `cache`; `onStats` feeds the metrics. */
export function sessionsService(cache: SessionCache): ServiceSchema {
  return {
    name: "sessions",
    events: {
      "catalog.variantChanged": {
        handler(c: Context<unknown>) {
          const productId = field(c.params, "productId");
          if (productId) return cache.dropProduct(productId);
          return undefined;
        },
      },
      "carts.changed": {
        async handler(c: Context<unknown>) {
          const cartId = field(c.params, "cartId");
          const owner = field(c.params, "owner");
          if (!cartId) return;
          await cache.cartChanged(cartId, owner);
        },
      },
    },
    actions: {
      async me(c: Ctx) {
        const client = requireScope(c, "shop:read");
        const lastSeen = await cache.touch(client.id);
        const ids = await cache.carts(client.id);
        const carts = [];
        for (const id of ids.slice(0, 20)) {
          const r = await cache.cart(id, async () => {
            const s: unknown = await c.broker.call("carts.summary", { cartId: id });
            return s ?? undefined;
          });
          if (r.value) carts.push(r.value);
        }
        return { client: client.id, lastSeen, carts };
      },

      async product(c: Ctx<HttpCallParams<{ id: string }>>) {
        requireScope(c, "shop:read");
        const id = c.params.params.id;
        // the client's own call: the catalogue checks its scope again
        const r = await cache.product(id, () =>
          c
            .call<unknown, HttpCallParams<{ id: string }>>("catalog.product", { params: { id }, query: {} })
            .catch((err: unknown) => {
              if (err instanceof Error && "code" in err && (err.code === 404 || err.code === "NOT_FOUND"))
                return undefined;
              throw err;
            }),
        );
        if (r.value === undefined) throw new AppError("NOT_FOUND", "product not found");
        c.meta.$responseHeaders = { "X-Cache": r.hit ? "hit" : "miss" };
        return r.value;
      },

      async stats(c: Ctx) {
        requireOperator(c);
        const { hits, misses, invalidations } = cache.stats;
        const size = await cache.size();
        return { hits, misses, invalidations, hitRate: hits + misses === 0 ? 0 : hits / (hits + misses), ...size };
      },
    },
  };
}
