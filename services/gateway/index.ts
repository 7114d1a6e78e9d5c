/**
 * The gateway domain module: the HTTP gateway (every domain's routes, OpenAPI, OAuth2 client
 * credentials) and the client registry. Its tables and own routes are declared on every node;
 * `start` gives the `gateway` and `clients` services (service.ts); the REPL gets the client
 * commands (repl.ts). Files by role: README.md.
 */
import { defineDomain } from "../../node/domain";
import { clientMigrations } from "./clients";
import { gatewayRoutes } from "./routes";
import { createGatewayServices } from "./service";
import { clientReplCommands, canaryReplCommands } from "./repl";
import { edgeRoutes } from "./edge-routes";
import { gatewayDeclarations } from "./streams";
import { gatewaySection } from "./config";

/** The gateway domain (services/index.ts lists it). */
export const gatewayDomain = defineDomain({
  name: "gateway",
  needsMasterKey: true,
  summary: "the HTTP gateway (every domain's routes, OpenAPI, OAuth2 client credentials) and the client registry",
  config: gatewaySection,
  declare: (config, topo) => ({
    migrations: clientMigrations,
    routes: [...gatewayRoutes, ...edgeRoutes],
    streams: gatewayDeclarations(config, topo),
  }),
  start: (ctx) => ({ services: createGatewayServices(ctx) }),
  repl: [...clientReplCommands, ...canaryReplCommands],
});
