/**
 * The gateway domain's stream and buckets, declared as code.
 *
 *   {ns}.interactions.{service}   one record per answered request (gateway/interactions.ts)
 *
 *   stream {NS}_INTERACTIONS      limits retention over {ns}.interactions.*: kept
 *                                 GATEWAY_INTERACTIONS_MAX_AGE_SEC (default 7 days), at most
 *                                 GATEWAY_INTERACTIONS_MAX_BYTES; readers (the quality agent,
 *                                 analytics) make their own consumers
 *   KV {ns}_canaries              one canary record per service (key: the service name); every
 *                                 gateway node watches it and applies a change at once
 *   KV {ns}_gateway_hb            heartbeats: `primary.{port}` written by a serving primary gateway
 *                                 every GATEWAY_HEARTBEAT_MS, `backup.{port}` while a backup serves
 */
import type { Config } from "../../config";
import { DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";
import { serviceToken } from "../../gateway/interactions";

/** The gateway domain's names in one namespace. */
export interface GatewayNames {
  readonly interactionsStream: string;
  /** The subject of an interaction answered by `service`. */
  interactionSubject(service: string): string;
  readonly interactionsFilter: string;
  readonly canariesBucket: string;
  readonly heartbeatBucket: string;
  /** Heartbeat key of the primary gateway serving `port`. */
  primaryKey(port: number): string;
  /** Key a backup writes while it serves `port`. */
  backupKey(port: number): string;
}

/** The names for namespace `ns`. */
export function gatewayNames(ns: string): GatewayNames {
  return {
    interactionsStream: `${ns.toUpperCase()}_INTERACTIONS`,
    interactionSubject: (service) => `${ns}.interactions.${serviceToken(service)}`,
    interactionsFilter: `${ns}.interactions.*`,
    canariesBucket: `${ns}_canaries`,
    heartbeatBucket: `${ns}_gateway_hb`,
    primaryKey: (port) => `primary.${port}`,
    backupKey: (port) => `backup.${port}`,
  };
}

/** The gateway domain's stream and buckets. */
export function gatewayDeclarations(config: Config, topo: Topology): Declaration[] {
  const n = gatewayNames(topo.ns);
  const edge = config.gateway.edge;
  const replicas = config.jetstream.replicas;
  return [
    {
      type: "stream",
      config: {
        name: n.interactionsStream,
        subjects: [n.interactionsFilter],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: edge.interactionsMaxAgeSec * 1_000_000_000,
        max_bytes: edge.interactionsMaxBytes,
        num_replicas: replicas,
      },
    },
    { type: "kv", bucket: n.canariesBucket, history: 5, replicas },
    // entries expire on their own: a dead primary's heartbeat disappears
    { type: "kv", bucket: n.heartbeatBucket, history: 1, ttlMs: 60_000, replicas },
  ];
}
