/**
 * The receipts domain's streams, consumers and buckets, declared as code.
 *
 *   {NS}_RECEIPTS  stream, interest retention (kept until every consumer acked, at most
 *                  RECEIPT_STREAM_MAX_AGE_MS):
 *     {ns}.receipts.rec.{id}   a received receipt (record with the original bytes): published
 *                              by POST /receipts before the 202, with Nats-Msg-Id = id (the
 *                              submit message to the receipt's actor goes in parallel)
 *     {ns}.receipts.st.{id}    a status update, published by the receipt actor
 *   consumer:
 *     pgwriter   everything → Postgres in batches (ack after commit)
 *   KV {ns}_rcpt_idem           Idempotency-Key → receipt (TTL RECEIPT_IDEMPOTENCY_TTL_MS)
 *   dead letters  {ns}.dlq.receipts.{id} on the runtime's DLQ stream ({NS}_DLQ): records and
 *                 status updates Postgres refused (the writer isolates them and goes on)
 */
import type { Config } from "../../config";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";

/** Names of the receipts domain in one namespace. */
export interface ReceiptNames {
  readonly stream: string;
  recordSubject(id: string): string;
  statusSubject(id: string): string;
  readonly recordFilter: string;
  readonly statusFilter: string;
  readonly writerConsumer: string;
  readonly idempotencyBucket: string;
  /** Where the writer dead-letters a message of receipt `id` that Postgres can never store. */
  dlqSubject(id: string): string;
  /** Every receipt dead letter (a filter for `runtime.dlqList`). */
  readonly dlqFilter: string;
}

/** The receipts domain's names for namespace `ns`. */
export function receiptNames(ns: string): ReceiptNames {
  return {
    stream: `${ns.toUpperCase()}_RECEIPTS`,
    recordSubject: (id) => `${ns}.receipts.rec.${id}`,
    statusSubject: (id) => `${ns}.receipts.st.${id}`,
    recordFilter: `${ns}.receipts.rec.*`,
    statusFilter: `${ns}.receipts.st.*`,
    writerConsumer: "pgwriter",
    idempotencyBucket: `${ns}_rcpt_idem`,
    dlqSubject: (id) => `${ns}.dlq.receipts.${id}`,
    dlqFilter: `${ns}.dlq.receipts.*`,
  };
}

const NANOS_PER_MS = 1_000_000;

/** Everything the receipts domain needs to exist on the server. */
export function receiptDeclarations(topo: Topology, config: Config): Declaration[] {
  const n = receiptNames(topo.ns);
  const replicas = config.jetstream.replicas;
  const rc = config.receipts;
  return [
    {
      type: "stream",
      config: {
        name: n.stream,
        subjects: [n.recordFilter, n.statusFilter],
        retention: RetentionPolicy.Interest,
        storage: StorageType.File,
        num_replicas: replicas,
        max_age: rc.streamMaxAgeMs * NANOS_PER_MS,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_msg_size: 4 * 1024 * 1024,
        discard: DiscardPolicy.Old,
        allow_direct: true,
      },
    },
    {
      type: "consumer",
      stream: n.stream,
      config: {
        durable_name: n.writerConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 60_000 * NANOS_PER_MS,
        max_ack_pending: 50_000,
        max_deliver: -1,
      },
    },
    { type: "kv", bucket: n.idempotencyBucket, ttlMs: rc.idempotencyTtlMs, replicas },
  ];
}
