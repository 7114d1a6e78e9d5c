/**
 * The catalogue domain module: products, variants, prices and stock in Postgres (the one source
 * of truth), served to sellers (catalog routes) and buyers (shop browse and search), and the
 * stock reservations orders make. Worker nodes run the expiry sweep that releases holds past
 * their time (CATALOG_SWEEP_MS).
 */
import { defineDomain } from "../../node/domain";
import type { Env, EnvReader } from "../../config/env";
import { errorMessage } from "../../lib/errors";
import { catalogRoutes } from "./routes";
import { catalogService } from "./service";
import { catalogMigrations, createCatalogStore } from "./store";

declare module "../../config" {
  interface DomainConfigs {
    /** The catalogue (services/catalog/). */
    readonly catalog: { readonly sweepMs: number };
  }
}

function catalogConfig(r: EnvReader, _env: Env): { sweepMs: number } {
  return { sweepMs: r.int("CATALOG_SWEEP_MS", 1000, 50, 3600_000) };
}

/** The catalogue domain (see module doc). */
export const catalogDomain = defineDomain({
  name: "catalog",
  summary: "products, variants, prices and stock per seller; buyer browse and search; stock reservations",
  config: catalogConfig,
  declare: () => ({ migrations: catalogMigrations, routes: catalogRoutes }),
  start(ctx) {
    const store = createCatalogStore({ pg: ctx.pg });
    const log = ctx.logger.child({ domain: "catalog" });
    let timer: NodeJS.Timeout | undefined;
    let sweeping = false;
    if (ctx.config.workers) {
      timer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        store
          .expire(new Date(), 500)
          .then((orders) => {
            if (orders.length > 0) log.info({ orders: orders.length }, "expired stock reservations released");
          })
          .catch((err: unknown) => log.warn({ err: errorMessage(err) }, "reservation sweep failed"))
          .finally(() => (sweeping = false));
      }, ctx.config.catalog.sweepMs);
      timer.unref();
    }
    return {
      services: [catalogService(store)],
      stop: () => {
        if (timer) clearInterval(timer);
        return Promise.resolve();
      },
    };
  },
});
