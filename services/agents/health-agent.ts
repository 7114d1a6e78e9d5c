/**
 * The health agent's rounds: the targets from the registry (`$node.services` of every node, as
 * this broker's registry holds them) and the domains' declared routes, one canary per key route
 * (its action called as this node), `$node.health` of each node for services without one, and an HTTP
 * canary of the gateway's `/health/ready`; the results become metrics and findings. The services
 * ever seen are kept in KV (`{ns}_agents`, key `health.known`), so a service that vanished is
 * reported down even by an agent that started after it went.
 */
import type { ServiceBroker } from "moleculer";
import type { KV } from "../../nats";
import type { RouteSpec } from "../../gateway/routes";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { AgentsConfig } from "./config";
import type { AgentMetrics } from "./metrics";
import type { Recorder } from "./recorder";
import type { FindingChanges } from "./findings";
import {
  classifyCanary,
  healthObservations,
  healthTargets,
  isUp,
  HEALTH_KINDS,
  type CanaryResult,
  type RegistryService,
  type ServiceHealth,
} from "./health";

/** KV key of the services ever seen (JSON: service -> last seen, ms). */
export const KNOWN_KEY = "health.known";

/** How many rounds availability is averaged over. */
const ROUNDS = 30;

/** What the health agent needs. */
export interface HealthAgentDeps {
  readonly routes: readonly RouteSpec[];
  readonly config: AgentsConfig["health"];
  /** The HTTP canary's base URL ("" for none). */
  readonly gatewayUrl: string;
  readonly kv: KV;
  readonly metrics: AgentMetrics;
  readonly record: Recorder;
  readonly logger: Logger;
}

/** The health agent (see the module doc). */
export class HealthAgent {
  private readonly history = new Map<string, boolean[]>();
  private last: ServiceHealth[] = [];
  lastRunAt: string | null = null;

  private attached: ServiceBroker | undefined;

  constructor(private readonly deps: HealthAgentDeps) {}

  /** The broker the agent calls through (its service's, set when the service is created). */
  attach(broker: ServiceBroker): void {
    this.attached = broker;
  }

  private get broker(): ServiceBroker {
    if (!this.attached) throw new Error("agent not attached to a broker yet");
    return this.attached;
  }

  /** The services' state after the last round. */
  states(): readonly ServiceHealth[] {
    return this.last;
  }

  private async known(now: number, present: readonly string[]): Promise<string[]> {
    const { kv, config } = this.deps;
    const e = await kv.get(KNOWN_KEY).catch(() => null);
    let seen: Record<string, number> = {};
    try {
      seen = e && e.length > 0 ? (e.json() as Record<string, number>) : {};
    } catch {
      seen = {};
    }
    const next: Record<string, number> = {};
    for (const [s, at] of Object.entries(seen)) if (typeof at === "number" && now - at < config.forgetMs) next[s] = at;
    for (const s of present) next[s] = now;
    await kv.put(KNOWN_KEY, JSON.stringify(next)).catch((err: unknown) => {
      this.deps.logger.warn({ err: errorMessage(err) }, "health agent: known services not stored");
    });
    return Object.keys(next);
  }

  private async canary(service: string, action: string): Promise<CanaryResult> {
    const t0 = performance.now();
    try {
      await this.broker.call(action, { params: {}, query: {} }, { timeout: this.deps.config.timeoutMs, retries: 0 });
      return { service, target: action, outcome: "up", latencyMs: performance.now() - t0 };
    } catch (err) {
      const f = err as { name?: unknown; type?: unknown; code?: unknown };
      const outcome = classifyCanary({
        ...(typeof f.name === "string" ? { name: f.name } : {}),
        ...(typeof f.type === "string" ? { type: f.type } : {}),
        ...(typeof f.code === "number" || typeof f.code === "string" ? { code: f.code } : {}),
      });
      const latencyMs = performance.now() - t0;
      return outcome === "up"
        ? { service, target: action, outcome, latencyMs }
        : { service, target: action, outcome, latencyMs, error: errorMessage(err) };
    }
  }

  /** `$node.health` on `node`: the node answers (a service without key routes is up while its nodes do). */
  private async nodeCanary(service: string, node: string): Promise<CanaryResult> {
    const t0 = performance.now();
    const target = `$node.health@${node}`;
    try {
      await this.broker.call("$node.health", {}, { nodeID: node, timeout: this.deps.config.timeoutMs, retries: 0 });
      return { service, target, outcome: "up", latencyMs: performance.now() - t0 };
    } catch (err) {
      return { service, target, outcome: "down", latencyMs: performance.now() - t0, error: errorMessage(err) };
    }
  }

  private async http(): Promise<CanaryResult> {
    const t0 = performance.now();
    const target = `http ${this.deps.gatewayUrl}/health/ready`;
    try {
      const res = await fetch(`${this.deps.gatewayUrl}/health/ready`, {
        signal: AbortSignal.timeout(this.deps.config.timeoutMs),
      });
      await res.arrayBuffer();
      const latencyMs = performance.now() - t0;
      return res.status === 200
        ? { service: "gateway", target, outcome: "up", latencyMs }
        : { service: "gateway", target, outcome: "error", latencyMs, error: `answered ${res.status}` };
    } catch (err) {
      return {
        service: "gateway",
        target,
        outcome: "down",
        latencyMs: performance.now() - t0,
        error: errorMessage(err),
      };
    }
  }

  /** One round (see the module doc): the findings it changed. */
  async round(): Promise<FindingChanges> {
    const { metrics, config } = this.deps;
    const broker = this.broker;
    const now = Date.now();
    const registry = (
      broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false }) as Array<{
        name: string;
        nodeID: string;
      }>
    ).map((s): RegistryService => ({ name: s.name, nodeID: s.nodeID }));
    const known = await this.known(
      now,
      registry.map((s) => s.name),
    );
    const targets = healthTargets(registry, known, this.deps.routes, 3, config.skip);
    const states = await Promise.all(
      targets.map(async (t): Promise<ServiceHealth> => {
        const results: CanaryResult[] =
          t.nodes.length === 0
            ? []
            : t.actions.length > 0
              ? await Promise.all(t.actions.map((a) => this.canary(t.service, a)))
              : await Promise.all(t.nodes.map((n) => this.nodeCanary(t.service, n)));
        if (t.service === "gateway" && this.deps.gatewayUrl !== "") results.push(await this.http());
        const up = isUp(t.nodes, results);
        const h = this.history.get(t.service) ?? [];
        h.push(up);
        if (h.length > ROUNDS) h.shift();
        this.history.set(t.service, h);
        const availability = h.filter(Boolean).length / h.length;
        const latencyMs = Math.max(0, ...results.map((r) => r.latencyMs));
        metrics.serviceUp.set({ service: t.service }, up ? 1 : 0);
        metrics.availability.set({ service: t.service }, availability);
        for (const r of results) {
          metrics.canaries.inc({ service: t.service, outcome: r.outcome });
          metrics.canaryLatency.observe({ service: t.service }, r.latencyMs / 1000);
        }
        return { service: t.service, up, nodes: t.nodes, latencyMs, availability, results };
      }),
    );
    this.last = states;
    this.lastRunAt = new Date(now).toISOString();
    return this.deps.record("health", HEALTH_KINDS, healthObservations(states, config.slowMs));
  }
}
