/**
 * The supporters domain's subjects, streams, consumers and buckets, declared as code.
 *
 *   {ns}.supporters.in.{source}     producers publish here through JetStream (publish ack once
 *                                   stored); the HTTP and request/reply intakes publish here too,
 *                                   after validating, so every path shares one order
 *   {ns}.supporters.ctl.forget      forget requests (HTTP), ordered with the messages above
 *   {ns}.supporters.ctl.{source}    messages taken by the HTTP intake, with the sending client in
 *                                   header Switchyard-Client (platform nodes only: producers on
 *                                   NATS must not publish on ctl.*, or they could forget anyone
 *                                   and pose as any gateway client)
 *   {ns}.supporters.req.{source}    NATS request/reply intake (core NATS, queue group
 *                                   "supporters"): the reply carries the identity hash or an error
 *   {ns}.supporters.rejected.{source}  core NATS notices of payloads the pump refused (JetStream
 *                                   producers' only feedback channel; not stored)
 *   {ns}.supporters.log.{hash}      event-log records for Postgres (message, step, forget)
 *   {ns}.dlq.supporters.{hash}      messages the user or ERP service refused (stream {NS}_DLQ)
 *
 *   {NS}_SUPPORTERS_IN   work queue over in.* and ctl.*; one consumer "pump", read by one node
 *                        at a time (lease in KV {ns}_sup_lease), so arrival order is kept
 *   {NS}_SUPPORTERS_LOG  work queue over log.*; consumer "pgwriter" (batched Postgres writes)
 *   KV {ns}_sup_keys     per-supporter data keys, wrapped (deleted when a supporter is forgotten)
 *   KV {ns}_sup_lease    the pump's lease (entries expire after SUPPORTERS_PUMP_LEASE_MS)
 */
import type { Config } from "../../config";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";

/** Names of the supporters domain in one namespace. */
export interface SupporterNames {
  readonly inStream: string;
  /** Where a producer (or the synchronous intakes) puts a message from `source`. */
  inSubject(source: string): string;
  readonly inFilter: string;
  /** Where the HTTP intake puts a message from `source` (with its client in a header). */
  gatewaySubject(source: string): string;
  /** Forget requests (ordered with messages). */
  readonly forgetSubject: string;
  readonly ctlFilter: string;
  /** Request/reply intake of `source` (not a stream subject). */
  reqSubject(source: string): string;
  readonly reqFilter: string;
  /** Queue group of the request/reply intake. */
  readonly reqQueue: string;
  /** Core NATS notice of a refused JetStream-captured payload. */
  rejectedSubject(source: string): string;
  readonly pumpConsumer: string;
  readonly logStream: string;
  logSubject(hash: string): string;
  readonly logFilter: string;
  readonly writerConsumer: string;
  readonly keysBucket: string;
  readonly leaseBucket: string;
  /** Dead letters of one supporter (under the runtime's DLQ stream). */
  dlqSubject(hash: string): string;
  readonly dlqFilter: string;
}

/** The supporters domain's names for namespace `ns`. */
export function supporterNames(ns: string): SupporterNames {
  const NS = ns.toUpperCase();
  return {
    inStream: `${NS}_SUPPORTERS_IN`,
    inSubject: (source) => `${ns}.supporters.in.${source}`,
    inFilter: `${ns}.supporters.in.*`,
    gatewaySubject: (source) => `${ns}.supporters.ctl.${source}`,
    forgetSubject: `${ns}.supporters.ctl.forget`,
    ctlFilter: `${ns}.supporters.ctl.*`,
    reqSubject: (source) => `${ns}.supporters.req.${source}`,
    reqFilter: `${ns}.supporters.req.*`,
    reqQueue: "supporters",
    rejectedSubject: (source) => `${ns}.supporters.rejected.${source}`,
    pumpConsumer: "pump",
    logStream: `${NS}_SUPPORTERS_LOG`,
    logSubject: (hash) => `${ns}.supporters.log.${hash}`,
    logFilter: `${ns}.supporters.log.*`,
    writerConsumer: "pgwriter",
    keysBucket: `${ns}_sup_keys`,
    leaseBucket: `${ns}_sup_lease`,
    dlqSubject: (hash) => `${ns}.dlq.supporters.${hash}`,
    dlqFilter: `${ns}.dlq.supporters.>`,
  };
}

const NANOS_PER_MS = 1_000_000;

/** Everything the supporters domain needs on the server (the pump creates its own consumer). */
export function supporterDeclarations(topo: Topology, config: Config): Declaration[] {
  const n = supporterNames(topo.ns);
  const replicas = config.jetstream.replicas;
  const sc = config.supporters;
  return [
    {
      type: "stream",
      config: {
        name: n.inStream,
        subjects: [n.inFilter, n.ctlFilter],
        // Work queue: a message leaves once the pump forwarded it; nothing is dropped unread.
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        // Hostile sizes are refused by JetStream itself (the producer's publish fails).
        max_msg_size: sc.maxMessageBytes,
      },
    },
    {
      type: "stream",
      config: {
        name: n.logStream,
        subjects: [n.logFilter],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_msg_size: 1024 * 1024,
      },
    },
    {
      type: "consumer",
      stream: n.logStream,
      config: {
        durable_name: n.writerConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 60_000 * NANOS_PER_MS,
        max_ack_pending: 20_000,
        max_deliver: -1,
      },
    },
    { type: "kv", bucket: n.keysBucket, history: 1, replicas },
    { type: "kv", bucket: n.leaseBucket, history: 1, ttlMs: sc.pumpLeaseMs, replicas },
  ];
}
