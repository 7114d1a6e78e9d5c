/** The agents' Prometheus metrics (`switchyard_agent_*`), on the node's registry. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The metrics the agents update. */
export interface AgentMetrics {
  readonly serviceUp: Gauge<"service">;
  readonly availability: Gauge<"service">;
  readonly canaryLatency: Histogram<"service">;
  readonly canaries: Counter<"service" | "outcome">;
  readonly burnRate: Gauge<"slo" | "objective" | "window">;
  readonly budgetRemaining: Gauge<"slo">;
  readonly interactions: Counter<"outcome">;
  readonly queueOldest: Gauge<"stream">;
  readonly forecastBurn: Gauge<"canary" | "objective">;
  readonly findingsRaised: Counter<"agent" | "kind">;
  readonly findingsResolved: Counter<"agent" | "kind">;
  readonly findingsOpen: Gauge<"agent" | "severity">;
  readonly runs: Counter<"agent" | "outcome">;
}

/** Registers the agents' metrics on `registry` (replacing any of the same names). */
export function agentMetrics(registry: Registry): AgentMetrics {
  const fresh = <T>(name: string, make: () => T): T => {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
    return make();
  };
  const registers = [registry];
  return {
    serviceUp: fresh(
      "switchyard_agent_service_up",
      () =>
        new Gauge({
          name: "switchyard_agent_service_up",
          help: "Health agent: 1 when the service answered its canaries in the last round, 0 when it is down",
          labelNames: ["service"],
          registers,
        }),
    ),
    availability: fresh(
      "switchyard_agent_service_availability",
      () =>
        new Gauge({
          name: "switchyard_agent_service_availability",
          help: "Health agent: fraction of the service's canaries that succeeded over the last 30 rounds",
          labelNames: ["service"],
          registers,
        }),
    ),
    canaryLatency: fresh(
      "switchyard_agent_canary_latency_seconds",
      () =>
        new Histogram({
          name: "switchyard_agent_canary_latency_seconds",
          help: "Health agent: latency of canary requests per service",
          labelNames: ["service"],
          buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    ),
    canaries: fresh(
      "switchyard_agent_canaries_total",
      () =>
        new Counter({
          name: "switchyard_agent_canaries_total",
          help: "Health agent: canary requests sent, by service and outcome (up, error, down)",
          labelNames: ["service", "outcome"],
          registers,
        }),
    ),
    burnRate: fresh(
      "switchyard_agent_slo_burn_rate",
      () =>
        new Gauge({
          name: "switchyard_agent_slo_burn_rate",
          help: "Quality agent: error budget burn rate per SLO (objective availability or latency, window short or long); 1 spends the budget exactly",
          labelNames: ["slo", "objective", "window"],
          registers,
        }),
    ),
    budgetRemaining: fresh(
      "switchyard_agent_slo_budget_remaining",
      () =>
        new Gauge({
          name: "switchyard_agent_slo_budget_remaining",
          help: "Quality agent: fraction of the availability error budget left over the long window (negative: overspent)",
          labelNames: ["slo"],
          registers,
        }),
    ),
    interactions: fresh(
      "switchyard_agent_interactions_total",
      () =>
        new Counter({
          name: "switchyard_agent_interactions_total",
          help: "Quality agent: interaction records read (outcome recorded or unreadable)",
          labelNames: ["outcome"],
          registers,
        }),
    ),
    queueOldest: fresh(
      "switchyard_agent_queue_oldest_seconds",
      () =>
        new Gauge({
          name: "switchyard_agent_queue_oldest_seconds",
          help: "Quality agent: age of the oldest unacked message over the stream's consumers (queue freshness)",
          labelNames: ["stream"],
          registers,
        }),
    ),
    forecastBurn: fresh(
      "switchyard_agent_forecast_burn_rate",
      () =>
        new Gauge({
          name: "switchyard_agent_forecast_burn_rate",
          help: "Quality agent: the burn rate a running canary (service@version) would have once promoted",
          labelNames: ["canary", "objective"],
          registers,
        }),
    ),
    findingsRaised: fresh(
      "switchyard_agent_findings_raised_total",
      () =>
        new Counter({
          name: "switchyard_agent_findings_raised_total",
          help: "Findings raised by this node's agents, by agent and kind",
          labelNames: ["agent", "kind"],
          registers,
        }),
    ),
    findingsResolved: fresh(
      "switchyard_agent_findings_resolved_total",
      () =>
        new Counter({
          name: "switchyard_agent_findings_resolved_total",
          help: "Findings resolved by this node's agents, by agent and kind",
          labelNames: ["agent", "kind"],
          registers,
        }),
    ),
    findingsOpen: fresh(
      "switchyard_agent_findings_open",
      () =>
        new Gauge({
          name: "switchyard_agent_findings_open",
          help: "Open findings of every node's agents (from Postgres after this node's last look), by agent and severity",
          labelNames: ["agent", "severity"],
          registers,
        }),
    ),
    runs: fresh(
      "switchyard_agent_runs_total",
      () =>
        new Counter({
          name: "switchyard_agent_runs_total",
          help: "Looks the agents of this node took, by agent and outcome (ok, failed)",
          labelNames: ["agent", "outcome"],
          registers,
        }),
    ),
  };
}
