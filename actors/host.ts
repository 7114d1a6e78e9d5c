/**
 * Hosts the actors of one kind on this node: resident cells with their state, one serial
 * queue per key, handler calls, revision-checked state writes, effects, acks, retries and
 * dead letters, and passivation of idle actors.
 *
 * Per key, messages run one at a time in stream order. Messages already queued for a key are
 * folded through the handler together and stored with ONE state write (coalescing), whose
 * value also records the last applied stream sequence and the effects of that write; a
 * redelivered message at or below that sequence changes nothing and only re-emits the stored
 * effects (see README "Delivery guarantees").
 *
 * Local jobs (local-jobs.ts): the jobs a write asks for with `local: true` are stored in that
 * write (`j`) and run here once it landed; each outcome comes back into the key's queue and is
 * folded into the next write, which drops the job from `j`. While any is pending, the messages
 * handled for the key stay unacked (held): should this node die, the next owner gets them again,
 * loads the state and re-issues what `j` still holds.
 */
import { isWrongLastSequence, type JsMsg, type KV } from "../nats";
import type { Logger } from "../lib/logger";
import type { ActorKind, ActorMessage, JobEnvelope, RetryPolicy } from "./types";
import { resolveEffects, type PublishedEffect, type ResolvedEffect, type ResolveContext } from "./effects";
import type { LocalJobOutcome } from "./local-jobs";
import { decodeJson, encodeJson, headersToRecord, sleep } from "./codec";
import { backoffDelay } from "./backoff";
import { LatencyHistogram } from "../lib/histogram";
import { TerminalError, errorMessage } from "../lib/errors";
import { partitionOf } from "../streams/subjects";
import { storedAtMs } from "../streams/stored-at";

/** One message waiting for its actor: from the mailbox, or the outcome of a local job. */
interface Pending {
  /** null for a local job's outcome. */
  readonly msg: JsMsg | null;
  readonly seq: number;
  attempts: number;
  /** Called once the message is settled (acked, dead-lettered or abandoned). */
  readonly done: () => void;
  readonly local?: { readonly id: string; readonly outcome: LocalJobOutcome };
  /** A wake-up of the actor (its kind's `wakeAt` passed): handled as a {@link WakeMessage}. */
  readonly wake?: number;
}

/** A local job pending in an actor's state. */
interface LocalJob {
  /** The jobs stream subject it goes to if it is escalated. */
  readonly subject: string;
  readonly id: string;
  readonly data: JobEnvelope;
}

/** An actor in memory. */
interface Cell {
  readonly key: string;
  readonly partition: number;
  readonly generation: number;
  loaded: boolean;
  state: unknown;
  revision: number;
  lastSeq: number;
  /** The latest stream timestamp (ms) of the messages applied; 0 when unknown (older entries). */
  lastTs: number;
  /** Times this key saw its stream's sequence go back (see {@link StoredActor.g}). */
  epoch: number;
  lastEffects: PublishedEffect[];
  /**
   * True from a load until this host ran `lastEffects` itself: the loaded write's effects may
   * never have run (its owner lost the partition between the state write and the effects), and a
   * newer message of the key may be handled before that write's messages come back.
   */
  unconfirmed: boolean;
  /** Local jobs pending as of the stored state. */
  local: Map<string, LocalJob>;
  /** Local jobs running here now. */
  readonly runningLocal: Set<string>;
  /** Handled messages kept unacked while local jobs are pending. */
  readonly held: Pending[];
  /** Set while a local job's outcome waits for the others' to share their state write. */
  linger: NodeJS.Timeout | null;
  readonly queue: Pending[];
  running: boolean;
  lastActive: number;
  /** When the loaded state wants to be handled again (the kind's `wakeAt`), or null. */
  wakeAt: number | null;
  /** The due time of the last wake-up handed to it (never twice for the same or an earlier time). */
  wokeFor: number;
}

/**
 * A message at or below the applied sequence counts as new (the stream went back, see
 * {@link StoredActor.g}) only when stored at least this long after everything applied. A
 * redelivery carries its original time; a sequence reused after a stream lost its tail comes at
 * least one leader election (seconds) later. The gap keeps rounding, or replicas whose stored
 * times differ slightly, from ever making a redelivery look new.
 */
const REGRESSION_MIN_GAP_MS = 1_000;

/** What the state bucket stores per actor. */
interface StoredActor {
  /** state */
  s: unknown;
  /** last applied stream sequence */
  q: number;
  /** the latest stream timestamp (ms) of the messages applied (absent in older entries) */
  qt?: number;
  /**
   * How many times the key's stream sequence went back (absent: never). A message at or below
   * `q` stored after `qt` is new, not a redelivery: the stream lost its tail and reused the
   * sequences (nats-server 2.9 after a lagging replica became leader). It is handled, and the
   * effects' default ids from then on carry the count, so that they do not collide with the ids
   * of the earlier messages that had those sequences.
   */
  g?: number;
  /** effects of the write that applied `q` */
  e: PublishedEffect[];
  /** local jobs pending (absent when none) */
  j?: LocalJob[];
  /** when it was written (epoch ms; absent in older entries) */
  t?: number;
}

/**
 * A loaded write younger than this has its effects run again before the key's next write
 * (see `Cell.unconfirmed`). Well inside JetStream's duplicate window (2 min by default), so a
 * run that already happened is deduplicated by the effects' ids and stores nothing twice; an
 * older write's effects ran long ago or come back with its redelivered last message.
 */
const RECONFIRM_MS = 60_000;

/** The I/O the host needs, injected by the runtime. */
export interface HostIo {
  readonly kv: KV;
  /** Executes effects (all of them, at least once); rejects if any failed. */
  runEffects(effects: readonly ResolvedEffect[]): Promise<void>;
  /** Stores a dead letter; resolves once JetStream acked it. */
  deadLetter(msg: JsMsg, error: string, attempts: number): Promise<void>;
  /** Runs a local job once on this node (never rejects); absent: local jobs go to the jobs stream. */
  runLocalJob?(env: JobEnvelope): Promise<LocalJobOutcome>;
}

/** Tunables of a host. */
export interface HostOptions {
  readonly partitions: number;
  readonly idleMs: number;
  readonly maxResident: number;
  /** At most this many queued messages folded into one state write. */
  readonly maxBatch: number;
  readonly retry: RetryPolicy;
  /**
   * A local job's outcome waits up to this long (ms) for the outcomes of the key's other
   * running local jobs, so that one state write journals them all (default 200; 0: no wait).
   */
  readonly localLingerMs?: number;
}

/** Counters for metrics and benchmarks. */
export interface HostStats {
  handled: number;
  writes: number;
  duplicates: number;
  /** Messages handled although at or below the last sequence: their stream went back (see StoredActor.g). */
  sequenceRegressions: number;
  deadLettered: number;
  /** Messages published to the wrong partition's subject (dead-lettered, never handled). */
  misrouted: number;
  retries: number;
  loads: number;
  evictions: number;
  /** Local jobs started here (first runs and re-issues after a load). */
  localJobs: number;
  /** Local jobs found pending in a loaded state and re-issued. */
  localReissued: number;
  /** Links of local job chains that started their next jobs without a state write (chainLocalJobs). */
  chained: number;
}

/** Hosts the actors of one kind (see the module doc). */
export class KindHost {
  private readonly cells = new Map<string, Cell>();
  private readonly generations = new Map<number, number>();
  private generationCounter = 0;
  readonly stats: HostStats = {
    handled: 0,
    writes: 0,
    duplicates: 0,
    sequenceRegressions: 0,
    deadLettered: 0,
    misrouted: 0,
    retries: 0,
    loads: 0,
    evictions: 0,
    localJobs: 0,
    localReissued: 0,
    chained: 0,
  };
  /** Publish-to-handled latency of messages handled here (ms). */
  readonly latency = new LatencyHistogram();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Resident actors with a wake-up time (see `ActorKind.wakeAt`). */
  private readonly waking = new Set<Cell>();

  constructor(
    private readonly kind: ActorKind,
    private readonly io: HostIo,
    private readonly resolve: Omit<ResolveContext, "kind" | "key" | "seq" | "now">,
    private readonly opts: HostOptions,
    /** Bound to the kind by the runtime (`kind` is in every line; never repeat it in a line's fields). */
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts the passivation sweep. */
  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(250, Math.max(50, this.opts.idleMs / 2)));
  }

  /** Stops the sweep. */
  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Resident actors. */
  get resident(): number {
    return this.cells.size;
  }

  /** Marks a partition as hosted here (a new generation: older work for it is void). */
  openPartition(partition: number): void {
    this.generations.set(partition, ++this.generationCounter);
  }

  /**
   * Forgets a partition: queued messages are abandoned unacked (the next owner gets them) and
   * its actors leave memory. Call after the partition worker drained, or at once on loss.
   */
  closePartition(partition: number): void {
    this.generations.delete(partition);
    for (const [key, cell] of this.cells) {
      if (cell.partition !== partition) continue;
      for (const p of cell.queue.splice(0)) p.done();
      for (const p of cell.held.splice(0)) p.done(); // unacked: the next owner gets them
      this.cells.delete(key);
    }
  }

  /** Queues a message for its actor; `done` is called once it is settled. */
  deliver(partition: number, key: string, msg: JsMsg, done: () => void): void {
    const generation = this.generations.get(partition);
    if (generation === undefined) return done();
    if (partitionOf(key, this.opts.partitions) !== partition) {
      // Published to another partition's subject (a producer computed it wrong): handling it
      // here would give the key two owners. It goes to the DLQ, never to a handler.
      void this.misrouted(partition, key, msg, done);
      return;
    }
    let cell = this.cells.get(key);
    if (cell && cell.generation !== generation) {
      this.cells.delete(key);
      cell = undefined;
    }
    if (!cell) {
      // Over the limit, evict a few of the least recently used if idle (O(1) per delivery);
      // the sweep does the rest.
      if (this.cells.size >= this.opts.maxResident) this.evictIdle(1, 8);
      cell = {
        key,
        partition,
        generation,
        loaded: false,
        state: undefined,
        revision: 0,
        lastSeq: 0,
        lastTs: 0,
        epoch: 0,
        lastEffects: [],
        unconfirmed: false,
        local: new Map(),
        runningLocal: new Set(),
        held: [],
        linger: null,
        queue: [],
        running: false,
        lastActive: this.now(),
        wakeAt: null,
        wokeFor: 0,
      };
    } else {
      this.cells.delete(key); // re-insert: Map order is least recently used first
    }
    this.cells.set(key, cell);
    cell.queue.push({ msg, seq: msg.seq, attempts: 0, done });
    if (!cell.running) void this.run(cell);
  }

  private alive(cell: Cell): boolean {
    return this.generations.get(cell.partition) === cell.generation;
  }

  private async run(cell: Cell): Promise<void> {
    cell.running = true;
    try {
      while (cell.queue.length > 0 && this.alive(cell)) {
        if (!cell.loaded) {
          await this.load(cell);
          if (this.alive(cell)) this.launchLocal(cell, true);
        }
        if (!this.alive(cell)) break;
        await this.processBatch(cell);
      }
    } catch (err) {
      this.log.error({ key: cell.key, err: errorMessage(err) }, "actor loop failed");
      await sleep(100);
    } finally {
      cell.running = false;
      cell.lastActive = this.now();
      if (!this.alive(cell)) for (const p of [...cell.queue.splice(0), ...cell.held.splice(0)]) p.done();
      else if (cell.queue.length > 0) void this.run(cell);
    }
  }

  /** Reads the actor's state from KV, retrying until it succeeds or the partition goes. */
  private async load(cell: Cell): Promise<void> {
    for (let attempt = 1; this.alive(cell); attempt++) {
      try {
        const entry = await this.io.kv.get(cell.key);
        this.stats.loads++;
        if (entry && entry.operation === "PUT") {
          const stored = decodeJson<StoredActor>(entry.value);
          cell.state = stored.s;
          cell.lastSeq = stored.q;
          cell.lastTs = stored.qt ?? 0;
          cell.epoch = stored.g ?? 0;
          cell.lastEffects = stored.e ?? [];
          cell.unconfirmed =
            cell.lastEffects.length > 0 && stored.t !== undefined && this.now() - stored.t < RECONFIRM_MS;
          cell.local = new Map((stored.j ?? []).map((j) => [j.id, j]));
          cell.revision = entry.revision;
        } else {
          cell.state = this.kind.initialState(cell.key);
          cell.lastSeq = 0;
          cell.lastTs = 0;
          cell.epoch = 0;
          cell.lastEffects = [];
          cell.unconfirmed = false;
          cell.local = new Map();
          cell.revision = entry ? entry.revision : 0;
        }
        cell.loaded = true;
        this.setWake(cell);
        return;
      } catch (err) {
        this.log.warn({ key: cell.key, err: errorMessage(err) }, "state load failed; retrying");
        await sleep(backoffDelay(attempt, 50, 2000));
      }
    }
  }

  private toMessage(p: Pending & { msg: JsMsg }, key: string): ActorMessage {
    let data: unknown;
    try {
      data = decodeJson(p.msg.data);
    } catch (err) {
      throw new TerminalError(`undecodable payload: ${errorMessage(err)}`);
    }
    return {
      key,
      seq: p.seq,
      data,
      headers: headersToRecord(p.msg.headers),
      publishedAt: Math.floor(p.msg.info.timestampNanos / 1e6),
      deliveryCount: p.msg.info.deliveryCount,
    };
  }

  /** Splits resolved effects into what is published and the local jobs to record. */
  private static split(resolved: ResolvedEffect[], into: PublishedEffect[], local: Map<string, LocalJob>): void {
    for (const e of resolved) {
      if (e.t === "local") local.set(e.id, { subject: e.subject, id: e.id, data: e.data });
      else into.push(e);
    }
  }

  private async processBatch(cell: Cell): Promise<void> {
    const batch = cell.queue.slice(0, this.opts.maxBatch);
    let state = cell.state;
    let lastSeq = cell.lastSeq;
    let lastTs = cell.lastTs;
    let epoch = cell.epoch;
    let dirty = false;
    const local = new Map(cell.local);
    // The loaded write's effects go first, once (idempotent by id): the next write replaces them.
    const effects: PublishedEffect[] = cell.unconfirmed ? [...cell.lastEffects] : [];
    const settled: Pending[] = [];
    let failed: { p: Pending; err: unknown } | null = null;
    const now = this.now();
    const base = { ...this.resolve, kind: this.kind.name, key: cell.key, now };

    for (const p of batch) {
      if (p.wake !== undefined) {
        settled.push(p);
        try {
          const msg: ActorMessage = {
            key: cell.key,
            seq: lastSeq,
            data: { $wake: p.wake },
            headers: {},
            publishedAt: now,
            deliveryCount: 1,
          };
          const r = this.kind.handle(state, msg, { kind: this.kind.name, key: cell.key, now });
          state = r.state;
          dirty = true;
          KindHost.split(resolveEffects(r.effects, { ...base, seq: lastSeq, idBase: `W${p.wake}` }), effects, local);
        } catch (err) {
          // nothing to retry or dead-letter: the next message (or wake-up) finds the state as it was
          this.log.warn({ key: cell.key, err: errorMessage(err) }, "wake-up refused by the handler");
        }
        continue;
      }
      if (p.local) {
        settled.push(p);
        const job = local.get(p.local.id);
        if (!job) continue; // not pending (any more): nothing to fold
        local.delete(job.id);
        dirty = true;
        const outcome = p.local.outcome;
        if ("escalate" in outcome) {
          // to the jobs stream: its worker retries with backoff; the result comes through the mailbox
          effects.push({ t: "pub", subject: job.subject, id: job.id, data: job.data });
          continue;
        }
        if (job.data.replyTo === null) continue; // nobody waits for its result
        const result = outcome.result;
        try {
          const msg: ActorMessage = {
            key: cell.key,
            seq: lastSeq,
            data: result,
            headers: {},
            publishedAt: now,
            deliveryCount: 1,
          };
          const r = this.kind.handle(state, msg, { kind: this.kind.name, key: cell.key, now });
          state = r.state;
          KindHost.split(resolveEffects(r.effects, { ...base, seq: lastSeq, idBase: `L${job.id}` }), effects, local);
        } catch {
          // the handler refused it here: the result goes through the mailbox (retries, then the DLQ)
          KindHost.split(
            resolveEffects(
              [{ type: "send", kind: this.kind.name, key: cell.key, data: result, id: `${job.id}:result` }],
              {
                ...base,
                seq: lastSeq,
              },
            ),
            effects,
            local,
          );
        }
        continue;
      }
      const ts = p.msg ? storedAtMs(p.msg) : 0;
      if (p.seq <= lastSeq) {
        if (!(lastTs > 0 && ts > lastTs + REGRESSION_MIN_GAP_MS)) {
          // Redelivered after its state change landed: re-emit that write's effects only.
          if (p.seq === cell.lastSeq && !cell.unconfirmed) effects.push(...cell.lastEffects);
          this.stats.duplicates++;
          settled.push(p);
          continue;
        }
        // Stored after everything applied, yet at or below the last sequence: the stream went
        // back (see StoredActor.g). A new message: handled, with ids of a new epoch.
        epoch++;
        this.stats.sequenceRegressions++;
        this.log.error(
          { key: cell.key, seq: p.seq, lastSeq, ts, lastTs, epoch },
          "stream sequence went back (the server lost its tail): handling the message as new",
        );
      }
      try {
        const msg = this.toMessage(p as Pending & { msg: JsMsg }, cell.key);
        const r = this.kind.handle(state, msg, { kind: this.kind.name, key: cell.key, now });
        state = r.state;
        lastSeq = p.seq;
        lastTs = Math.max(lastTs, ts);
        dirty = true;
        KindHost.split(
          resolveEffects(r.effects, { ...base, seq: p.seq, ...(epoch > 0 ? { idBase: `${p.seq}g${epoch}` } : {}) }),
          effects,
          local,
        );
        settled.push(p);
      } catch (err) {
        failed = { p, err };
        break;
      }
    }

    if (
      this.kind.chainLocalJobs === true &&
      failed === null &&
      effects.length === 0 &&
      settled.length > 0 &&
      settled.every((p) => p.local !== undefined) &&
      [...local.keys()].some((id) => !cell.local.has(id))
    ) {
      // A link of a chain (see ActorKind.chainLocalJobs): the next local jobs start from the
      // state in memory; the write that ends the chain journals it. The stored state still holds
      // the chain's first job, which a new owner re-issues.
      cell.state = state;
      cell.local = local;
      cell.queue.splice(0, settled.length);
      this.stats.chained++;
      this.launchLocal(cell, false);
      return;
    }
    if (settled.length > 0) {
      const committed = await this.commit(
        cell,
        dirty,
        state,
        { seq: lastSeq, ts: lastTs, epoch },
        effects,
        settled,
        local,
      );
      if (!committed) return; // revision moved: state reloaded; the loop tries again
    }
    if (failed) await this.retryOrDeadLetter(cell, failed.p, failed.err);
  }

  /** Writes state (if it changed), runs effects, acks (or holds, while local jobs are pending). False if the state moved under us. */
  private async commit(
    cell: Cell,
    dirty: boolean,
    state: unknown,
    applied: { readonly seq: number; readonly ts: number; readonly epoch: number },
    effects: PublishedEffect[],
    settled: Pending[],
    local: Map<string, LocalJob>,
  ): Promise<boolean> {
    if (dirty) {
      const stored: StoredActor = { s: state, q: applied.seq, e: effects, t: this.now() };
      if (applied.ts > 0) stored.qt = applied.ts;
      if (applied.epoch > 0) stored.g = applied.epoch;
      if (local.size > 0) stored.j = [...local.values()];
      const value = encodeJson(stored);
      for (let attempt = 1; ; attempt++) {
        if (!this.alive(cell)) return false;
        try {
          cell.revision =
            cell.revision === 0
              ? await this.io.kv.create(cell.key, value)
              : await this.io.kv.update(cell.key, value, cell.revision);
          this.stats.writes++;
          break;
        } catch (err) {
          if (isWrongLastSequence(err)) {
            // Another writer (a stale owner) moved the state, or created it first: reload and fold again.
            this.log.warn({ key: cell.key }, "state revision moved; reloading");
            cell.loaded = false;
            await this.load(cell);
            if (this.alive(cell)) this.launchLocal(cell, true);
            return false;
          }
          this.log.warn({ key: cell.key, err: errorMessage(err) }, "state write failed; retrying");
          await sleep(backoffDelay(attempt, 50, 2000));
        }
      }
      cell.state = state;
      cell.lastSeq = applied.seq;
      cell.lastTs = applied.ts;
      cell.epoch = applied.epoch;
      cell.lastEffects = effects;
      cell.local = local;
      this.setWake(cell);
    }
    for (let attempt = 1; effects.length > 0; attempt++) {
      if (!this.alive(cell)) return false;
      try {
        await this.io.runEffects(effects);
        break;
      } catch (err) {
        this.log.warn({ key: cell.key, err: errorMessage(err) }, "effects failed; retrying");
        await sleep(backoffDelay(attempt, 50, 5000));
      }
    }
    if (!this.alive(cell)) return false;
    cell.unconfirmed = false;
    cell.queue.splice(0, settled.length);
    const now = this.now();
    let handled = 0;
    for (const p of settled) {
      if (!p.msg) continue; // a local outcome: journaled, nothing to ack
      handled++;
      this.latency.record(now - p.msg.info.timestampNanos / 1e6);
      if (cell.local.size > 0) cell.held.push(p);
      else {
        p.msg.ack();
        p.done();
      }
    }
    if (cell.local.size === 0) {
      for (const p of cell.held.splice(0)) {
        p.msg?.ack();
        p.done();
      }
    }
    this.stats.handled += handled;
    this.launchLocal(cell, false);
    return true;
  }

  /** Starts the pending local jobs of `cell` that do not run yet; their outcomes join its queue. */
  private launchLocal(cell: Cell, reissue: boolean): void {
    for (const job of cell.local.values()) {
      if (cell.runningLocal.has(job.id)) continue;
      cell.runningLocal.add(job.id);
      this.stats.localJobs++;
      if (reissue) this.stats.localReissued++;
      const run = this.io.runLocalJob
        ? this.io.runLocalJob(job.data)
        : Promise.resolve<LocalJobOutcome>({ escalate: "no local jobs on this host" });
      void run
        .catch((err: unknown): LocalJobOutcome => ({ escalate: errorMessage(err) }))
        .then((outcome) => {
          cell.runningLocal.delete(job.id);
          // a partition lost meanwhile: the next owner re-issues the job from the stored state
          if (!this.alive(cell) || this.cells.get(cell.key) !== cell) return;
          cell.queue.push({ msg: null, seq: 0, attempts: 0, done: () => undefined, local: { id: job.id, outcome } });
          if (cell.running) return; // the loop takes it with what it does next
          const linger = this.opts.localLingerMs ?? 200;
          if (cell.runningLocal.size === 0 || linger <= 0) {
            // the last one: one write for every outcome that waited
            if (cell.linger) clearTimeout(cell.linger);
            cell.linger = null;
            void this.run(cell);
          } else if (!cell.linger) {
            cell.linger = setTimeout(() => {
              cell.linger = null;
              if (!cell.running && cell.queue.length > 0) void this.run(cell);
            }, linger);
          }
        });
    }
  }

  private async retryOrDeadLetter(cell: Cell, p: Pending, err: unknown): Promise<void> {
    p.attempts++;
    const policy = this.opts.retry;
    const terminal = err instanceof TerminalError;
    if (!terminal && p.attempts < policy.maxAttempts) {
      this.stats.retries++;
      const delay = backoffDelay(p.attempts, policy.backoffMs, policy.maxBackoffMs);
      this.log.warn(
        { key: cell.key, seq: p.seq, attempt: p.attempts, delay, err: errorMessage(err) },
        "handler failed; retrying",
      );
      await sleep(delay);
      return; // still at the head of the queue: the loop retries it
    }
    const reason = errorMessage(err);
    for (let attempt = 1; this.alive(cell); attempt++) {
      try {
        if (p.msg) await this.io.deadLetter(p.msg, reason, p.attempts);
        break;
      } catch (dlqErr) {
        // Never ack a message whose dead letter was not stored.
        this.log.error({ key: cell.key, err: errorMessage(dlqErr) }, "dead letter publish failed; retrying");
        await sleep(backoffDelay(attempt, 100, 5000));
      }
    }
    if (!this.alive(cell)) return;
    this.log.error({ key: cell.key, seq: p.seq, attempts: p.attempts, err: reason }, "message dead-lettered");
    this.stats.deadLettered++;
    cell.queue.shift();
    p.msg?.ack();
    p.done();
  }

  /** Dead-letters a message whose key belongs to another partition, then acks it; never handled. */
  private async misrouted(partition: number, key: string, msg: JsMsg, done: () => void): Promise<void> {
    const right = partitionOf(key, this.opts.partitions);
    const reason = `misrouted: key ${key} belongs to partition ${right}, it was published to partition ${partition}`;
    for (let attempt = 1; this.generations.has(partition); attempt++) {
      try {
        await this.io.deadLetter(msg, reason, 0);
        this.stats.deadLettered++;
        this.stats.misrouted++;
        this.log.error(
          { key, partition, right, seq: msg.seq, subject: msg.subject, redelivered: msg.info.redelivered },
          "misrouted message dead-lettered",
        );
        msg.ack();
        break;
      } catch (err) {
        // never ack a message whose dead letter was not stored
        this.log.error({ key, err: errorMessage(err) }, "dead letter publish failed; retrying");
        await sleep(backoffDelay(attempt, 100, 5000));
      }
    }
    done();
  }

  /** Records the cell's wake-up time from its state (the kind's `wakeAt`). */
  private setWake(cell: Cell): void {
    const at = this.kind.wakeAt ? this.kind.wakeAt(cell.state) : null;
    cell.wakeAt = at;
    if (at === null) this.waking.delete(cell);
    else this.waking.add(cell);
  }

  /** Hands a wake-up to each resident actor whose time came and that has nothing else to do. */
  private wakeDue(now: number): void {
    for (const cell of this.waking) {
      if (this.cells.get(cell.key) !== cell || !this.alive(cell)) {
        this.waking.delete(cell);
        continue;
      }
      // a handler that leaves its time where it was is not woken again for it (no loop)
      if (cell.wakeAt === null || cell.wakeAt > now || cell.wakeAt <= cell.wokeFor) continue;
      if (cell.running || cell.queue.length > 0 || cell.held.length > 0 || cell.runningLocal.size > 0) continue;
      const at = cell.wakeAt;
      cell.wokeFor = at;
      cell.wakeAt = null; // the handled wake-up sets the next one
      this.waking.delete(cell);
      cell.queue.push({ msg: null, seq: 0, attempts: 0, done: () => undefined, wake: at });
      void this.run(cell);
    }
  }

  /** Wakes what is due; evicts idle actors: past the idle time, or the least recently used beyond the limit. */
  private sweep(): void {
    const now = this.now();
    this.wakeDue(now);
    // Map order is least recently used first: stop at the first actor that is not idle long enough.
    for (const [key, cell] of this.cells) {
      if (now - cell.lastActive <= this.opts.idleMs) break;
      if (!cell.running && cell.queue.length === 0 && cell.held.length === 0 && cell.runningLocal.size === 0) {
        // waits for its wake-up (only the resident limit evicts it)
        if (cell.wakeAt !== null && cell.wakeAt > cell.wokeFor) continue;
        this.cells.delete(key);
        this.stats.evictions++;
      }
    }
    if (this.cells.size > this.opts.maxResident) this.evictIdle(this.cells.size - this.opts.maxResident);
  }

  /** Evicts up to `count` idle actors, least recently used first, looking at most at `scan`. */
  private evictIdle(count: number, scan = Infinity): void {
    for (const [key, cell] of this.cells) {
      if (count <= 0 || scan-- <= 0) break;
      if (cell.running || cell.queue.length > 0 || cell.held.length > 0 || cell.runningLocal.size > 0) continue;
      this.cells.delete(key);
      this.stats.evictions++;
      count--;
    }
  }

  /** The partition of a key of this kind. */
  partitionOf(key: string): number {
    return partitionOf(key, this.opts.partitions);
  }
}
