/**
 * The console domain module: the operator web console at /console (built from web/ into
 * dist/, served by the gateway of every node hosting it) and the admin routes it calls:
 * cluster, streams with a live feed, actors, the DLQ with edit and in-order replay, the audit
 * log (Postgres) and alarms. Files by role: README.md.
 */
import { defineDomain } from "../../node/domain";
import { loadAssets } from "./assets";
import { auditMigrations, createAuditLog } from "./audit";
import { Inspector } from "./inspect";
import { consoleRoutes } from "./routes";
import { consoleService } from "./service";

/** The console domain (services/index.ts lists it). */
export const consoleDomain = defineDomain({
  name: "console",
  summary: "the operator web console at /console: cluster, streams, actors, dead letters (edit, replay, audit), alarms",
  declare: () => ({ migrations: auditMigrations, routes: consoleRoutes }),
  start: (ctx) => ({
    services: [
      consoleService({
        ctx,
        assets: loadAssets(),
        inspector: new Inspector(ctx.nats, ctx.topology),
        audit: createAuditLog(ctx.pg),
      }),
    ],
  }),
});
