/**
 * The event processor of one node: takes the tenants of its partitions, pulls their events,
 * schedules them fairly, validates, stores, feeds senders and dead-letters.
 *
 * Tenants and nodes. Tenants are split into EVENTS_PARTITIONS partitions (FNV-1a of the tenant,
 * as for actor keys); each partition is leased by one node (the runtime's LeaseManager on the
 * `{ns}_evt_leases` bucket: rendezvous hashing, takeover after the lease ttl, hand-over on
 * join/leave). The node owning a partition serves all of its tenants.
 *
 * Discovery. The intake stream is a work queue with one subject per tenant, so the subjects that
 * still hold messages are exactly the tenants with work. Every EVENTS_DISCOVER_MS the node lists
 * them (stream info with a subject filter) and opens a worker for each tenant of its partitions:
 * a durable pull consumer `t-{tenant}` (filtered to the tenant's subject) with a continuous pull
 * (`consume`), so a tenant with a worker gets its events at once. The first time a node opens a
 * tenant after taking its partition it re-creates the consumer, so anything the previous owner
 * left unacked is delivered again, in order, before newer events. A tenant idle for
 * EVENTS_IDLE_MS has its worker closed; it reopens on the next discovery.
 *
 * Fairness. A tenant's consumer may hold at most EVENTS_TENANT_BUFFER unacked messages (its
 * in-memory queue). The {@link FairScheduler} grants batches (deficit round robin, at most one
 * outstanding per tenant) to EVENTS_WRITE_CONCURRENCY write slots. A noisy tenant's backlog
 * stays in JetStream, never in front of anyone else's events.
 *
 * A batch: decode and validate each envelope (events/envelope.ts) and its data (registry); dead-
 * letter what is invalid; encrypt the data; store the rest in one statement; publish the newly
 * stored ones to the push feed ({ns}.events.out.{tenant}, Nats-Msg-Id clientId:eventId) in
 * sequence order; then ack. A repeated event id stores nothing and is counted; a redelivery of
 * an event stored by a node that died before feeding it is fed from the stored row. Database outages are retried with backoff while the messages are
 * held (kept alive with `working()`), so per-tenant order is never broken; an event the store
 * refuses EVENTS_MAX_ATTEMPTS times (found by bisecting the batch) is dead-lettered.
 */
import type { JsMsg, KV, NatsHandles, PubAck } from "../../nats";
import { OwnedConsumer } from "../../streams/owned-consumer";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import { partitionOf, type Topology } from "../../streams/subjects";
import type { EventNames } from "./streams";
import { LeaseManager, type PartitionRef } from "../../actors/leases";
import type { PartitionOwnership } from "../../actors/types";
import { DeadLetters } from "../../actors/dlq";
import { sleep } from "../../actors/codec";
import type { EventsConfig } from "./config";
import { FairScheduler } from "./scheduler";
import { LatencyHistogram } from "../../lib/histogram";
import { decodeEnvelope } from "./envelope";
import type { EventTypeRegistry } from "./registry";
import { openData, rowAad, type DataKeyring } from "./crypto";
import type { EventRow, EventStore, StoredRef } from "./store";
import { rejectionLine, type EventRejectCode, type FeedEvent, type Rejection, type ValidEvent } from "./model";

/** Tunables of the processor (from config `events`). */
export interface ProcessorOptions extends Pick<
  EventsConfig,
  | "partitions"
  | "maxEventBytes"
  | "quantum"
  | "maxBatch"
  | "writeConcurrency"
  | "tenantBuffer"
  | "maxAttempts"
  | "discoverMs"
  | "idleMs"
> {
  readonly nodeId: string;
  readonly leaseTtlMs: number;
  /** Ack wait of tenant consumers (default 60 s). */
  readonly ackWaitMs?: number;
}

/** What the processor needs. */
export interface ProcessorDeps {
  readonly nats: NatsHandles;
  readonly topology: Topology;
  readonly names: EventNames;
  readonly store: EventStore;
  readonly registry: EventTypeRegistry;
  readonly keyring: DataKeyring;
  readonly logger: Logger;
  /** Called after an event was dead-lettered (the DLQ alarm checks at once). */
  readonly onDeadLetter?: (tenant: string, code: EventRejectCode) => void;
  /** Called for every stored event with its intake-to-stored latency in ms. */
  readonly onStored?: (tenant: string, latencyMs: number) => void;
}

/** Counters of one tenant on this node. */
export interface TenantStats {
  received: number;
  stored: number;
  duplicates: number;
  /** Already stored, fed again (an earlier delivery may have missed the feed). */
  refed: number;
  deadLettered: number;
  redelivered: number;
}

/** What {@link EventProcessor.stats} reports. */
export interface ProcessorStats {
  readonly node: string;
  readonly partitions: number[];
  readonly workers: number;
  readonly batches: number;
  readonly storeRetries: number;
  readonly inflight: number;
  readonly tenants: Record<
    string,
    TenantStats & { queued: number; latencyP50: number; latencyP99: number; latencyCount: number }
  >;
}

interface Held {
  readonly msg: JsMsg;
  readonly since: number;
}

const DEFAULT_ACK_WAIT_MS = 60_000;

/** SQLSTATE classes that mean "try again later", not "this row is bad". */
const TRANSIENT_SQLSTATE = /^(08|40|53|55|57|58)/;

/** True for failures that say nothing about the rows (connection lost, deadlock, shutdown). */
export function isTransientStoreError(err: unknown): boolean {
  const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_SQLSTATE.test(code);
  return true; // no SQLSTATE: network, pool timeout, ...
}

/** Allowed clock difference between NATS (intake timestamps) and Postgres (commit times). */
const REFEED_SKEW_MS = 60_000;

/** A feed message for a stored event. */
function feedEvent(
  ref: StoredRef,
  type: string,
  typeVersion: number,
  eventTimeMs: number,
  data: Record<string, unknown>,
): FeedEvent {
  return {
    seq: ref.seq,
    clientId: ref.clientId,
    eventId: ref.eventId,
    type,
    typeVersion,
    timestamp: new Date(eventTimeMs).toISOString(),
    storedAt: new Date(ref.storedAtMs).toISOString(),
    data,
  };
}

/** One tenant's consumer and in-memory queue. */
class TenantWorker {
  readonly queue: Held[] = [];
  lastActivity = Date.now();
  /** Batches of this tenant being written (0 or 1). */
  inflight = 0;
  private consumer: OwnedConsumer | null = null;
  private loop: Promise<void> | null = null;
  closed = false;

  constructor(
    readonly tenant: string,
    readonly partition: number,
    private readonly p: EventProcessor,
  ) {}

  /** Messages held (queued or in a batch); a redelivery of one of them is ignored. */
  get held(): number {
    return this.consumer?.inFlight ?? 0;
  }

  /** Ensures the consumer (re-created when `reset`) and starts pulling. */
  async open(reset: boolean): Promise<void> {
    const { nats, names } = this.p.deps;
    const spec = {
      stream: names.inStream,
      durable: names.consumer(this.tenant),
      filterSubject: names.inSubject(this.tenant),
      ackWaitMs: this.p.ackWaitMs,
      maxAckPending: this.p.opts.tenantBuffer,
    };
    const consumer = await OwnedConsumer.open(nats, spec, {
      reset,
      pullBatch: Math.min(this.p.opts.tenantBuffer, this.p.opts.maxBatch * 2),
    });
    if (this.closed) {
      await consumer.close();
      return;
    }
    this.consumer = consumer;
    this.loop = this.run(consumer);
  }

  private async run(consumer: OwnedConsumer): Promise<void> {
    try {
      for await (const msg of consumer) {
        if (this.closed) break;
        const h = { msg, since: Date.now() };
        this.queue.push(h);
        this.lastActivity = h.since;
        this.p.arrived(this.tenant);
      }
    } catch (err) {
      if (!this.closed)
        this.p.deps.logger.error({ tenant: this.tenant, err: errorMessage(err) }, "tenant consumer failed");
    }
    if (!this.closed) this.p.workerEnded(this);
  }

  /** Takes up to `n` queued messages, oldest first. */
  take(n: number): Held[] {
    return this.queue.splice(0, n);
  }

  /** A batch's messages are settled (acked or dead-lettered). */
  settled(batch: readonly Held[]): void {
    for (const h of batch) this.consumer?.settle(h.msg);
    this.lastActivity = Date.now();
  }

  /** Stops pulling; queued messages are abandoned unacked (they come back to the next owner). */
  async close(): Promise<void> {
    this.closed = true;
    await this.consumer?.close();
    await this.loop?.catch(() => undefined);
    this.queue.length = 0;
  }
}

/** The processor of one node (see the module doc). */
export class EventProcessor {
  readonly scheduler: FairScheduler;
  readonly ackWaitMs: number;
  private readonly workers = new Map<string, TenantWorker>();
  private readonly opening = new Set<string>();
  /** Tenants opened since their partition was taken (the first open re-creates the consumer). */
  private readonly touched = new Set<string>();
  private readonly owned = new Set<number>();
  private readonly dlq: DeadLetters;
  private readonly tenantStats = new Map<string, TenantStats>();
  private readonly latency = new Map<string, LatencyHistogram>();
  private leases: LeaseManager | null = null;
  private discoverTimer: NodeJS.Timeout | null = null;
  private discovering = false;
  private inflight = 0;
  private batches = 0;
  private storeRetries = 0;
  private stopped = false;
  private lastStoreWarn = 0;

  constructor(
    readonly deps: ProcessorDeps,
    readonly opts: ProcessorOptions,
  ) {
    this.scheduler = new FairScheduler({ quantum: opts.quantum, maxBatch: opts.maxBatch });
    this.ackWaitMs = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    this.dlq = new DeadLetters(deps.nats, deps.topology.dlq.stream);
  }

  /** The partition of a tenant. */
  partitionOf(tenant: string): number {
    return partitionOf(tenant, this.opts.partitions);
  }

  /** True when this node owns `tenant`'s partition. */
  owns(tenant: string): boolean {
    return this.owned.has(this.partitionOf(tenant));
  }

  /** Who owns which event partition (kind `{names.leaseKind}`), as this node's lease view sees it. */
  ownership(): PartitionOwnership[] {
    return this.leases?.ownership() ?? [];
  }

  /** Takes partition leases and starts discovering tenants. */
  async start(): Promise<void> {
    const kv: KV = await this.deps.nats.kvm.open(this.deps.names.leasesBucket);
    const refs: PartitionRef[] = Array.from({ length: this.opts.partitions }, (_, p) => ({
      kind: this.deps.names.leaseKind,
      partition: p,
    }));
    this.leases = new LeaseManager({
      kv,
      keys: this.deps.topology.leases,
      nodeId: this.opts.nodeId,
      refs,
      ttlMs: this.opts.leaseTtlMs,
      // liveness rides on the node entry; the bucket keeps entries 10 ttl (streams.ts)
      partitionRenewMs: 3 * this.opts.leaseTtlMs,
      callbacks: {
        acquired: async (ref) => {
          this.owned.add(ref.partition);
          this.deps.logger.debug({ partition: ref.partition }, "event partition acquired");
          void this.discover();
        },
        released: (ref, drain) => this.release(ref.partition, drain),
      },
      log: this.deps.logger.child({ lease: "events" }),
    });
    await this.leases.start();
    this.discoverTimer = setInterval(() => void this.discover(), this.opts.discoverMs);
  }

  /** Drains: stops discovery, finishes batches in flight, releases every partition. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.discoverTimer) clearInterval(this.discoverTimer);
    await this.leases?.stop();
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    this.workers.clear();
  }

  /** True once leases run and every partition has an owner somewhere. */
  isReady(): boolean {
    return !this.stopped && (this.leases?.allOwned() ?? false);
  }

  /** Partitions owned here. */
  ownedPartitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** Counters of this node. */
  stats(): ProcessorStats {
    const tenants: ProcessorStats["tenants"] = {};
    for (const [t, s] of this.tenantStats) {
      const h = this.latency.get(t);
      tenants[t] = {
        ...s,
        queued: this.workers.get(t)?.queue.length ?? 0,
        latencyP50: h?.percentile(0.5) ?? 0,
        latencyP99: h?.percentile(0.99) ?? 0,
        latencyCount: h?.count ?? 0,
      };
    }
    return {
      node: this.opts.nodeId,
      partitions: this.ownedPartitions(),
      workers: this.workers.size,
      batches: this.batches,
      storeRetries: this.storeRetries,
      inflight: this.inflight,
      tenants,
    };
  }

  /** Intake-to-stored latency of a group of tenants on this node (one merged distribution). */
  latencyOf(tenants: readonly string[]): { count: number; p50: number; p99: number; max: number } {
    const h = new LatencyHistogram();
    for (const t of tenants) {
      const x = this.latency.get(t);
      if (x) h.merge(x);
    }
    return { count: h.count, p50: h.percentile(0.5), p99: h.percentile(0.99), max: Number(h.max.toFixed(2)) };
  }

  /** Forgets counters and latencies (benchmarks measure one phase at a time). */
  resetStats(): void {
    this.tenantStats.clear();
    this.latency.clear();
  }

  private statsOf(tenant: string): TenantStats {
    let s = this.tenantStats.get(tenant);
    if (!s)
      this.tenantStats.set(
        tenant,
        (s = { received: 0, stored: 0, duplicates: 0, refed: 0, deadLettered: 0, redelivered: 0 }),
      );
    return s;
  }

  /** Lists tenants with waiting events and opens workers for those of owned partitions. */
  async discover(): Promise<void> {
    if (this.stopped || this.discovering) return;
    this.discovering = true;
    try {
      const { nats, names } = this.deps;
      const info = await nats.jsm.streams.info(names.inStream, { subjects_filter: names.inFilter });
      const prefix = names.inSubject("");
      for (const subject of Object.keys(info.state.subjects ?? {})) {
        const tenant = subject.slice(prefix.length);
        if (tenant === "" || this.workers.has(tenant) || this.opening.has(tenant) || !this.owns(tenant)) continue;
        void this.openWorker(tenant);
      }
      const idleBefore = Date.now() - this.opts.idleMs;
      for (const w of this.workers.values()) {
        if (w.queue.length === 0 && w.held === 0 && w.inflight === 0 && w.lastActivity < idleBefore)
          void this.closeWorker(w);
      }
    } catch (err) {
      if (!this.stopped) this.deps.logger.warn({ err: errorMessage(err) }, "tenant discovery failed; will retry");
    } finally {
      this.discovering = false;
    }
  }

  private async openWorker(tenant: string): Promise<void> {
    this.opening.add(tenant);
    const partition = this.partitionOf(tenant);
    const w = new TenantWorker(tenant, partition, this);
    const reset = !this.touched.has(tenant);
    try {
      this.workers.set(tenant, w);
      await w.open(reset);
      this.touched.add(tenant);
      if (!this.owned.has(partition) || this.stopped) await this.closeWorker(w);
    } catch (err) {
      this.deps.logger.warn({ tenant, err: errorMessage(err) }, "tenant worker did not open; will retry");
      await this.closeWorker(w);
    } finally {
      this.opening.delete(tenant);
    }
  }

  private async closeWorker(w: TenantWorker): Promise<void> {
    if (this.workers.get(w.tenant) === w) this.workers.delete(w.tenant);
    this.scheduler.remove(w.tenant);
    await w.close();
  }

  /**
   * A worker's consume loop ended on its own (consumer deleted or stalled, connection closed):
   * the next discovery opens it again with a reset, so what it held or never delivered comes
   * again, in order.
   */
  workerEnded(w: TenantWorker): void {
    if (this.workers.get(w.tenant) !== w) return;
    this.touched.delete(w.tenant);
    this.deps.logger.warn({ tenant: w.tenant }, "tenant consumer ended; reopening on the next discovery");
    void this.closeWorker(w);
  }

  private async release(partition: number, drain: boolean): Promise<void> {
    this.owned.delete(partition);
    const mine = [...this.workers.values()].filter((w) => w.partition === partition);
    // Stop granting first (queued messages stay unacked for the next owner), then let the
    // batches in flight finish when draining, then stop pulling.
    for (const w of mine) {
      w.closed = true;
      this.scheduler.remove(w.tenant);
    }
    if (drain) {
      const deadline = Date.now() + this.ackWaitMs;
      while (mine.some((w) => w.inflight > 0) && Date.now() < deadline) await sleep(10);
    }
    await Promise.all(mine.map((w) => this.closeWorker(w)));
    for (const t of [...this.touched]) if (this.partitionOf(t) === partition) this.touched.delete(t);
    this.deps.logger.info({ partition, drain }, "event partition released");
  }

  /** A message of `tenant` arrived in its worker's queue. */
  arrived(tenant: string): void {
    this.statsOf(tenant).received++;
    this.scheduler.add(tenant, 1);
    this.pump();
  }

  /** Hands grants to free write slots. */
  private pump(): void {
    while (!this.stopped && this.inflight < this.opts.writeConcurrency) {
      const g = this.scheduler.next();
      if (!g) return;
      const w = this.workers.get(g.tenant);
      const batch = w && !w.closed ? w.take(g.max) : [];
      if (!w || batch.length === 0) {
        // the scheduler's count is ahead of the queue (worker closed): reset it
        this.scheduler.complete(g.tenant, Number.MAX_SAFE_INTEGER);
        continue;
      }
      this.inflight++;
      w.inflight++;
      void this.runBatch(w, batch)
        .catch((err: unknown) =>
          this.deps.logger.error({ tenant: g.tenant, err: errorMessage(err) }, "event batch failed"),
        )
        .finally(() => {
          this.inflight--;
          w.inflight--;
          w.settled(batch);
          // a closed worker's tenant was removed from the scheduler (and may be back with a new worker)
          if (this.workers.get(g.tenant) === w && !w.closed) this.scheduler.complete(g.tenant, batch.length);
          this.pump();
        });
    }
  }

  private async deadLetter(tenant: string, msg: JsMsg, r: Rejection, attempts: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.dlq.store(msg, this.deps.names.dlqSubject(tenant), rejectionLine(r), attempts);
        break;
      } catch (err) {
        if (this.stopped) throw err;
        this.deps.logger.warn({ tenant, err: errorMessage(err) }, "dead letter not stored yet; retrying");
        await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
    msg.ack();
    this.statsOf(tenant).deadLettered++;
    this.deps.logger.warn(
      { tenant, code: r.code, seq: msg.seq, reason: rejectionLine(r).slice(0, 300) },
      "event dead-lettered",
    );
    this.deps.onDeadLetter?.(tenant, r.code);
  }

  /** One batch of one tenant (see the module doc). */
  private async runBatch(w: TenantWorker, batch: readonly Held[]): Promise<void> {
    const tenant = w.tenant;
    const stats = this.statsOf(tenant);
    const now = Date.now();
    const valid: Array<{ msg: JsMsg; event: ValidEvent; version: number }> = [];
    const dead: Promise<void>[] = [];
    const seen = new Set<string>();
    const dupMsgs: JsMsg[] = [];
    for (const { msg } of batch) {
      if (msg.info.deliveryCount > 1) stats.redelivered++;
      const r = decodeEnvelope(msg.data, { maxBytes: this.opts.maxEventBytes, tenant, now });
      if (!r.ok) {
        dead.push(this.deadLetter(tenant, msg, r.rejection, 1));
        continue;
      }
      const check = this.deps.registry.check(r.event.type, r.event.data);
      if (!check.ok) {
        dead.push(this.deadLetter(tenant, msg, check.rejection, 1));
        continue;
      }
      if (seen.has(r.event.eventId)) {
        dupMsgs.push(msg); // the same id twice in one batch: the first one counts
        continue;
      }
      seen.add(r.event.eventId);
      valid.push({ msg, event: r.event, version: check.version });
    }
    await Promise.all(dead);
    if (valid.length > 0) {
      const rows: EventRow[] = valid.map(({ event, version }) => {
        const { keyId, blob } = this.deps.keyring.encrypt(
          Buffer.from(JSON.stringify(event.data), "utf8"),
          rowAad(event.clientId, event.eventId),
        );
        return {
          clientId: event.clientId,
          eventId: event.eventId,
          type: event.type,
          typeVersion: version,
          eventTimeMs: event.timestampMs,
          keyId,
          blob,
        };
      });
      const { fresh, poisoned } = await this.storeRows(
        tenant,
        rows,
        valid.map((v) => v.msg),
      );
      const storedAt = Date.now();
      const freshIds = new Set(fresh.map((f) => f.eventId));
      const byId = new Map(valid.map((v) => [v.event.eventId, v]));
      // An event already stored is either a producer's repeat (a no-op, counted) or a message
      // whose earlier delivery was stored but maybe not fed (the node died between commit and
      // feed publish; after a takeover its delivery count restarts at 1). A message that entered
      // the intake stream before the row was stored (allowing for clock skew between NATS and
      // Postgres) is fed again from the stored row: Nats-Msg-Id makes that a no-op when the
      // first publish did land.
      const known = valid
        .filter((v) => !freshIds.has(v.event.eventId) && !poisoned.has(v.event.eventId))
        .map((v) => v.event.eventId);
      const storedRows =
        known.length > 0 ? await this.retrying(tenant, () => this.deps.store.stored(tenant, known)) : [];
      const refeed = storedRows.filter(
        (r) => Number(byId.get(r.eventId)!.msg.timestampNanos / 1_000_000n) <= r.storedAtMs + REFEED_SKEW_MS,
      );
      stats.duplicates += storedRows.length - refeed.length;
      const feed: FeedEvent[] = [
        ...fresh.map((ref) => {
          const v = byId.get(ref.eventId)!;
          return feedEvent(ref, v.event.type, v.version, v.event.timestampMs, v.event.data);
        }),
        ...refeed.map((r) => feedEvent(r, r.type, r.typeVersion, r.eventTimeMs, openData(this.deps.keyring, r))),
      ].sort((x, y) => x.seq - y.seq);
      const acks = await this.retrying(tenant, () => Promise.all(feed.map((e) => this.publishFeed(e))));
      const refed = new Set(refeed.map((r) => r.eventId));
      feed.forEach((e, i) => {
        if (!refed.has(e.eventId)) return;
        if (acks[i]!.duplicate) stats.duplicates++;
        else stats.refed++;
      });
      for (const v of valid) {
        if (poisoned.has(v.event.eventId)) continue;
        if (freshIds.has(v.event.eventId)) {
          stats.stored++;
          const latency = storedAt - Number(v.msg.timestampNanos / 1_000_000n);
          let h = this.latency.get(tenant);
          if (!h) this.latency.set(tenant, (h = new LatencyHistogram()));
          h.record(latency);
          this.deps.onStored?.(tenant, latency);
        }
        v.msg.ack();
      }
    }
    stats.duplicates += dupMsgs.length;
    for (const m of dupMsgs) m.ack();
    this.batches++;
  }

  private publishFeed(e: FeedEvent): Promise<PubAck> {
    return this.deps.nats.js.publish(this.deps.names.outSubject(e.clientId), JSON.stringify(e), {
      msgID: `${e.clientId}:${e.eventId}`,
    });
  }

  /** Runs `fn` until it succeeds, backing off (outages of NATS or Postgres hold the batch). */
  private async retrying<T>(tenant: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopped && attempt > 3) throw err;
        this.storeRetries++;
        this.warnStore(tenant, err);
        await sleep(Math.min(5000, 50 * 2 ** Math.min(attempt, 7)));
      }
    }
  }

  private warnStore(tenant: string, err: unknown): void {
    if (Date.now() - this.lastStoreWarn < 2000) return;
    this.lastStoreWarn = Date.now();
    this.deps.logger.warn(
      { tenant, err: errorMessage(err) },
      "event store unavailable; holding the batch and retrying",
    );
  }

  /**
   * Stores `rows` (messages `msgs`, same order). Transient failures are retried forever; a
   * refusal of the data is narrowed down by halving the batch (in order, so earlier rows commit
   * first) to single rows, each tried EVENTS_MAX_ATTEMPTS times before it is dead-lettered.
   */
  private async storeRows(
    tenant: string,
    rows: readonly EventRow[],
    msgs: readonly JsMsg[],
  ): Promise<{ fresh: StoredRef[]; poisoned: Set<string> }> {
    const fresh: StoredRef[] = [];
    const poisoned = new Set<string>();
    const attempts = new Map<number, number>();
    const run = async (from: number, to: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          fresh.push(...(await this.deps.store.insertBatch(rows.slice(from, to))));
          return;
        } catch (err) {
          if (isTransientStoreError(err)) {
            if (this.stopped && attempt > 3) throw err;
            this.storeRetries++;
            this.warnStore(tenant, err);
            await sleep(Math.min(5000, 50 * 2 ** Math.min(attempt, 7)));
            continue;
          }
          if (to - from > 1) {
            const mid = from + Math.ceil((to - from) / 2);
            await run(from, mid);
            await run(mid, to);
            return;
          }
          const n = (attempts.get(from) ?? 0) + 1;
          attempts.set(from, n);
          if (n >= this.opts.maxAttempts) {
            poisoned.add(rows[from]!.eventId);
            await this.deadLetter(
              tenant,
              msgs[from]!,
              {
                code: "STORE_FAILED",
                message: `the store refused the event ${n} times: ${errorMessage(err).slice(0, 300)}`,
                details: [],
              },
              n,
            );
            return;
          }
          this.storeRetries++;
          await sleep(Math.min(2000, 50 * 2 ** n));
        }
      }
    };
    await run(0, rows.length);
    return { fresh: fresh.sort((a, b) => a.seq - b.seq), poisoned };
  }
}
