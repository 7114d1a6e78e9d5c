/**
 * The tracking domain's names (from the namespace) and what it needs on the server.
 *
 *   {ns}.tracking.positions.<partition>  core NATS: position batches for the owner of a partition
 *   {ns}.tracking.positions.in           core NATS: positions of any partition (re-routed by any node)
 *   {ns}.tracking.officers               core NATS: accepted officer positions, broadcast to every node
 *   {ns}.tracking.history.<partition>    stream {NS}_TRACKING_HISTORY: accepted positions, 30 days
 *   {ns}.tracking.events.<type>.<civ>    stream {NS}_TRACKING_EVENTS: nearby / faraway (durable)
 *   KV {ns}_trk_registry                 device -> {user, role, owner client, paused}
 *   KV {ns}_trk_cells                    <role>.<cell>.<device> -> last position at the cell change
 *   KV {ns}_trk_pairs                    <partition>.<civilian>.<officer> -> pair state
 *   KV {ns}_trk_leases                   partition leases of the device actors
 */
import type { Config } from "../../config";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";
import { DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";

/** The tracking domain's names in one namespace. */
export interface TrackingNames {
  positions(partition: number): string;
  readonly positionsAny: string;
  readonly positionsQueue: string;
  readonly officers: string;
  readonly historyStream: string;
  history(partition: number): string;
  readonly eventsStream: string;
  event(type: "nearby" | "faraway", civilian: string): string;
  readonly eventsFilter: string;
  readonly registryBucket: string;
  readonly cellsBucket: string;
  readonly pairsBucket: string;
  readonly leaseBucket: string;
  /** The lease kind of the device partitions. */
  readonly leaseKind: string;
}

/** Builds the names of namespace `ns`. */
export function trackingNames(ns: string): TrackingNames {
  const NS = ns.toUpperCase();
  return {
    positions: (p) => `${ns}.tracking.positions.${p}`,
    positionsAny: `${ns}.tracking.positions.in`,
    positionsQueue: "tracking",
    officers: `${ns}.tracking.officers`,
    historyStream: `${NS}_TRACKING_HISTORY`,
    history: (p) => `${ns}.tracking.history.${p}`,
    eventsStream: `${NS}_TRACKING_EVENTS`,
    event: (type, civ) => `${ns}.tracking.events.${type}.${civ}`,
    eventsFilter: `${ns}.tracking.events.>`,
    registryBucket: `${ns}_trk_registry`,
    cellsBucket: `${ns}_trk_cells`,
    pairsBucket: `${ns}_trk_pairs`,
    leaseBucket: `${ns}_trk_leases`,
    leaseKind: "trkdevice",
  };
}

const NANOS_PER_MS = 1_000_000;

/**
 * The events stream's duplicate window: an event published again within it (by a new owner
 * after a takeover) is dropped by the stream.
 */
export const EVENT_DEDUPE_MS = 600_000;

/** Streams and buckets of the tracking domain. */
export function trackingDeclarations(topo: Topology, config: Config): Declaration[] {
  const n = trackingNames(topo.ns);
  const t = config.tracking;
  const replicas = config.jetstream.replicas;
  return [
    {
      type: "stream",
      config: {
        name: n.historyStream,
        subjects: [`${topo.ns}.tracking.history.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        max_age: t.historyMs * NANOS_PER_MS,
        max_bytes: t.historyMaxBytes,
        max_msg_size: 1024 * 1024,
      },
    },
    {
      type: "stream",
      config: {
        name: n.eventsStream,
        subjects: [n.eventsFilter],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        duplicate_window: EVENT_DEDUPE_MS * NANOS_PER_MS,
        max_age: t.historyMs * NANOS_PER_MS,
        max_msg_size: 64 * 1024,
      },
    },
    { type: "kv", bucket: n.registryBucket, history: 1, replicas },
    { type: "kv", bucket: n.cellsBucket, history: 1, replicas },
    { type: "kv", bucket: n.pairsBucket, history: 1, ttlMs: t.historyMs, replicas },
    { type: "kv", bucket: n.leaseBucket, history: 1, ttlMs: Math.max(60_000, t.leaseTtlMs * 10), replicas },
  ];
}
