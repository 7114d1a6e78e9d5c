/**
 * Moleculer broker options for a Switchyard node, derived from the typed configuration.
 * Transport: NATS (the `nats` v2 client inside Moleculer). Logger: pino, JSON lines.
 * Every broker gets the caller guard (node/caller-guard.ts): its calls carry a caller assertion
 * signed with CLUSTER_SECRET, and it runs no action without a valid one.
 */
import type { BrokerOptions } from "moleculer";
import type { Config } from "./config";
import { callerTokens } from "./gateway/caller";
import { callerGuard, type StandingIdentity } from "./node/caller-guard";
import { logDestination } from "./lib/logger";
import { natsUnavailableAs503 } from "./node/unavailable";

/**
 * Broker options for `config`; `overrides` win (the REPL uses this). `identity` is who this
 * broker's own calls are made as: the node (default) or, for the REPL and tools, an operator.
 */
export function brokerOptions(
  config: Config,
  overrides: Partial<BrokerOptions> = {},
  identity: StandingIdentity = { kind: "node", subject: config.nodeId },
): BrokerOptions {
  // Moleculer's own info lines (broker starting, serializer, "service started" x N) are start-up
  // chatter: shown from LOG_LEVEL=debug on; its warnings and errors always.
  const brokerLevel = config.logLevel === "silent" ? "fatal" : config.logLevel === "info" ? "warn" : config.logLevel;
  const destination = logDestination();
  const guard = callerGuard({ tokens: callerTokens(config.cluster.secret, config.namespace), identity });
  return {
    namespace: config.namespace,
    nodeID: config.nodeId,
    // The node drains in its own order on SIGTERM (bin/start.ts: runtime, domains, broker,
    // connections); Moleculer's own handler would stop the broker at once and exit mid-drain.
    skipProcessEventRegistration: true,
    transporter: {
      type: "NATS",
      options: { url: config.natsUrl, maxReconnectAttempts: -1 },
    },
    serializer: "JSON",
    logger: {
      type: "Pino",
      options: {
        level: brokerLevel,
        pino: {
          options: { level: config.logLevel, base: { node: config.nodeId } },
          ...(destination ? { destination } : {}),
        },
      },
    },
    logLevel: brokerLevel,
    requestTimeout: 10_000,
    retryPolicy: { enabled: false },
    heartbeatInterval: 2,
    heartbeatTimeout: 6,
    registry: { strategy: "RoundRobin", preferLocal: true },
    // Start-up fails fast; bin/node.ts has already checked that NATS answers.
    transit: { maxQueueSize: 50_000 },
    ...overrides,
    middlewares: [guard, natsUnavailableAs503(), ...(overrides.middlewares ?? [])],
  };
}

export default brokerOptions;
