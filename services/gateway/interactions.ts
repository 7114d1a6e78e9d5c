/**
 * The interactions publisher: records are buffered in memory and published to JetStream in the
 * background (every 100 ms or 200 records), so no request waits for NATS. Sampled
 * (GATEWAY_INTERACTIONS_SAMPLE) and switched off with GATEWAY_INTERACTIONS=off. When NATS is
 * slow the buffer is bounded: beyond 10,000 waiting records new ones are dropped and counted.
 */
import type { JetStreamClient } from "../../nats";
import type { Logger } from "../../lib/logger";
import { sampled, type Interaction } from "../../gateway/interactions";
import type { GatewayNames } from "./streams";

/** Outcomes counted by the metrics. */
export type InteractionOutcome = "published" | "sampled_out" | "dropped" | "failed";

/** What the publisher needs. */
export interface InteractionsDeps {
  readonly js: JetStreamClient;
  readonly names: GatewayNames;
  readonly enabled: boolean;
  readonly sample: number;
  readonly log: Logger;
  readonly count: (outcome: InteractionOutcome, n?: number) => void;
}

/** The publisher of one node. */
export interface InteractionsPublisher {
  /** Queues `i` (after sampling); returns at once. */
  record(i: Interaction): void;
  /** Publishes what is queued now. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  stop(): Promise<void>;
}

const MAX_QUEUED = 10_000;
const FLUSH_AT = 200;
const FLUSH_MS = 100;

/** Starts the publisher (its timer runs until `stop`). */
export function createInteractionsPublisher(deps: InteractionsDeps): InteractionsPublisher {
  const queue: Interaction[] = [];
  let flushing: Promise<void> | undefined;
  const enc = new TextEncoder();

  async function publishAll(batch: Interaction[]): Promise<void> {
    const results = await Promise.allSettled(
      batch.map((i) => deps.js.publish(deps.names.interactionSubject(i.service), enc.encode(JSON.stringify(i)))),
    );
    const failed = results.filter((r) => r.status === "rejected").length;
    if (failed > 0) {
      deps.count("failed", failed);
      deps.log.warn({ failed, of: batch.length }, "interaction records not published");
    }
    deps.count("published", batch.length - failed);
  }

  function flush(): Promise<void> {
    if (flushing) return flushing;
    if (queue.length === 0) return Promise.resolve();
    const batch = queue.splice(0, queue.length);
    flushing = publishAll(batch).finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();

  return {
    record(i) {
      if (!deps.enabled) return;
      if (!sampled(deps.sample, Math.random())) return deps.count("sampled_out");
      if (queue.length >= MAX_QUEUED) return deps.count("dropped");
      queue.push(i);
      if (queue.length >= FLUSH_AT) void flush();
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
