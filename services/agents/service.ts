/**
 * The agents' Moleculer services, the thin layer: `agents` (the findings API and looks on
 * demand), `healthAgent`, `qualityAgent` and `securityAgent` (each starts its loop when the
 * broker runs and answers its own routes). Every action passes the operator gate (an operator,
 * a node, or a client with scope admin).
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import { requireOperator } from "../../gateway/access";
import type { GatewayMeta, HttpCallParams } from "../../gateway/routes";
import { AppError, errorMessage } from "../../lib/errors";
import type { Logger } from "../../lib/logger";
import type { AgentName, FindingChanges, Severity } from "./findings";
import type { FindingStore } from "./store";
import { findingSeq } from "./store";
import type { HealthAgent } from "./health-agent";
import type { QualityAgent } from "./quality-agent";
import type { SecurityAgent } from "./security-agent";
import { nodeSecrets } from "./security-agent";
import type { Config } from "../../config";
import { modelProblems, type QualityModel } from "./quality";
import type { AgentMetrics } from "./metrics";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

type FindingsQuery = {
  agent?: AgentName;
  state?: "open" | "resolved" | "all";
  kind?: string;
  severity?: Severity;
  limit?: number;
  cursor?: string;
};

/** What the services need. */
export interface AgentServicesDeps {
  readonly config: Config;
  readonly store: FindingStore;
  readonly health: HealthAgent;
  readonly quality: QualityAgent;
  readonly security: SecurityAgent;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  /** Called with the broker once the services are created (the agents broadcast and call through it). */
  readonly attach: (broker: ServiceBroker) => void;
}

/** The contract of the agents' services, for typed callers (the REPL). */
export interface AgentsApi {
  "agents.findings": { params: HttpCallParams<Record<string, string>, FindingsQuery>; result: unknown };
  "agents.run": { params: HttpCallParams<{ agent: AgentName }>; result: unknown };
}

/** Runs `fn` every `ms` (0: never), one run at a time, counting outcomes; returns the stop. */
function every(
  ms: number,
  agent: AgentName,
  fn: () => Promise<unknown>,
  metrics: AgentMetrics,
  log: Logger,
): () => void {
  if (ms <= 0) return () => undefined;
  let busy = false;
  const tick = () => {
    if (busy) return;
    busy = true;
    fn()
      .then(() => metrics.runs.inc({ agent, outcome: "ok" }))
      .catch((err: unknown) => {
        metrics.runs.inc({ agent, outcome: "failed" });
        log.warn({ agent, err: errorMessage(err) }, "agent look failed");
      })
      .finally(() => (busy = false));
  };
  // the first look soon after start (the registry has heard of the other nodes by then), then every `ms`
  const first = setTimeout(tick, Math.min(ms, 1500));
  const t = setInterval(tick, ms);
  first.unref();
  t.unref();
  return () => {
    clearTimeout(first);
    clearInterval(t);
  };
}

/** The four services (see the module doc). */
export function agentServices(deps: AgentServicesDeps): ServiceSchema[] {
  const { config, store, health, quality, security, metrics, logger } = deps;
  const ac = config.agents;
  const stops: Array<() => void> = [];

  async function list(q: FindingsQuery, agent: AgentName | undefined) {
    const before = q.cursor === undefined ? undefined : findingSeq(q.cursor);
    return store.list({
      ...(agent ? { agent } : {}),
      state: q.state ?? "open",
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.severity ? { severity: q.severity } : {}),
      limit: q.limit ?? 50,
      ...(before !== undefined ? { before } : {}),
    });
  }

  const look: Record<AgentName, () => Promise<FindingChanges>> = {
    health: () => health.round(),
    quality: () => quality.look(),
    security: () => security.look(),
  };

  const agentsService: ServiceSchema = {
    name: "agents",
    created() {
      deps.attach(this.broker);
      health.attach(this.broker);
      security.attach(this.broker);
    },
    actions: {
      findings(c: Ctx<HttpCallParams<Record<string, string>, FindingsQuery>>) {
        requireOperator(c);
        return list(c.params.query, c.params.query.agent);
      },
      agentFindings(c: Ctx<HttpCallParams<{ agent: AgentName }, FindingsQuery>>) {
        requireOperator(c);
        return list(c.params.query, c.params.params.agent);
      },
      async finding(c: Ctx<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        const f = await store.get(c.params.params.id);
        if (!f) throw new AppError("NOT_FOUND", "no such finding");
        return f;
      },
      async run(c: Ctx<HttpCallParams<{ agent: AgentName }>>) {
        requireOperator(c);
        const agent = c.params.params.agent;
        const fn = look[agent];
        if (!fn) throw new AppError("NOT_FOUND", "no such agent");
        const ch = await fn();
        metrics.runs.inc({ agent, outcome: "ok" });
        return {
          agent,
          node: config.nodeId,
          raised: ch.raised,
          updated: ch.updated.length,
          resolved: ch.resolved,
        };
      },
    },
  };

  const healthService: ServiceSchema = {
    name: "healthAgent",
    actions: {
      services(c: Ctx) {
        requireOperator(c);
        return { node: config.nodeId, lastRunAt: health.lastRunAt, items: health.states() };
      },
    },
    started() {
      stops.push(every(ac.health.intervalMs, "health", () => health.round(), metrics, logger));
    },
    stopped() {
      for (const s of stops.splice(0)) s();
    },
  };

  const qualityService: ServiceSchema = {
    name: "qualityAgent",
    events: {
      "gateway.canary.changed"(c: Context<unknown>) {
        quality.canaryChanged(c.params);
      },
    },
    actions: {
      model(c: Ctx) {
        requireOperator(c);
        return quality.loadModel();
      },
      async setModel(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, QualityModel>>) {
        const who = requireOperator(c);
        const m = c.params.body!;
        const problems = modelProblems(m);
        if (problems.length > 0) throw new AppError("VALIDATION_ERROR", "invalid quality model", problems);
        await quality.saveModel(m);
        logger.info({ by: who, slos: m.slos.length, freshness: m.freshness.length }, "quality model replaced");
        return m;
      },
      slos(c: Ctx) {
        requireOperator(c);
        return {
          node: config.nodeId,
          lastRunAt: quality.lastRunAt,
          reading: quality.attached(),
          recorded: quality.recorded(),
          items: quality.slos(),
        };
      },
      forecasts(c: Ctx) {
        requireOperator(c);
        return { items: quality.canaryForecasts() };
      },
      forecast(
        c: Ctx<
          HttpCallParams<
            Record<string, string>,
            { service: string; version: string; baseline?: string; share?: number }
          >
        >,
      ) {
        requireOperator(c);
        const q = c.params.query;
        return quality.forecastOf(q.service, q.version, q.share ?? 1, q.baseline ?? "");
      },
    },
    async started() {
      await quality.start();
      stops.push(every(ac.quality.intervalMs, "quality", () => quality.look(), metrics, logger));
    },
    async stopped() {
      await quality.stop();
    },
  };

  const securityService: ServiceSchema = {
    name: "securityAgent",
    actions: {
      node(c: Context) {
        requireOperator(c);
        return nodeSecrets(config);
      },
    },
    started() {
      stops.push(every(ac.security.intervalMs, "security", () => security.look(), metrics, logger));
    },
    stopped() {
      security.stop();
    },
  };

  return [agentsService, healthService, qualityService, securityService];
}
