/**
 * The Postgres batch writer: a durable consumer on the receipt stream (records and status
 * updates), shared by every node running the receipts domain. It buffers up to `batchRows`
 * messages or `batchMs` milliseconds, writes them in one multi-row INSERT ... ON CONFLICT DO
 * NOTHING plus one batched UPDATE, and acks only after the commit: a crash loses nothing (the
 * unacked messages come back) and a replay changes nothing. A status update whose record is
 * not in Postgres yet is retried later.
 */
import type { JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { ReceiptStatusUpdate } from "../actors/receipt.actor";
import { backoffDelay } from "../actors/backoff";
import { errorMessage } from "../lib/errors";
import type { ReceiptNames } from "../streams/receipts.stream";
import { isReceiptRecord, type ReceiptRecord } from "./record";
import type { ReceiptStore } from "./store";
import { consumeInBatches, type BatchLoop } from "../streams/batch-consumer";

/** A running consumer loop. */
export type ConsumerLoop = BatchLoop<Record<string, number>>;

function isStatusUpdate(v: unknown): v is ReceiptStatusUpdate {
  if (typeof v !== "object" || v === null) return false;
  const u = v as Record<string, unknown>;
  return typeof u["id"] === "string" && typeof u["version"] === "number" && typeof u["status"] === "string" && typeof u["createdAt"] === "number";
}

/** Starts the writer. */
export async function startReceiptWriter(opts: { nats: NatsHandles; names: ReceiptNames; store: ReceiptStore; logger: Logger; batchRows: number; batchMs: number }): Promise<ConsumerLoop> {
  const { nats, names, store, logger, batchRows, batchMs } = opts;
  const stats = { inserted: 0, updated: 0, batches: 0, failedBatches: 0, deferred: 0, dropped: 0 };

  async function write(batch: JsMsg[]): Promise<void> {
    const records: ReceiptRecord[] = [];
    const updates: { u: ReceiptStatusUpdate; msg: JsMsg }[] = [];
    const recordMsgs: JsMsg[] = [];
    for (const msg of batch) {
      let v: unknown;
      try {
        v = msg.json();
      } catch {
        v = undefined;
      }
      if (msg.subject.startsWith(names.recordSubject("")) && isReceiptRecord(v)) {
        records.push(v);
        recordMsgs.push(msg);
      } else if (msg.subject.startsWith(names.statusSubject("")) && isStatusUpdate(v)) {
        updates.push({ u: v, msg });
      } else {
        stats.dropped++;
        logger.error({ subject: msg.subject }, "undecodable message dropped by the receipt writer");
        msg.term("undecodable");
      }
    }
    try {
      const inserted = await store.insertBatch(records);
      const { missing } = await store.applyStatusBatch(updates.map((x) => x.u));
      const late = new Set(missing);
      for (const m of recordMsgs) m.ack();
      for (const { u, msg } of updates) {
        if (late.has(u.id)) {
          stats.deferred++;
          msg.nak(backoffDelay(msg.info.deliveryCount, 500, 30_000));
        } else msg.ack();
      }
      stats.inserted += inserted;
      stats.updated += updates.length - late.size;
      stats.batches++;
    } catch (err) {
      stats.failedBatches++;
      logger.error({ err: errorMessage(err), size: batch.length }, "receipt batch write failed; will retry");
      for (const msg of [...recordMsgs, ...updates.map((x) => x.msg)]) msg.nak(backoffDelay(msg.info.deliveryCount, 1000, 30_000));
    }
  }

  return consumeInBatches({ nats, stream: names.stream, consumer: names.writerConsumer, batchRows, batchMs, logger, name: "receipt writer", stats, write });
}
