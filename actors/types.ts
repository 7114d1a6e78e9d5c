/**
 * Contracts of the actor runtime. An actor kind is a pure function from (state, message) to
 * (state, effects); the runtime does all I/O: mailboxes (JetStream), state (KV), effects.
 */

/** One message as an actor's handler sees it. */
export interface ActorMessage<M = unknown> {
  /** The actor's key (one subject token). */
  readonly key: string;
  /** JetStream stream sequence: unique and increasing per key in publish order. */
  readonly seq: number;
  readonly data: M;
  /** NATS headers of the message (first value of each). */
  readonly headers: Readonly<Record<string, string>>;
  /** When JetStream stored the message (ms since the epoch). */
  readonly publishedAt: number;
  /** How many times JetStream has delivered this message (1 the first time). */
  readonly deliveryCount: number;
}

/** What a handler knows besides state and message; never read the clock directly. */
export interface HandlerContext {
  readonly kind: string;
  readonly key: string;
  /** The runtime's clock at the time of handling (ms since the epoch). */
  readonly now: number;
}

/**
 * Side effects a handler asks for. They run after the new state is stored, at least once, each
 * with an idempotency key (`id`, default `{kind}:{key}:{seq}:{index}`) used as `Nats-Msg-Id`.
 */
export type Effect =
  /** A message to another actor (or this one), durably through its mailbox stream. */
  | {
      readonly type: "send";
      readonly kind: string;
      readonly key: string;
      readonly data: unknown;
      readonly id?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** A job for a worker; its result returns to this actor as a {@link JobResult} message. */
  | {
      readonly type: "job";
      readonly job: string;
      readonly data: unknown;
      readonly id?: string;
      readonly deadlineMs?: number;
      readonly replyTo?: { readonly kind: string; readonly key: string } | null;
      /**
       * A local job (as Temporal's local activities): run on this actor's node right after the
       * state write that records it as pending, its outcome journaled in the actor's next state
       * write, instead of a round trip through the jobs stream. A new owner re-issues the local
       * jobs it finds pending in state. A run that fails retryably (or meets an open breaker, or
       * finds the job not hosted on this node) goes to the jobs stream as an ordinary job. Only
       * for jobs that answer this actor (or nobody); the job must be idempotent by its id.
       */
      readonly local?: boolean;
    }
  /** A durable publish to any subject captured by a stream. */
  | {
      readonly type: "publish";
      readonly subject: string;
      readonly data: unknown;
      readonly id?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** A Moleculer broadcast event (live plane: at most once, never the only copy). */
  | { readonly type: "emit"; readonly event: string; readonly payload: unknown }
  /**
   * A core NATS publish of `data` (JSON) to `subject` (live plane: at most once, never the only
   * copy), e.g. an answer to the one node that waits for it: no stream, no ack, no broadcast.
   */
  | { readonly type: "notify"; readonly subject: string; readonly data: unknown };

/** A handler's answer. */
export interface HandlerResult<S> {
  readonly state: S;
  readonly effects?: readonly Effect[];
}

/** Retry policy for a handler that throws. */
export interface RetryPolicy {
  /** Tries before the message goes to the DLQ (first try included). */
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

/** The declaration of an actor kind. */
export interface ActorKind<S = unknown, M = unknown> {
  /** Kind name: one lower-case subject token, e.g. "foo". */
  readonly name: string;
  /** Partition count (fixed once the kind's stream exists); default from config. */
  readonly partitions?: number;
  /**
   * Revisions of each actor's state its KV bucket keeps (1 to 64, default 1), for operators to
   * read with their diffs; applied when the bucket is created (an existing bucket keeps its own).
   */
  readonly stateHistory?: number;
  /**
   * Chained local jobs (default false). When set, a batch made only of local jobs' outcomes
   * whose handling asks for nothing but new local jobs is not written: the new jobs start at once
   * from the state in memory, and the chain's outcomes are journaled together in the write that
   * ends it (an outcome that asks for anything else or for nothing, or any mailbox message). One
   * state write per chain instead of one per link. The last write holds the chain's first
   * pending job, so a new owner after a crash re-issues it and the chain runs again from there:
   * only for kinds whose local jobs are all idempotent by their id (as every job must be) and
   * whose readers can wait for the chain's end to see its steps.
   */
  readonly chainLocalJobs?: boolean;
  /** The state of an actor that has never handled a message. */
  initialState(key: string): S;
  /**
   * Pure: no I/O, deterministic given (state, message, ctx). Throwing retries the message
   * with backoff (the key waits, others flow), then sends it to the DLQ; a TerminalError goes
   * to the DLQ at once.
   */
  handle(state: S, msg: ActorMessage<M>, ctx: HandlerContext): HandlerResult<S>;
  readonly retry?: Partial<RetryPolicy>;
  /**
   * Pure: when (ms since the epoch) an actor in `state` wants to be handled again although no
   * message came, or null. While the actor is resident, its host hands it a {@link WakeMessage}
   * once that time passed and nothing else is queued for it (e.g. to re-issue a job whose result
   * never came). A timer of the resident actor only: it is not stored, an actor that left memory
   * (or moved to another node) wakes with its next message, which the handler sees anyway.
   */
  wakeAt?(state: S): number | null;
}

/** The data of the message a host hands an actor whose {@link ActorKind.wakeAt} passed. */
export interface WakeMessage {
  /** The time it was due (ms since the epoch). */
  readonly $wake: number;
}

/** True when `data` is a {@link WakeMessage}. */
export function isWake(data: unknown): data is WakeMessage {
  return typeof data === "object" && data !== null && typeof (data as { $wake?: unknown }).$wake === "number";
}

/** A job's request envelope, as stored in the jobs stream. */
export interface JobEnvelope<D = unknown> {
  readonly id: string;
  readonly job: string;
  readonly data: D;
  /** Absolute deadline (ms since the epoch): past it the job fails for good. */
  readonly deadline: number;
  readonly createdAt: number;
  readonly replyTo: { readonly kind: string; readonly key: string } | null;
}

/** The message a job sends back to the actor that asked for it. */
export interface JobResult<R = unknown> {
  readonly $job: {
    readonly id: string;
    readonly job: string;
    readonly ok: boolean;
    readonly result?: R;
    readonly error?: string;
    /** When not ok: true if the failure was a final refusal (TerminalError), false if the deadline passed. */
    readonly terminal?: boolean;
    readonly attempts: number;
  };
}

/** What a job's code sees. */
export interface JobContext {
  readonly id: string;
  readonly attempt: number;
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/** The declaration of a job: slow or unreliable I/O done outside actors. */
export interface JobDefinition<D = unknown, R = unknown> {
  /** Job name: one lower-case subject token, e.g. "taxregister". */
  readonly name: string;
  /** Does the work. Throw RetryableError (or anything) to retry, TerminalError to fail for good. */
  run(data: D, ctx: JobContext): Promise<R>;
  /** Parallel runs per node. */
  readonly concurrency?: number;
  /** Per-attempt time limit; the signal aborts when it passes. */
  readonly timeoutMs?: number;
  /** Default deadline after creation (default 24 h). */
  readonly deadlineMs?: number;
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** After `failures` failures in a row, stop calling for `openMs`, then try one call. */
  readonly breaker?: { readonly failures: number; readonly openMs: number };
}

/** True when `data` is a job result message. */
export function isJobResult(data: unknown): data is JobResult {
  return typeof data === "object" && data !== null && "$job" in data;
}

/** Who owns one partition of one kind. */
export interface PartitionOwnership {
  readonly kind: string;
  readonly partition: number;
  readonly owner: string | null;
  /** The owner chosen by rendezvous hashing over live nodes. */
  readonly desired: string | null;
}

/** One dead letter, as listed to operators. */
export interface DlqEntry {
  /** Sequence in the DLQ stream: the handle for replay. */
  readonly seq: number;
  readonly subject: string;
  /** Where the message was addressed (actor mailbox or job subject). */
  readonly originalSubject: string;
  readonly error: string;
  /** Handler attempts made before giving up. */
  readonly attempts: number;
  /** JetStream delivery count of the original message when it was given up. */
  readonly deliveryCount: number;
  readonly failedAt: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: unknown;
}

/** Counters of one durable consumer. */
export interface ConsumerStats {
  readonly stream: string;
  readonly consumer: string;
  readonly pending: number;
  readonly ackPending: number;
  readonly redelivered: number;
  readonly waiting: number;
}

/** The actor runtime as the rest of a node uses it. */
export interface ActorRuntime {
  /** True once streams exist and every partition of every hosted kind has an owner. */
  isReady(): boolean;
  /**
   * Puts a message in an actor's mailbox and resolves once JetStream stored it (publish ack).
   * `id` becomes `Nats-Msg-Id`: the same id within the duplicate window is stored once.
   */
  send(
    kind: string,
    key: string,
    data: unknown,
    opts?: { id?: string; headers?: Record<string, string> },
  ): Promise<{ seq: number; duplicate: boolean }>;
  /** The stored state of an actor (from KV), or undefined if it never handled a message. */
  getState<S = unknown>(kind: string, key: string): Promise<S | undefined>;
  /** Ownership of every partition of every hosted kind, as this node sees it. */
  partitions(): PartitionOwnership[];
  /** Resident (in-memory) actor count per kind on this node. */
  actorCounts(): Record<string, number>;
  /** Counters of every consumer of the runtime's streams. */
  consumerStats(): Promise<ConsumerStats[]>;
  /** Dead letters whose subject matches `filter` (default all), oldest first. */
  dlqList(opts?: { filter?: string; limit?: number; afterSeq?: number }): Promise<DlqEntry[]>;
  /** Re-publishes dead letters to their original subjects and removes them from the DLQ. */
  dlqReplay(seqs: readonly number[]): Promise<{ replayed: number[]; missing: number[] }>;
  /** Handling counters per hosted kind (handled, writes, duplicates, dead-lettered, ...). */
  hostStats(): Record<string, Record<string, number>>;
  /** Counters and breaker state per hosted job. */
  jobStats(): Record<string, Record<string, number | string>>;
  /** Partitions owned by this node. */
  ownedPartitions(): number;
  /** Forgets recorded publish-to-handled latencies. */
  resetLatency(): void;
  /** Messages in the DLQ stream. */
  dlqDepth(): Promise<number>;
  /** Sets where `emit` effects go (the node's Moleculer broker). */
  setEmitter(emit: (event: string, payload: unknown) => void): void;
}
