/**
 * The agents domain module: three agents that watch every domain, each a Moleculer service
 * with its state in the platform's stores (findings in Postgres, the quality model and the
 * services seen in KV, interactions in their stream): the health agent (canaries against every
 * service's key routes, availability and latency as metrics, alarms), the quality agent (SLOs
 * as data, error budgets and burn rates from the interactions stream, queue freshness, canary
 * forecasts) and the security agent (risky production state as findings). Files by role:
 * README.md here.
 */
import type { ServiceBroker } from "moleculer";
import { defineDomain } from "../../node/domain";
import type { Declaration } from "../../streams/declarations";
import { topology } from "../../streams/subjects";
import { agentsConfig, type AgentsConfig } from "./config";
import { findingMigrations, createFindingStore } from "./store";
import { agentRoutes } from "./routes";
import { agentServices } from "./service";
import { agentMetrics } from "./metrics";
import { createRecorder } from "./recorder";
import { HealthAgent } from "./health-agent";
import { QualityAgent } from "./quality-agent";
import { SecurityAgent } from "./security-agent";
import { agentsRepl } from "./repl";

declare module "../../config" {
  interface DomainConfigs {
    /** The agents (services/agents/). */
    readonly agents: AgentsConfig;
  }
}

/** The agents' KV bucket: the quality model, the services the health agent has seen. */
export function agentsBucket(ns: string): string {
  return `${ns}_agents`;
}

/** The agents domain (see the module doc). */
export const agentsDomain = defineDomain({
  name: "agents",
  summary:
    "health, quality and security agents: canaries and availability, SLOs with burn rates and canary forecasts, risky-state findings",
  config: agentsConfig,
  declare: (_config, topo) => ({
    migrations: findingMigrations,
    streams: [{ type: "kv", bucket: agentsBucket(topo.ns), history: 1 } satisfies Declaration],
    routes: agentRoutes,
  }),
  async start(ctx) {
    const { config } = ctx;
    const ac = config.agents;
    const log = ctx.logger.child({ domain: "agents" });
    const store = createFindingStore({ pg: ctx.pg });
    const metrics = agentMetrics(ctx.metrics);
    const kv = await ctx.nats.kvm.open(agentsBucket(config.namespace));
    let broker: ServiceBroker | undefined;
    const record = createRecorder({
      store,
      metrics,
      nodeId: config.nodeId,
      logger: log,
      broadcast: async (event, payload) => {
        await broker?.broadcast(event, payload);
      },
    });
    const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
    const gatewayUrl =
      ac.health.url !== ""
        ? ac.health.url.replace(/\/+$/, "")
        : config.services.includes("gateway")
          ? `http://${host}:${config.port}`
          : "";
    const health = new HealthAgent({
      routes: ctx.routes,
      config: ac.health,
      gatewayUrl,
      kv,
      metrics,
      record,
      logger: log,
    });
    const quality = new QualityAgent({
      nats: ctx.nats,
      kv,
      namespace: config.namespace,
      stream: ac.quality.stream,
      subjects: ac.quality.subjects,
      metrics,
      record,
      logger: log,
    });
    const security = new SecurityAgent({
      pg: ctx.pg,
      config,
      routes: ctx.routes,
      record,
      logger: log,
    });
    // a client created, suspended, activated or rotated: the security agent looks at once
    const changes = ctx.nats.nc.subscribe(topology(config.namespace).gateway.clientChanges, {
      callback: (err) => {
        if (!err) security.poke();
      },
    });
    const services = agentServices({
      config,
      store,
      health,
      quality,
      security,
      metrics,
      logger: log,
      attach: (b) => (broker = b),
    });
    return {
      services,
      stop: async () => {
        changes.unsubscribe();
        security.stop();
        await quality.stop();
      },
    };
  },
  repl: agentsRepl,
});
