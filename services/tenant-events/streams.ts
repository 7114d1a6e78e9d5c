/**
 * The events domain's names and declarations.
 *
 *   {NS}_EVENTS_IN    work-queue stream of received events, one subject per tenant:
 *     {ns}.events.in.{tenant}    a producer publishes an envelope here (plain JetStream publish;
 *                                Nats-Msg-Id = "{clientId}:{eventId}" makes retries safe);
 *                                POST /api/v1/events publishes here too
 *   consumers on it: one durable pull consumer per tenant, "t-{tenant}" (filter
 *                    {ns}.events.in.{tenant}), created by the node that owns the tenant's
 *                    partition on first sight of the tenant
 *   {NS}_EVENTS_OUT   the push sender feed: every stored event, per tenant in store order
 *     {ns}.events.out.{tenant}   Nats-Msg-Id = "{clientId}:{eventId}"; kept EVENTS_OUT_MAX_AGE_MS
 *   dead letters      {ns}.dlq.events.{tenant} on the runtime's DLQ stream ({NS}_DLQ)
 *   KV {ns}_evt_types   the event type registry: key "{type}.v{version}" → schema (watched)
 *   KV {ns}_evt_leases  tenant-partition leases ("part.events.{p}") of the processor nodes
 */
import type { Config } from "../../config";
import { DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";

const NANOS_PER_MS = 1_000_000;

/** A tenant as a subject token and consumer name: letters, digits, '_' and '-'. */
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Names of the events domain in one namespace. */
export interface EventNames {
  readonly inStream: string;
  /** Where tenant `tenant` publishes events. */
  inSubject(tenant: string): string;
  /** Every tenant's intake subject. */
  readonly inFilter: string;
  readonly outStream: string;
  /** The push feed of tenant `tenant`. */
  outSubject(tenant: string): string;
  readonly outFilter: string;
  /** The dead-letter subject of tenant `tenant` (on the runtime's DLQ stream). */
  dlqSubject(tenant: string): string;
  /** Every tenant's dead letters. */
  readonly dlqFilter: string;
  /** The durable consumer of tenant `tenant` on the intake stream. */
  consumer(tenant: string): string;
  readonly typesBucket: string;
  readonly leasesBucket: string;
  /** The lease "kind" of tenant partitions. */
  readonly leaseKind: string;
}

/**
 * The durable name of a tenant's consumer: `t-{tenant}` for a well-formed tenant, otherwise
 * `x-{hex}` of the token (a malformed tenant still needs a consumer so its events reach the DLQ).
 */
function consumerName(tenant: string): string {
  if (TENANT_PATTERN.test(tenant)) return `t-${tenant}`;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (const b of Buffer.from(tenant, "utf8")) {
    h1 = Math.imul(h1 ^ b, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ b, 0x5bd1e995) >>> 0;
  }
  return `x-${h1.toString(16).padStart(8, "0")}${h2.toString(16).padStart(8, "0")}`;
}

/** The events domain's names for namespace `ns`. */
export function eventNames(ns: string): EventNames {
  const NS = ns.toUpperCase();
  return {
    inStream: `${NS}_EVENTS_IN`,
    inSubject: (tenant) => `${ns}.events.in.${tenant}`,
    inFilter: `${ns}.events.in.*`,
    outStream: `${NS}_EVENTS_OUT`,
    outSubject: (tenant) => `${ns}.events.out.${tenant}`,
    outFilter: `${ns}.events.out.*`,
    dlqSubject: (tenant) => `${ns}.dlq.events.${tenant}`,
    dlqFilter: `${ns}.dlq.events.*`,
    consumer: consumerName,
    typesBucket: `${ns}_evt_types`,
    leasesBucket: `${ns}_evt_leases`,
    leaseKind: "events",
  };
}

/** Everything the events domain needs on the server (tenant consumers are created on demand). */
export function eventDeclarations(topo: Topology, config: Config): Declaration[] {
  const n = eventNames(topo.ns);
  const replicas = config.jetstream.replicas;
  return [
    {
      type: "stream",
      config: {
        name: n.inStream,
        subjects: [n.inFilter],
        // Work queue: an event leaves the stream once its tenant's consumer acked it (stored or
        // dead-lettered); the subjects still holding messages are the tenants with work.
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_msg_size: 1024 * 1024,
      },
    },
    {
      type: "stream",
      config: {
        name: n.outStream,
        subjects: [n.outFilter],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        max_age: config.tenantEvents.outMaxAgeMs * NANOS_PER_MS,
        duplicate_window: 120_000 * NANOS_PER_MS,
        allow_direct: true,
      },
    },
    { type: "kv", bucket: n.typesBucket, history: 5, replicas },
    {
      type: "kv",
      bucket: n.leasesBucket,
      history: 1,
      ttlMs: Math.max(60_000, config.actors.leaseTtlMs * 10),
      replicas,
    },
  ];
}
