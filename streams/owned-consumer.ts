/**
 * An owned consumer: a durable pull consumer that one node at a time consumes, because it holds
 * the lease of what the consumer serves (an actor partition, a singleton such as an intake pump, an
 * intake partition of a domain). Three things every owner needs, written once:
 *
 * - **Reset on taking ownership.** The consumer is deleted and created again, deliver-all, on a
 *   work-queue stream: everything the previous owner left unacked is delivered again, in stream
 *   order, before anything newer, so per-key order holds across owners. The delete also fences a
 *   stale owner: its pull subscription ends with the consumer it pulled from.
 * - **An in-flight bound.** At most `maxInFlight` messages are held (yielded and not yet
 *   settled); the next one is pulled only when one is settled. A redelivery of a message still
 *   held is dropped, not yielded twice.
 * - **Keep-alive.** A message held for longer than a third of the ack wait (retries, slow
 *   effects, a queue in front of a write slot) gets `working()` so that its ack deadline moves
 *   on and the server does not deliver it again behind the holder's back.
 *
 * - **No silent stall.** A pull that a server fault swallowed (the consumer's leader moved, the
 *   client reconnected) is noticed by the missed idle heartbeats within {@link PULL_EXPIRES_MS}
 *   and issued again. A consumer that is gone (the client's check after missed heartbeats says
 *   "consumer not found": lost in a meta-leader change, deleted behind the owner's back) ends
 *   the iteration with {@link ConsumerGoneError} instead of waiting forever: the owner opens it
 *   again (with a reset) while it still holds the lease.
 *
 * - **No silent skip.** nats-server 2.9 can leave a consumer that reports nothing pending and
 *   nothing in flight while its stream holds messages in its filter: after a partition or a
 *   replica reset, its leader read a replica that had stopped, or its state had moved past
 *   sequences the stream then gave to new messages. And after a server kill a consumer can report
 *   messages pending with no pull waiting at the server and none coming from the client. Every
 *   {@link STALL_CHECK_MS} a consumer with nothing awaiting an ack and nothing held here is
 *   looked at: messages pending, or (nothing pending) messages its stream holds in its filter.
 *   Two such looks in a row, with nothing delivered in between, end the iteration with
 *   {@link ConsumerGoneError} (`stalled`): an owner opens it again with a reset, which delivers
 *   everything the stream holds for it, in order. A consumer that is pulled delivers what is
 *   pending well within the 30 s between looks. Work-queue streams only (what a stream holds is
 *   what is not acked yet).
 *
 * Each owner keeps its own consumer config (filter subject, ack wait, max ack pending) and its
 * own settling: it acks (or terms, or leaves unacked) and then calls {@link OwnedConsumer.settle}.
 */
import {
  AckPolicy,
  DeliverPolicy,
  isConsumerNotFound,
  type ConsumerMessages,
  type JsMsg,
  type NatsHandles,
} from "../nats";

/**
 * How long one pull waits at the server (ms); the idle heartbeat is half of it, and two missed
 * heartbeats make the client check the consumer and pull again. The client's default (30 s)
 * left a partition idle for 30 s after every consumer leader change.
 */
export const PULL_EXPIRES_MS = 10_000;

/** How often an owned consumer checks that it is not stalled (see the module doc), ms. */
export const STALL_CHECK_MS = 30_000;

/**
 * The consumer an owned consumer pulled from is gone, or `stalled`: it exists, but will not
 * deliver what its stream holds for it (see the module doc); only a reset brings that back.
 */
export class ConsumerGoneError extends Error {
  readonly code = "CONSUMER_GONE";
  constructor(
    readonly stream: string,
    readonly durable: string,
    why: string,
    readonly stalled = false,
  ) {
    super(`consumer ${stream}/${durable} is ${stalled ? "stalled" : "gone"} (${why})`);
    this.name = "ConsumerGoneError";
  }
}

/**
 * One look at a consumer with nothing awaiting an ack: the messages waiting for it (pending, or
 * stored in its filter while it reports none pending), and its delivered sequence.
 */
export interface StallSample {
  readonly waiting: number;
  readonly delivered: number;
}

/**
 * Looks at the consumer of `spec`: null unless nothing awaits an ack while messages wait for it
 * (it reports them pending, or reports none while its stream holds some in its filter).
 */
export async function stallSample(h: NatsHandles, spec: OwnedConsumerSpec): Promise<StallSample | null> {
  const ci = await h.jsm.consumers.info(spec.stream, spec.durable);
  if (ci.num_ack_pending > 0) return null;
  if (ci.num_pending > 0) return { waiting: ci.num_pending, delivered: ci.delivered.stream_seq };
  let stored: number;
  if (spec.filterSubject === undefined) stored = (await h.jsm.streams.info(spec.stream)).state.messages;
  else {
    const si = await h.jsm.streams.info(spec.stream, { subjects_filter: spec.filterSubject });
    stored = Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  }
  return stored > 0 ? { waiting: stored, delivered: ci.delivered.stream_seq } : null;
}

/**
 * True when two looks in a row (`prev`, then `next`) found messages waiting for the consumer
 * and it delivered nothing in between: a message that merely arrived between a look's two reads
 * (or a moment before it) is delivered before the next look.
 */
export function isStalled(prev: StallSample | null, next: StallSample | null): boolean {
  return prev !== null && next !== null && prev.delivered === next.delivered;
}

/** The durable consumer an owner consumes. */
export interface OwnedConsumerSpec {
  readonly stream: string;
  readonly durable: string;
  /** Only the subjects of what is owned (absent: the whole stream). */
  readonly filterSubject?: string;
  /** Ack wait of the consumer; the keep-alive runs every third of it. */
  readonly ackWaitMs: number;
  /** The server's bound on unacked messages of this consumer. */
  readonly maxAckPending: number;
}

/** How an owned consumer is opened. */
export interface OwnedConsumerOptions {
  /**
   * True when ownership was just taken: delete and re-create the consumer (see the module doc).
   * False: use the consumer as it is, creating it if it does not exist.
   */
  readonly reset: boolean;
  /** Messages the client buffers per pull (`consume({ max_messages })`). */
  readonly pullBatch: number;
  /** Messages held (yielded, not yet settled) at most; default: no bound beyond the server's. */
  readonly maxInFlight?: number;
  /** How often to check for a stall (ms); 0: never. Default {@link STALL_CHECK_MS}. */
  readonly stallCheckMs?: number;
}

/** The consumer config of `spec`: explicit acks, deliver-all, redelivered until acked. */
function consumerConfig(spec: OwnedConsumerSpec) {
  return {
    durable_name: spec.durable,
    ...(spec.filterSubject !== undefined ? { filter_subject: spec.filterSubject } : {}),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: spec.ackWaitMs * 1_000_000,
    max_deliver: -1,
    max_ack_pending: spec.maxAckPending,
  };
}

/**
 * Deletes the durable consumer of `spec` (if it exists) and creates it again, deliver-all: every
 * message still on the work-queue stream is delivered again, in stream order.
 */
export async function resetConsumer(h: NatsHandles, spec: OwnedConsumerSpec): Promise<void> {
  try {
    await h.jsm.consumers.delete(spec.stream, spec.durable);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
  }
  await h.jsm.consumers.add(spec.stream, consumerConfig(spec));
}

/** Creates the durable consumer of `spec` unless it exists (an existing one is left as it is). */
export async function ensureConsumer(h: NatsHandles, spec: OwnedConsumerSpec): Promise<void> {
  try {
    await h.jsm.consumers.info(spec.stream, spec.durable);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    await h.jsm.consumers.add(spec.stream, consumerConfig(spec));
  }
}

/**
 * A consumer this node owns (see the module doc). Iterate it once (`for await`): it yields each
 * message once while it is held; settle every yielded message when done with it. The iteration
 * ends on {@link close}, or throws when the underlying pull fails (the consumer was deleted, the
 * connection closed).
 */
export class OwnedConsumer implements AsyncIterable<JsMsg> {
  /** Held messages by stream sequence, with the time each was yielded. */
  private readonly held = new Map<number, { readonly msg: JsMsg; readonly since: number }>();
  private readonly maxInFlight: number;
  private wake: (() => void) | null = null;
  private closed = false;
  /** Set when the consumer turned out to be gone; the iteration then throws it. */
  private gone: ConsumerGoneError | null = null;
  private readonly keepAliveTimer: NodeJS.Timeout;
  private readonly stallTimer: NodeJS.Timeout | null;
  private lastStall: StallSample | null = null;
  private checking = false;

  private constructor(
    private readonly h: NatsHandles,
    private readonly iter: ConsumerMessages,
    readonly spec: OwnedConsumerSpec,
    maxInFlight: number | undefined,
    stallCheckMs: number,
  ) {
    this.maxInFlight = maxInFlight ?? Number.POSITIVE_INFINITY;
    const period = Math.max(1000, Math.round(spec.ackWaitMs / 3));
    this.keepAliveTimer = setInterval(() => this.keepAlive(), period);
    this.keepAliveTimer.unref?.();
    this.stallTimer = stallCheckMs > 0 ? setInterval(() => void this.checkStall(), stallCheckMs) : null;
    this.stallTimer?.unref?.();
    void this.watchStatus();
  }

  /** One stall check (see the module doc); a failed look (NATS busy or away) gives no verdict. */
  private async checkStall(): Promise<void> {
    if (this.closed || this.gone || this.checking || this.held.size > 0) return;
    this.checking = true;
    try {
      const next = await stallSample(this.h, this.spec);
      if (this.closed || this.held.size > 0) return;
      if (isStalled(this.lastStall, next)) {
        const why = `${next!.waiting} messages waiting, none awaiting an ack, delivered ${next!.delivered} unchanged`;
        this.end(new ConsumerGoneError(this.spec.stream, this.spec.durable, why, true));
        return;
      }
      this.lastStall = next;
    } catch {
      this.lastStall = null;
    } finally {
      this.checking = false;
    }
  }

  /** Ends the iteration with `err` (the next step of the iteration throws it). */
  private end(err: ConsumerGoneError): void {
    if (this.gone) return;
    this.gone = err;
    this.wake?.();
    void this.iter.close().catch(() => undefined);
  }

  /** Ends the iteration when the client reports the consumer or its stream missing. */
  private async watchStatus(): Promise<void> {
    for await (const n of this.iter.status()) {
      if (this.closed) return;
      if (n.type === "consumer_not_found" || n.type === "stream_not_found") {
        this.end(new ConsumerGoneError(this.spec.stream, this.spec.durable, n.type.replace(/_/g, " ")));
        return;
      }
    }
  }

  /**
   * Opens the consumer of `spec`: resets it when `opts.reset` (ownership just taken), otherwise
   * makes sure it exists, then starts pulling.
   */
  static async open(h: NatsHandles, spec: OwnedConsumerSpec, opts: OwnedConsumerOptions): Promise<OwnedConsumer> {
    if (opts.reset) await resetConsumer(h, spec);
    else await ensureConsumer(h, spec);
    const consumer = await h.js.consumers.get(spec.stream, spec.durable);
    const iter = await consumer.consume({ max_messages: Math.max(1, opts.pullBatch), expires: PULL_EXPIRES_MS });
    return new OwnedConsumer(h, iter, spec, opts.maxInFlight, opts.stallCheckMs ?? STALL_CHECK_MS);
  }

  /** Messages held: yielded and not yet settled. */
  get inFlight(): number {
    return this.held.size;
  }

  /** True while the message with stream sequence `seq` is held. */
  holds(seq: number): boolean {
    return this.held.has(seq);
  }

  /**
   * The owner is done with `msg` (acked, dead-lettered, or abandoned for the next owner): it no
   * longer counts against the in-flight bound and is no longer kept alive.
   */
  settle(msg: JsMsg): void {
    if (!this.held.delete(msg.seq)) return;
    if (this.wake && this.held.size < this.maxInFlight) this.wake();
  }

  /** Stops pulling. Held messages stay unacked (they come back to the next owner). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.wake?.();
    await this.iter.close().catch(() => undefined);
  }

  /** True once {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Yields each message once while it is held. Ends on {@link close}; throws
   * {@link ConsumerGoneError} when the consumer is gone, or what the pull failed with.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    for await (const msg of this.iter) {
      if (this.closed) return;
      if (this.gone) throw this.gone;
      if (this.held.has(msg.seq)) continue; // a redelivery of a message still held
      this.held.set(msg.seq, { msg, since: Date.now() });
      yield msg;
      while (!this.closed && !this.gone && this.held.size >= this.maxInFlight) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
      if (this.closed) return;
      if (this.gone) throw this.gone;
    }
    if (this.gone && !this.closed) throw this.gone;
  }

  /** Extends the ack deadline of messages held for more than a third of the ack wait. */
  private keepAlive(): void {
    const threshold = Date.now() - this.spec.ackWaitMs / 3;
    for (const { msg, since } of this.held.values()) if (since < threshold) msg.working();
  }
}
