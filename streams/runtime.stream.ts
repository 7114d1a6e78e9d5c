/**
 * Streams and buckets of the actor runtime: one mailbox stream and one state bucket per actor
 * kind, the jobs stream with one durable consumer per job, the DLQ stream and the lease bucket.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "../nats";
import type { Declaration } from "./declarations";
import type { Topology } from "./subjects";

const SECOND_NS = 1_000_000_000;

/** An actor kind as the declarations need it. */
export interface KindDecl {
  readonly name: string;
  readonly partitions: number;
  /** Revisions of each actor's state kept in its KV bucket (default 1; set when the bucket is created). */
  readonly stateHistory?: number;
}

/** A job as the declarations need it. */
export interface JobDecl {
  readonly name: string;
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
}

/** Options shared by the runtime's declarations. */
export interface RuntimeStreamOptions {
  readonly replicas: number;
  /** Window in which a repeated `Nats-Msg-Id` is stored once. */
  readonly duplicateWindowMs: number;
  readonly leaseTtlMs: number;
}

/** The partition count recorded in a mailbox stream's description. */
export function describePartitions(partitions: number): string {
  return `switchyard actor mailbox; partitions=${partitions}`;
}

/** Reads the partition count back from a stream description. */
export function partitionsFromDescription(description: string | undefined): number | undefined {
  const m = /partitions=(\d+)/.exec(description ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Everything the runtime needs provisioned, streams before consumers. */
export function runtimeDeclarations(
  topo: Topology,
  kinds: readonly KindDecl[],
  jobs: readonly JobDecl[],
  o: RuntimeStreamOptions,
): Declaration[] {
  const decls: Declaration[] = [];
  for (const k of kinds) {
    decls.push({
      type: "stream",
      config: {
        name: topo.actors.stream(k.name),
        description: describePartitions(k.partitions),
        subjects: [topo.actors.streamSubjects(k.name)],
        // Work queue: a message is removed once its actor acked it; nothing is dropped while unread.
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: o.replicas,
        duplicate_window: o.duplicateWindowMs * 1_000_000,
      },
    });
    decls.push({
      type: "kv",
      bucket: topo.actors.stateBucket(k.name),
      history: k.stateHistory ?? 1,
      replicas: o.replicas,
    });
  }
  decls.push({
    type: "stream",
    config: {
      name: topo.jobs.stream,
      subjects: [topo.jobs.streamSubjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      num_replicas: o.replicas,
      duplicate_window: o.duplicateWindowMs * 1_000_000,
    },
  });
  for (const j of jobs) {
    decls.push({
      type: "consumer",
      stream: topo.jobs.stream,
      config: {
        durable_name: topo.jobs.consumer(j.name),
        filter_subject: topo.jobs.filter(j.name),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: j.ackWaitMs * 1_000_000,
        max_deliver: -1,
        max_ack_pending: j.maxAckPending,
      },
    });
  }
  decls.push({
    type: "stream",
    config: {
      name: topo.dlq.stream,
      subjects: [topo.dlq.streamSubjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 30 * 24 * 3600 * SECOND_NS,
      num_replicas: o.replicas,
      duplicate_window: o.duplicateWindowMs * 1_000_000,
    },
  });
  // Entries of dead nodes disappear after a minute; live ones are rewritten every ttl/3.
  decls.push({
    type: "kv",
    bucket: topo.leases.bucket,
    history: 1,
    ttlMs: Math.max(60_000, o.leaseTtlMs * 10),
    replicas: o.replicas,
  });
  return decls;
}
