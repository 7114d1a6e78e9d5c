/**
 * Consumes one partition of one actor kind: a durable pull consumer on the kind's stream,
 * filtered to the partition's subjects. Taking a partition resets its consumer (delete and
 * create, deliver-all on a work-queue stream), so everything not yet acked is delivered again,
 * in stream order, before anything newer: per-key order holds across owners.
 */
import {
  AckPolicy,
  DeliverPolicy,
  isJsApiError,
  JetStreamApiCodes,
  type ConsumerMessages,
  type JsMsg,
  type NatsHandles,
} from "../nats";
import type { Logger } from "../lib/logger";
import type { Topology } from "../streams/subjects";
import type { KindHost } from "./host";
import { errorMessage } from "../lib/errors";

/** Tunables of a partition worker. */
export interface PartitionOptions {
  /** Messages held in memory (queued or in flight) per partition. */
  readonly maxInFlight: number;
  readonly ackWaitMs: number;
}

/** Consumes one partition (see the module doc). */
export class PartitionWorker {
  private readonly inflight = new Map<number, { msg: JsMsg; since: number }>();
  private messages: ConsumerMessages | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly h: NatsHandles,
    private readonly topo: Topology,
    private readonly kind: string,
    readonly partition: number,
    private readonly host: KindHost,
    private readonly opts: PartitionOptions,
    private readonly log: Logger,
  ) {}

  private get stream(): string {
    return this.topo.actors.stream(this.kind);
  }

  private get durable(): string {
    return this.topo.actors.consumer(this.partition);
  }

  /** Resets the consumer and starts consuming. */
  async start(): Promise<void> {
    await this.resetConsumer();
    this.host.openPartition(this.partition);
    const consumer = await this.h.js.consumers.get(this.stream, this.durable);
    this.messages = await consumer.consume({ max_messages: Math.min(256, this.opts.maxInFlight) });
    this.heartbeat = setInterval(() => this.keepAlive(), Math.max(1000, Math.round(this.opts.ackWaitMs / 3)));
    this.loop = this.run(this.messages);
  }

  /**
   * Stops consuming. With `drain`, waits (up to the ack wait) for in-flight messages to be
   * settled; without, abandons them unacked for the next owner.
   */
  async stop(drain: boolean): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wake?.();
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    if (drain) {
      const deadline = Date.now() + this.opts.ackWaitMs;
      while (this.inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    }
    this.host.closePartition(this.partition);
    this.inflight.clear();
  }

  /** Messages held by this partition. */
  get held(): number {
    return this.inflight.size;
  }

  private async resetConsumer(): Promise<void> {
    try {
      await this.h.jsm.consumers.delete(this.stream, this.durable);
    } catch (err) {
      if (!isJsApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    await this.h.jsm.consumers.add(this.stream, {
      durable_name: this.durable,
      filter_subject: this.topo.actors.partitionFilter(this.kind, this.partition),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.opts.ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: this.opts.maxInFlight * 2,
    });
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        if (this.stopped) break;
        if (this.inflight.has(msg.seq)) continue; // a redelivery of a message we still hold
        const key = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
        this.inflight.set(msg.seq, { msg, since: Date.now() });
        this.host.deliver(this.partition, key, msg, () => {
          this.inflight.delete(msg.seq);
          if (this.wake && this.inflight.size < this.opts.maxInFlight) this.wake();
        });
        while (!this.stopped && this.inflight.size >= this.opts.maxInFlight) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
        }
      }
    } catch (err) {
      if (!this.stopped)
        this.log.error(
          { kind: this.kind, partition: this.partition, err: errorMessage(err) },
          "partition consumer failed",
        );
    }
  }

  /** Extends the ack deadline of messages held for long (retries, slow effects). */
  private keepAlive(): void {
    const threshold = Date.now() - this.opts.ackWaitMs / 3;
    for (const { msg, since } of this.inflight.values()) if (since < threshold) msg.working();
  }
}
