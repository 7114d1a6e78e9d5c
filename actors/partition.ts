/**
 * Consumes one partition of one actor kind: a durable pull consumer on the kind's stream,
 * filtered to the partition's subjects. Taking a partition resets its consumer (delete and
 * create, deliver-all on a work-queue stream), so everything not yet acked is delivered again,
 * in stream order, before anything newer: per-key order holds across owners.
 */
import type { NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { Topology } from "../streams/subjects";
import { OwnedConsumer, type OwnedConsumerSpec } from "../streams/owned-consumer";
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
  private consumer: OwnedConsumer | null = null;
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

  private get spec(): OwnedConsumerSpec {
    return {
      stream: this.topo.actors.stream(this.kind),
      durable: this.topo.actors.consumer(this.partition),
      filterSubject: this.topo.actors.partitionFilter(this.kind, this.partition),
      ackWaitMs: this.opts.ackWaitMs,
      maxAckPending: this.opts.maxInFlight * 2,
    };
  }

  /** Resets the consumer and starts consuming. */
  async start(): Promise<void> {
    const consumer = await OwnedConsumer.open(this.h, this.spec, {
      reset: true,
      pullBatch: Math.min(256, this.opts.maxInFlight),
      maxInFlight: this.opts.maxInFlight,
    });
    this.consumer = consumer;
    // before the first message is delivered (the loop below starts delivering)
    this.host.openPartition(this.partition);
    this.loop = this.run(consumer);
  }

  /**
   * Stops consuming. With `drain`, waits (up to the ack wait) for in-flight messages to be
   * settled; without, abandons them unacked for the next owner.
   */
  async stop(drain: boolean): Promise<void> {
    const consumer = this.consumer;
    await consumer?.close();
    await this.loop?.catch(() => undefined);
    if (drain && consumer) {
      const deadline = Date.now() + this.opts.ackWaitMs;
      while (consumer.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    }
    this.host.closePartition(this.partition);
  }

  /** Messages held by this partition. */
  get held(): number {
    return this.consumer?.inFlight ?? 0;
  }

  private async run(consumer: OwnedConsumer): Promise<void> {
    try {
      for await (const msg of consumer) {
        const key = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
        this.host.deliver(this.partition, key, msg, () => consumer.settle(msg));
      }
    } catch (err) {
      if (!consumer.isClosed)
        this.log.error(
          { kind: this.kind, partition: this.partition, err: errorMessage(err) },
          "partition consumer failed",
        );
    }
  }
}
