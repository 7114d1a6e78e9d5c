/**
 * The event-log writer: a durable consumer on {ns}.supporters.log.* shared by every node running
 * the supporters domain. It buffers up to `batchRows` records or `batchMs` milliseconds, applies
 * them in one transaction (store.writeBatch: merges, so batches from several nodes converge in
 * any order) and acks only after the commit; a failed batch is retried with backoff.
 */
import type { ConsumerMessages, JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import { backoffDelay } from "../actors/backoff";
import { errorMessage } from "../lib/errors";
import type { SupporterNames } from "../streams/supporters.stream";
import type { LogRecord } from "./model";
import type { SupporterStore } from "./store";

/** A running consumer loop. */
export interface WriterLoop {
  readonly stats: { written: number; batches: number; failedBatches: number; dropped: number };
  running(): boolean;
  stop(): Promise<void>;
}

function isLogRecord(v: unknown): v is LogRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (r["k"] === "msg" || r["k"] === "step" || r["k"] === "forget") && typeof r["hash"] === "string";
}

/** Starts the writer. */
export async function startSupporterWriter(opts: { nats: NatsHandles; names: SupporterNames; store: SupporterStore; logger: Logger; batchRows: number; batchMs: number }): Promise<WriterLoop> {
  const { nats, names, store, logger, batchRows, batchMs } = opts;
  const stats = { written: 0, batches: 0, failedBatches: 0, dropped: 0 };
  const consumer = await nats.js.consumers.get(names.logStream, names.writerConsumer);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: batchRows * 2 });
  let buffer: JsMsg[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;

  async function write(batch: JsMsg[]): Promise<void> {
    const records: LogRecord[] = [];
    const msgs: JsMsg[] = [];
    for (const msg of batch) {
      let v: unknown;
      try {
        v = msg.json();
      } catch {
        v = undefined;
      }
      if (isLogRecord(v)) {
        records.push(v);
        msgs.push(msg);
      } else {
        stats.dropped++;
        logger.error({ subject: msg.subject, seq: msg.seq }, "undecodable event-log record dropped");
        msg.term("undecodable");
      }
    }
    if (records.length === 0) return;
    try {
      await store.writeBatch(records);
      for (const m of msgs) m.ack();
      stats.written += records.length;
      stats.batches++;
    } catch (err) {
      stats.failedBatches++;
      logger.error({ err: errorMessage(err), size: records.length }, "event-log batch failed; will retry");
      for (const m of msgs) m.nak(backoffDelay(m.info.deliveryCount, 500, 30_000));
    }
  }

  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (buffer.length === 0) return flushing;
    const batch = buffer;
    buffer = [];
    flushing = flushing.then(() => write(batch));
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
      if (!stopped) logger.error({ err: errorMessage(err) }, "event-log writer consumer failed");
    }
  })();

  return {
    stats,
    running: () => !stopped,
    async stop() {
      stopped = true;
      await messages.close().catch(() => undefined);
      await loop;
      await flush();
    },
  };
}
