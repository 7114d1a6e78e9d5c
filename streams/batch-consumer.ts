/**
 * A durable consumer whose messages are handled in batches: it buffers up to `batchRows`
 * messages or `batchMs` milliseconds, then calls `write(batch)`, one batch at a time (at most
 * one more waits behind it: back-pressure). `write` settles every message (ack after its commit,
 * nak with backoff on failure); a crash before that loses nothing, the messages come back. The
 * Postgres writers of every domain use it.
 */
import type { ConsumerMessages, JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { PULL_EXPIRES_MS } from "./owned-consumer";

/** A running batch consumer. */
export interface BatchLoop<S extends object> {
  readonly stats: S;
  /** True while the loop is consuming. */
  running(): boolean;
  /** Stops consuming, then writes what is buffered. */
  stop(): Promise<void>;
}

/** Starts consuming `stream`/`consumer` in batches (see the module doc). */
export async function consumeInBatches<S extends object>(opts: {
  nats: NatsHandles;
  stream: string;
  consumer: string;
  batchRows: number;
  batchMs: number;
  logger: Logger;
  /** Names the loop in logs. */
  name: string;
  stats: S;
  write: (batch: JsMsg[]) => Promise<void>;
}): Promise<BatchLoop<S>> {
  const { batchRows, batchMs, logger, write } = opts;
  const consumer = await opts.nats.js.consumers.get(opts.stream, opts.consumer);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: batchRows * 2, expires: PULL_EXPIRES_MS });
  let buffer: JsMsg[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;

  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (buffer.length === 0) return flushing;
    const batch = buffer;
    buffer = [];
    flushing = flushing.then(() =>
      write(batch).catch((err: unknown) => {
        // `write` settles its messages; an escape here leaves them to redelivery.
        logger.error({ err: errorMessage(err), size: batch.length }, `${opts.name}: batch failed`);
      }),
    );
    return flushing;
  }

  const loop = (async () => {
    try {
      for await (const msg of messages) {
        buffer.push(msg);
        if (buffer.length >= batchRows) await flush();
        else if (!timer) timer = setTimeout(() => void flush(), batchMs);
      }
    } catch (err) {
      if (!stopped) logger.error({ err: errorMessage(err) }, `${opts.name}: consumer failed`);
    }
  })();

  return {
    stats: opts.stats,
    running: () => !stopped,
    async stop() {
      stopped = true;
      await messages.close().catch(() => undefined);
      await loop;
      await flush();
    },
  };
}

/** The messages of a batch that decoded to a `T`, each beside its record. */
export interface Decoded<T> {
  readonly records: T[];
  readonly msgs: JsMsg[];
}

/**
 * Decodes every message of `batch` as JSON and keeps those `guard` accepts, in order; any other
 * (not JSON, or refused by `guard`) is terminated with `reason`, logged with its subject and
 * sequence, and counted by `onDropped`. The caller then writes `records` and settles `msgs`.
 */
export function decodeBatch<T>(
  batch: readonly JsMsg[],
  guard: (v: unknown) => v is T,
  opts: { readonly logger: Logger; readonly reason: string; readonly onDropped?: () => void },
): Decoded<T> {
  const records: T[] = [];
  const msgs: JsMsg[] = [];
  for (const msg of batch) {
    let v: unknown;
    try {
      v = msg.json();
    } catch {
      v = undefined;
    }
    if (guard(v)) {
      records.push(v);
      msgs.push(msg);
    } else {
      opts.onDropped?.();
      opts.logger.error({ subject: msg.subject, seq: msg.seq }, `${opts.reason} record refused`);
      msg.term(opts.reason);
    }
  }
  return { records, msgs };
}
