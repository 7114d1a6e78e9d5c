/**
 * The sessions domain module: active users' sessions and hot data (cart summaries, product
 * views) cached in Redis with TTLs and invalidated on change; hit rate and size in the metrics
 * (`switchyard_sessions_cache_*`), the REPL (`sessions`) and an admin route.
 */
import { Gauge } from "prom-client";
import { defineDomain } from "../../node/domain";
import type { EnvReader } from "../../config/env";
import { createSessionCache, type CacheTtls } from "./cache";
import { sessionRoutes } from "./routes";
import { sessionsService } from "./service";

declare module "../../config" {
  interface DomainConfigs {
    /** Sessions (services/sessions/). */
    readonly sessions: CacheTtls;
  }
}

/** The sessions domain (see module doc). */
export const sessionsDomain = defineDomain({
  name: "sessions",
  summary: "session cache in Redis: active users, cart summaries, product views; TTLs, invalidated on change",
  config: (r: EnvReader) => ({
    sessionSec: r.int("SESSIONS_TTL_SEC", 1800, 1, 30 * 86_400),
    cartSec: r.int("SESSIONS_CART_TTL_SEC", 600, 1, 30 * 86_400),
    productSec: r.int("SESSIONS_PRODUCT_TTL_SEC", 300, 1, 30 * 86_400),
  }),
  declare: () => ({ routes: sessionRoutes }),
  start(ctx) {
    const cache = createSessionCache(ctx.redis, ctx.config.namespace, ctx.config.sessions);
    for (const name of ["hits", "misses", "invalidations"] as const) {
      const metric = `switchyard_sessions_cache_${name}`;
      ctx.metrics.removeSingleMetric(metric);
      new Gauge({
        name: metric,
        help: `Session cache ${name} on this node since it started`,
        registers: [ctx.metrics],
        collect() {
          this.set(cache.stats[name]);
        },
      });
    }
    return { services: [sessionsService(cache)] };
  },
  repl: [
    {
      command: "sessions",
      description: "Session cache: hit rate on the answering node, keys and size",
      async action(broker) {
        const s: unknown = await broker.call("sessions.stats", {});
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      },
    },
  ],
});
