/**
 * Consumes one partition of one actor kind: a durable pull consumer on the kind's stream,
 * filtered to the partition's subjects. Taking a partition resets its consumer (delete and
 * create, deliver-all on a work-queue stream), so everything not yet acked is delivered again,
 * in stream order, before anything newer: per-key order holds across owners. A consumer that
 * fails under the owner (gone after a meta-leader change, its pull broken) is opened again the
 * same way while the partition is still this node's, so a server fault never leaves an owned
 * partition unconsumed.
 */
import type { NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { Topology } from "../streams/subjects";
import { OwnedConsumer, type OwnedConsumerSpec } from "../streams/owned-consumer";
import type { KindHost } from "./host";
import { errorMessage } from "../lib/errors";
import { backoffDelay } from "./backoff";
import { sleep } from "./codec";

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
  private stopped = false;
  /** Times the consumer was opened again after it failed. */
  reopened = 0;

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

  private open(): Promise<OwnedConsumer> {
    return OwnedConsumer.open(this.h, this.spec, {
      reset: true,
      pullBatch: Math.min(256, this.opts.maxInFlight),
      maxInFlight: this.opts.maxInFlight,
    });
  }

  /** Resets the consumer and starts consuming. */
  async start(): Promise<void> {
    const consumer = await this.open();
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
    this.stopped = true;
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

  private async run(first: OwnedConsumer): Promise<void> {
    for (let consumer = first; ;) {
      try {
        for await (const msg of consumer) {
          const keyAt = msg.subject.lastIndexOf(".");
          const subjectPartition = msg.subject.slice(msg.subject.lastIndexOf(".", keyAt - 1) + 1, keyAt);
          if (subjectPartition !== String(this.partition)) {
            // Outside the consumer's filter: the server's consumer state is broken (seen on
            // nats-server 2.9 after a stream's replicas were reset in a leader change, where
            // consumers of two partitions delivered each other's messages). The message belongs
            // to another partition's owner: never ack it (on a work queue that would remove it).
            // That partition's consumer may have moved past it, so it is deleted too: its owner
            // opens it again with a reset (as after any lost consumer) and gets the message.
            // This one is opened again from scratch.
            await this.h.jsm.consumers
              .delete(this.spec.stream, this.topo.actors.consumer(Number(subjectPartition)))
              .catch(() => undefined);
            throw new Error(
              `consumer delivered ${msg.subject} (seq ${msg.seq}) outside its filter ${this.spec.filterSubject}`,
            );
          }
          this.host.deliver(this.partition, msg.subject.slice(keyAt + 1), msg, () => consumer.settle(msg));
        }
      } catch (err) {
        if (!consumer.isClosed)
          this.log.error(
            { kind: this.kind, partition: this.partition, err: errorMessage(err) },
            "partition consumer failed; opening it again",
          );
      }
      if (this.stopped || consumer.isClosed) return;
      await consumer.close();
      const next = await this.reopen();
      if (!next) return;
      consumer = next;
    }
  }

  /**
   * Opens the consumer again (reset: what was handed out and not acked comes again, in order)
   * until it works or the partition is stopped. Messages queued under the failed consumer are
   * abandoned first (a new generation), so nothing is handled twice at once.
   */
  private async reopen(): Promise<OwnedConsumer | null> {
    for (let attempt = 1; !this.stopped; attempt++) {
      await sleep(backoffDelay(attempt, 500, 5000));
      if (this.stopped) return null;
      try {
        this.host.closePartition(this.partition);
        const consumer = await this.open();
        if (this.stopped) {
          await consumer.close();
          return null;
        }
        this.consumer = consumer;
        this.host.openPartition(this.partition);
        this.reopened++;
        this.log.warn({ kind: this.kind, partition: this.partition, attempt }, "partition consumer opened again");
        return consumer;
      } catch (err) {
        this.log.warn(
          { kind: this.kind, partition: this.partition, attempt, err: errorMessage(err) },
          "partition consumer did not open; retrying",
        );
      }
    }
    return null;
  }
}
