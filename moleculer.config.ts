/**
 * Moleculer broker options for a Switchyard node, derived from the typed configuration.
 * Transport: NATS (the `nats` v2 client inside Moleculer). Logger: pino, JSON lines.
 */
import type { BrokerOptions } from "moleculer";
import type { Config } from "./config";

/** Broker options for `config`; `overrides` win (the REPL uses this). */
export function brokerOptions(config: Config, overrides: Partial<BrokerOptions> = {}): BrokerOptions {
  return {
    namespace: config.namespace,
    nodeID: config.nodeId,
    transporter: {
      type: "NATS",
      options: { url: config.natsUrl, maxReconnectAttempts: -1 },
    },
    serializer: "JSON",
    logger: {
      type: "Pino",
      options: {
        level: config.logLevel === "silent" ? "fatal" : config.logLevel,
        pino: { options: { level: config.logLevel, base: { node: config.nodeId } } },
      },
    },
    logLevel: config.logLevel === "silent" ? "fatal" : config.logLevel,
    requestTimeout: 10_000,
    retryPolicy: { enabled: false },
    heartbeatInterval: 2,
    heartbeatTimeout: 6,
    registry: { strategy: "RoundRobin", preferLocal: true },
    // Start-up fails fast; bin/node.ts has already checked that NATS answers.
    transit: { maxQueueSize: 50_000 },
    ...overrides,
  };
}

export default brokerOptions;
