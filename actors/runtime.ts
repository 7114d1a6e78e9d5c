/**
 * The actor runtime of one node: hosts the actor kinds and jobs it is given, takes its share
 * of partitions through leases, and offers `send`, state reads and operator views.
 */
import type { NatsHandles, KV, JsMsg } from "../nats";
import { isJsApiError, JetStreamApiCodes } from "../nats";
import type { Logger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { assertName, isValidKey, partitionOf, type Topology } from "../streams/subjects";
import { partitionsFromDescription, runtimeDeclarations } from "../streams/runtime.stream";
import type { Declaration } from "../streams/declarations";
import type {
  ActorKind,
  ActorRuntime,
  ConsumerStats,
  DlqEntry,
  JobDefinition,
  JobResult,
  PartitionOwnership,
  RetryPolicy,
} from "./types";
import { KindHost, type HostStats } from "./host";
import { PartitionWorker } from "./partition";
import { LeaseManager, type PartitionRef } from "./leases";
import { JobWorker, JOB_DEFAULTS, JOB_MAX_ACK_PENDING, jobAckWaitMs, type JobStats } from "./jobs";
import { DeadLetters } from "./dlq";
import { LocalJobs } from "./local-jobs";
import { encodeJson, recordToHeaders } from "./codec";
import type { ResolvedEffect } from "./effects";

/** Runtime tunables (from config). */
export interface RuntimeOptions {
  readonly nodeId: string;
  /** Default partitions of a kind that does not set its own. */
  readonly partitions: number;
  readonly leaseTtlMs: number;
  readonly idleMs: number;
  readonly maxResident: number;
  readonly replicas: number;
  /** Messages held per partition (default 512). */
  readonly maxInFlightPerPartition?: number;
  /** Messages folded into one state write (default 64). */
  readonly maxBatch?: number;
  readonly ackWaitMs?: number;
  readonly duplicateWindowMs?: number;
  readonly defaultRetry?: Partial<RetryPolicy>;
}

/** What the runtime hosts and what it can address. */
export interface RuntimeParts {
  /** Every kind in the system (to address `send`); only `hosted` ones are consumed here. */
  readonly kinds: readonly ActorKind<unknown, unknown>[];
  readonly hostedKinds: ReadonlySet<string>;
  readonly jobs: readonly JobDefinition<unknown, unknown>[];
  readonly hostedJobs: ReadonlySet<string>;
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 5000 };

/** The runtime of one node (see the module doc). */
export class Runtime implements ActorRuntime {
  private readonly kindsByName = new Map<string, ActorKind<unknown, unknown>>();
  private readonly jobsByName = new Map<string, JobDefinition<unknown, unknown>>();
  private readonly hosts = new Map<string, KindHost>();
  private readonly workers = new Map<string, PartitionWorker>();
  private readonly jobWorkers = new Map<string, JobWorker>();
  private readonly stateBuckets = new Map<string, Promise<KV>>();
  private readonly dlq: DeadLetters;
  /** Local jobs of the hosted kinds, run with the hosted jobs' definitions and breakers. */
  private readonly localJobs: LocalJobs;
  private leases: LeaseManager | null = null;
  private emitter: (event: string, payload: unknown) => void = () => undefined;
  private started = false;

  constructor(
    private readonly h: NatsHandles,
    private readonly topo: Topology,
    private readonly parts: RuntimeParts,
    private readonly opts: RuntimeOptions,
    private readonly log: Logger,
  ) {
    for (const k of parts.kinds) {
      assertName(k.name, "actor kind");
      this.kindsByName.set(k.name, k);
    }
    for (const j of parts.jobs) {
      assertName(j.name, "job");
      this.jobsByName.set(j.name, j);
    }
    this.dlq = new DeadLetters(h, topo.dlq.stream);
    this.localJobs = new LocalJobs(
      (job) => (parts.hostedJobs.has(job) ? this.jobsByName.get(job) : undefined),
      (job) => this.jobWorkers.get(job)?.breaker,
    );
  }

  /** Partition count of a kind. */
  partitionsOf(kind: string): number {
    const k = this.kindsByName.get(kind);
    if (!k) throw new Error(`unknown actor kind ${JSON.stringify(kind)}`);
    return k.partitions ?? this.opts.partitions;
  }

  /** Streams, buckets and consumers to provision for every kind and job. */
  declarations(): Declaration[] {
    return runtimeDeclarations(
      this.topo,
      [...this.kindsByName.values()].map((k) => ({
        name: k.name,
        partitions: this.partitionsOf(k.name),
        ...(k.stateHistory ? { stateHistory: Math.min(64, Math.max(1, Math.floor(k.stateHistory))) } : {}),
      })),
      [...this.jobsByName.values()].map((j) => ({
        name: j.name,
        ackWaitMs: jobAckWaitMs(j),
        maxAckPending: JOB_MAX_ACK_PENDING,
      })),
      {
        replicas: this.opts.replicas,
        duplicateWindowMs: this.opts.duplicateWindowMs ?? 120_000,
        leaseTtlMs: this.opts.leaseTtlMs,
      },
    );
  }

  /** Checks provisioned streams against the declared partition counts (they cannot change). */
  private async checkPartitionCounts(): Promise<void> {
    for (const k of this.kindsByName.values()) {
      const info = await this.h.jsm.streams.info(this.topo.actors.stream(k.name));
      const existing = partitionsFromDescription(info.config.description);
      const declared = this.partitionsOf(k.name);
      if (existing !== undefined && existing !== declared) {
        throw new Error(
          `actor kind ${k.name}: its stream has ${existing} partitions but ${declared} are configured; the count cannot change on a live stream`,
        );
      }
    }
  }

  /** Starts hosting: job workers, then partition leases. Provisioning must have run. */
  async start(): Promise<void> {
    await this.checkPartitionCounts();
    const refs: PartitionRef[] = [];
    for (const name of this.parts.hostedKinds) {
      const kind = this.kindsByName.get(name);
      if (!kind) throw new Error(`hosted kind ${name} is not declared`);
      const host = this.createHost(kind, await this.stateBucket(name));
      host.start();
      this.hosts.set(name, host);
      for (let p = 0; p < this.partitionsOf(name); p++) refs.push({ kind: name, partition: p });
    }
    for (const name of this.parts.hostedJobs) {
      const def = this.jobsByName.get(name);
      if (!def) throw new Error(`hosted job ${name} is not declared`);
      const worker = new JobWorker(
        def,
        {
          h: this.h,
          topology: this.topo,
          sendResult: async (kind, key, result: JobResult, id) => {
            await this.send(kind, key, result, { id });
          },
          deadLetter: (msg, error, attempts) =>
            this.dlq.store(
              msg,
              this.topo.dlq.jobSubject(def.name, msg.subject.slice(msg.subject.lastIndexOf(".") + 1)),
              error,
              attempts,
            ),
        },
        this.log.child({ job: name }),
      );
      await worker.start();
      this.jobWorkers.set(name, worker);
    }
    // A node that hosts no actor kind takes no part in partition ownership: it must not count
    // as a live node in the assignment, or partitions would be given to it.
    if (refs.length === 0) {
      this.started = true;
      return;
    }
    const leaseKv = await this.h.kvm.open(this.topo.leases.bucket);
    this.leases = new LeaseManager({
      kv: leaseKv,
      keys: this.topo.leases,
      nodeId: this.opts.nodeId,
      refs,
      ttlMs: this.opts.leaseTtlMs,
      // Liveness rides on the node entry (renewed every ttl/3); the partition entries, one per
      // partition of every kind, are rewritten every 3 ttl, well inside the bucket's entry TTL
      // (streams/runtime.stream.ts: 10 ttl, at least a minute).
      partitionRenewMs: 3 * this.opts.leaseTtlMs,
      callbacks: {
        acquired: (ref) => this.startPartition(ref),
        released: (ref, drain) => this.stopPartition(ref, drain),
      },
      log: this.log.child({ part: "leases" }),
    });
    await this.leases.start();
    this.started = true;
  }

  /** Drains: stops taking messages, finishes in-flight work, releases leases, stops jobs. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.leases?.stop();
    await Promise.allSettled([...this.jobWorkers.values()].map((w) => w.stop()));
    for (const host of this.hosts.values()) host.stop();
  }

  private createHost(kind: ActorKind<unknown, unknown>, kv: KV): KindHost {
    return new KindHost(
      kind,
      {
        kv,
        runEffects: (effects) => this.runEffects(effects),
        deadLetter: (msg: JsMsg, error, attempts) =>
          this.dlq.store(
            msg,
            this.topo.dlq.actorSubject(kind.name, msg.subject.slice(msg.subject.lastIndexOf(".") + 1)),
            error,
            attempts,
          ),
        runLocalJob: (env) => this.localJobs.run(env),
      },
      {
        topology: this.topo,
        partitionsOf: (k) => this.partitionsOf(k),
        jobDeadlineMs: (job) => this.jobsByName.get(job)?.deadlineMs ?? JOB_DEFAULTS.deadlineMs,
      },
      {
        partitions: this.partitionsOf(kind.name),
        idleMs: this.opts.idleMs,
        maxResident: this.opts.maxResident,
        maxBatch: this.opts.maxBatch ?? 64,
        retry: { ...DEFAULT_RETRY, ...this.opts.defaultRetry, ...kind.retry },
      },
      this.log.child({ kind: kind.name }),
    );
  }

  private workerKey(ref: PartitionRef): string {
    return `${ref.kind}/${ref.partition}`;
  }

  private async startPartition(ref: PartitionRef): Promise<void> {
    const host = this.hosts.get(ref.kind);
    if (!host) throw new Error(`kind ${ref.kind} not hosted`);
    const worker = new PartitionWorker(
      this.h,
      this.topo,
      ref.kind,
      ref.partition,
      host,
      {
        maxInFlight: this.opts.maxInFlightPerPartition ?? 512,
        ackWaitMs: this.opts.ackWaitMs ?? 30_000,
      },
      this.log,
    );
    this.workers.set(this.workerKey(ref), worker);
    try {
      await worker.start();
    } catch (err) {
      // only this start's worker (never one a later start of the partition put there)
      if (this.workers.get(this.workerKey(ref)) === worker) this.workers.delete(this.workerKey(ref));
      await worker.stop(false).catch(() => undefined);
      throw err;
    }
  }

  private async stopPartition(ref: PartitionRef, drain: boolean): Promise<void> {
    const worker = this.workers.get(this.workerKey(ref));
    this.workers.delete(this.workerKey(ref));
    await worker?.stop(drain);
  }

  private async runEffects(effects: readonly ResolvedEffect[]): Promise<void> {
    const pubs: Promise<unknown>[] = [];
    for (const e of effects) {
      if (e.t === "emit") {
        try {
          this.emitter(e.event, e.payload);
        } catch (err) {
          this.log.warn({ event: e.event, err: errorMessage(err) }, "emit failed (live plane, not retried)");
        }
      } else if (e.t === "notify") {
        try {
          this.h.nc.publish(e.subject, encodeJson(e.data));
        } catch (err) {
          this.log.warn({ subject: e.subject, err: errorMessage(err) }, "notify failed (live plane, not retried)");
        }
      } else {
        // a local job given here is published: it runs as an ordinary job
        const headers = e.t === "pub" ? recordToHeaders(e.headers) : undefined;
        pubs.push(this.h.js.publish(e.subject, encodeJson(e.data), { msgID: e.id, ...(headers ? { headers } : {}) }));
      }
    }
    await Promise.all(pubs);
  }

  // ---- ActorRuntime ----

  isReady(): boolean {
    return this.started && (this.leases?.allOwned() ?? true);
  }

  async send(
    kind: string,
    key: string,
    data: unknown,
    opts: { id?: string; headers?: Record<string, string> } = {},
  ): Promise<{ seq: number; duplicate: boolean }> {
    if (!isValidKey(key)) throw new Error(`invalid actor key ${JSON.stringify(key)}`);
    const subject = this.topo.actors.subject(kind, partitionOf(key, this.partitionsOf(kind)), key);
    const headers = recordToHeaders(opts.headers);
    const ack = await this.h.js.publish(subject, encodeJson(data), {
      ...(opts.id ? { msgID: opts.id } : {}),
      ...(headers ? { headers } : {}),
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /** The state bucket of a kind, opened once (opening costs a JetStream API round trip). */
  private stateBucket(kind: string): Promise<KV> {
    let kv = this.stateBuckets.get(kind);
    if (!kv) {
      kv = this.h.kvm.open(this.topo.actors.stateBucket(kind));
      kv.catch(() => this.stateBuckets.delete(kind));
      this.stateBuckets.set(kind, kv);
    }
    return kv;
  }

  async getState<S = unknown>(kind: string, key: string): Promise<S | undefined> {
    if (!isValidKey(key) || !this.kindsByName.has(kind)) return undefined;
    const kv = await this.stateBucket(kind);
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    return e.json<{ s: S }>().s;
  }

  partitions(): PartitionOwnership[] {
    return this.leases?.ownership() ?? [];
  }

  actorCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, host] of this.hosts) out[name] = host.resident;
    return out;
  }

  /** Handling counters per hosted kind. */
  hostStats(): Record<string, HostStats & Record<string, number>> {
    const out: Record<string, HostStats & Record<string, number>> = {};
    for (const [name, host] of this.hosts)
      out[name] = {
        ...host.stats,
        latencyP50: host.latency.percentile(0.5),
        latencyP99: host.latency.percentile(0.99),
        latencyCount: host.latency.count,
      };
    return out;
  }

  /** Counters per hosted job. */
  jobStats(): Record<string, JobStats & { breaker: string } & Record<string, number | string>> {
    const out: Record<string, JobStats & { breaker: string } & Record<string, number | string>> = {};
    for (const [name, w] of this.jobWorkers)
      out[name] = {
        ...w.stats,
        ...(this.localJobs.stats.get(name) ?? { localSucceeded: 0, localFailed: 0, localEscalated: 0 }),
        breaker: w.breaker.state,
      };
    return out;
  }

  /** Forgets recorded latencies (benchmarks measure one phase at a time). */
  resetLatency(): void {
    for (const host of this.hosts.values()) host.latency.reset();
  }

  /** Partitions owned by this node. */
  ownedPartitions(): number {
    return this.leases?.ownedCount() ?? 0;
  }

  async consumerStats(): Promise<ConsumerStats[]> {
    // Every stream of the namespace: the runtime's and the domains' (intake, writers, ...).
    const prefix = `${this.topo.ns.toUpperCase()}_`;
    const streams: string[] = [];
    for await (const name of this.h.jsm.streams.names()) if (name.startsWith(prefix)) streams.push(name);
    streams.sort();
    const out: ConsumerStats[] = [];
    for (const stream of streams) {
      try {
        for await (const ci of this.h.jsm.consumers.list(stream)) {
          out.push({
            stream,
            consumer: ci.name,
            pending: ci.num_pending,
            ackPending: ci.num_ack_pending,
            redelivered: ci.num_redelivered,
            waiting: ci.num_waiting,
          });
        }
      } catch (err) {
        if (!isJsApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
      }
    }
    return out;
  }

  /** Messages in the DLQ stream. */
  async dlqDepth(): Promise<number> {
    const info = await this.h.jsm.streams.info(this.topo.dlq.stream);
    return info.state.messages;
  }

  dlqList(opts: { filter?: string; limit?: number; afterSeq?: number } = {}): Promise<DlqEntry[]> {
    return this.dlq.list(opts.filter ?? `${this.topo.ns}.dlq.>`, Math.min(opts.limit ?? 100, 1000), opts.afterSeq ?? 0);
  }

  dlqReplay(seqs: readonly number[]): Promise<{ replayed: number[]; missing: number[] }> {
    return this.dlq.replay(seqs);
  }

  setEmitter(emit: (event: string, payload: unknown) => void): void {
    this.emitter = emit;
  }
}
