/**
 * The security agent's looks: a snapshot of the production state (the client registry's clients
 * and keys, what every node hosting the agent says of its development settings, the route table,
 * the gateway's per-IP limits, JetStream's sync setting from the NATS monitoring endpoint, the
 * egress policy), the checks of security.ts over it, and the findings recorded. A look runs
 * every AGENTS_SECURITY_INTERVAL_MS and shortly after any client change notice (a client
 * created, suspended, activated or rotated), so new risky state shows within moments.
 */
import type { ServiceBroker } from "moleculer";
import type { Config } from "../../config";
import { DEV_CLUSTER_SECRET, DEV_MASTER_KEY } from "../../config";
import type { Pool } from "../../db";
import type { RouteSpec } from "../../gateway/routes";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { Recorder } from "./recorder";
import type { FindingChanges } from "./findings";
import {
  devSettingsOf,
  securityObservations,
  SECURITY_KINDS,
  type NodeSecrets,
  type SecuritySnapshot,
} from "./security";
import { readClients, readJetStreamSync } from "./sources";

/** Sections of every node's configuration that are the platform's own (always looked at). */
const PLATFORM_SECTIONS = ["cluster", "master", "gateway", "egress"];

/** A domain's key in the configuration ("foo-bar" -> "fooBar"). */
const configKey = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * What this node says of its development settings: the platform's sections and those of the
 * domains it hosts (a section of a domain it does not host holds defaults nothing uses).
 */
export function nodeSecrets(config: Config): NodeSecrets {
  const hosted = new Set([...PLATFORM_SECTIONS, ...config.services.map(configKey)]);
  const sections = Object.fromEntries(Object.entries(config).filter(([k]) => hosted.has(k)));
  return {
    node: config.nodeId,
    devMode: config.devMode,
    devSettings: devSettingsOf(sections, [DEV_CLUSTER_SECRET, DEV_MASTER_KEY]),
  };
}

/** What the security agent needs. */
export interface SecurityAgentDeps {
  readonly pg: Pool;
  readonly config: Config;
  readonly routes: readonly RouteSpec[];
  readonly record: Recorder;
  readonly logger: Logger;
}

/** The action every node hosting the agent answers with its {@link NodeSecrets}. */
export const NODE_ACTION = "securityAgent.node";

/** The security agent (see the module doc). */
export class SecurityAgent {
  lastRunAt: string | null = null;
  private looking: Promise<FindingChanges> | null = null;
  private soon: NodeJS.Timeout | null = null;

  private attached: ServiceBroker | undefined;

  constructor(private readonly deps: SecurityAgentDeps) {}

  /** The broker the agent calls through (its service's, set when the service is created). */
  attach(broker: ServiceBroker): void {
    this.attached = broker;
  }

  private get broker(): ServiceBroker {
    if (!this.attached) throw new Error("agent not attached to a broker yet");
    return this.attached;
  }

  /** What every node hosting the agent says (a node that does not answer is left out). */
  private async nodes(): Promise<NodeSecrets[]> {
    const broker = this.broker;
    const list = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{
      name: string;
      nodeID: string;
    }>;
    const nodeIds = [...new Set(list.filter((s) => s.name === "securityAgent").map((s) => s.nodeID))].sort();
    if (!nodeIds.includes(broker.nodeID)) nodeIds.push(broker.nodeID);
    const out = await Promise.all(
      nodeIds.map((nodeID) =>
        nodeID === broker.nodeID
          ? Promise.resolve(nodeSecrets(this.deps.config))
          : (broker.call(NODE_ACTION, {}, { nodeID, timeout: 3000 }) as Promise<NodeSecrets>).catch(() => null),
      ),
    );
    return out.filter((n): n is NodeSecrets => n !== null);
  }

  /** Reads the snapshot now. */
  async snapshot(): Promise<SecuritySnapshot> {
    const { config } = this.deps;
    const [clients, nodes, jetstream] = await Promise.all([
      readClients(this.deps.pg),
      this.nodes(),
      readJetStreamSync(config.agents.security.natsMonitorUrl),
    ]);
    return {
      now: Date.now(),
      clients,
      nodes,
      routes: this.deps.routes.map((r) => ({
        method: r.method,
        path: r.path,
        access: r.access,
        ...(r.rateLimited !== undefined ? { rateLimited: r.rateLimited } : {}),
      })),
      publicRoutes: config.agents.security.publicRoutes,
      throttle: {
        unauthPerSec: config.gateway.throttle.unauthPerSec,
        tokenPerSec: config.gateway.throttle.tokenPerSec,
      },
      jetstream,
      egress: config.egress.policy,
      keyMaxAgeDays: config.agents.security.keyMaxAgeDays,
    };
  }

  /** One look (see the module doc); concurrent calls share one. */
  look(): Promise<FindingChanges> {
    this.looking ??= (async () => {
      const s = await this.snapshot();
      this.lastRunAt = new Date(s.now).toISOString();
      return this.deps.record("security", SECURITY_KINDS, securityObservations(s));
    })().finally(() => (this.looking = null));
    return this.looking;
  }

  /** Looks shortly (a client changed); several pokes make one look. */
  poke(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.look().catch((err: unknown) =>
        this.deps.logger.warn({ err: errorMessage(err) }, "security agent: look after a client change failed"),
      );
    }, 200);
  }

  stop(): void {
    if (this.soon) clearTimeout(this.soon);
  }
}
