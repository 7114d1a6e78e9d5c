/**
 * The event-log writer: a durable consumer on {ns}.supporters.log.* shared by every node running
 * the supporters domain. It buffers up to `batchRows` records or `batchMs` milliseconds, applies
 * them in one transaction (store.writeBatch: merges, so batches from several nodes converge in
 * any order) and acks only after the commit; a failed batch is retried with backoff.
 */
import type { JsMsg, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { backoffDelay } from "../../actors/backoff";
import { errorMessage } from "../../lib/errors";
import type { SupporterNames } from "./streams";
import { isRecord, type LogRecord } from "./model";
import type { SupporterStore } from "./store";
import { consumeInBatches, decodeBatch, type BatchLoop } from "../../streams/batch-consumer";

/** A running consumer loop. */
export type WriterLoop = BatchLoop<{ written: number; batches: number; failedBatches: number; dropped: number }>;

function isLogRecord(v: unknown): v is LogRecord {
  return isRecord(v) && (v["k"] === "msg" || v["k"] === "step" || v["k"] === "forget") && typeof v["hash"] === "string";
}

/** Starts the writer. */
export async function startSupporterWriter(opts: {
  nats: NatsHandles;
  names: SupporterNames;
  store: SupporterStore;
  logger: Logger;
  batchRows: number;
  batchMs: number;
}): Promise<WriterLoop> {
  const { nats, names, store, logger, batchRows, batchMs } = opts;
  const stats = { written: 0, batches: 0, failedBatches: 0, dropped: 0 };

  async function write(batch: JsMsg[]): Promise<void> {
    const { records, msgs } = decodeBatch(batch, isLogRecord, {
      logger,
      reason: "undecodable event-log",
      onDropped: () => stats.dropped++,
    });
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

  return consumeInBatches({
    nats,
    stream: names.logStream,
    consumer: names.writerConsumer,
    batchRows,
    batchMs,
    logger,
    name: "event-log writer",
    stats,
    write,
  });
}
