/**
 * The ledger writer: a durable consumer on {ns}.rewards.ledger.* shared by every node hosting
 * the rewards domain. It buffers ledger records, inserts them in one statement (idempotent:
 * keyed by tx, leg and place in the leg) and acks only after the commit; a failed batch is retried with
 * backoff, an undecodable record is terminated and logged.
 */
import type { JsMsg, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { backoffDelay } from "../../actors/backoff";
import { errorMessage } from "../../lib/errors";
import { consumeInBatches, decodeBatch, type BatchLoop } from "../../streams/batch-consumer";
import { isRecord, type LedgerRecord, type Posting } from "./model";
import type { RewardStore } from "./store";
import type { RewardNames } from "./streams";

/** The running ledger writer. */
export type LedgerWriter = BatchLoop<{
  records: number;
  rows: number;
  batches: number;
  failedBatches: number;
  dropped: number;
}>;

function isPosting(p: unknown): p is Posting {
  return isRecord(p) && typeof p["account"] === "string" && Number.isSafeInteger(p["amount"]);
}

/** A ledger record whose postings balance (anything else is refused, never written). */
function isLedgerRecord(v: unknown): v is LedgerRecord {
  if (!isRecord(v)) return false;
  const postings = v["postings"];
  return (
    typeof v["tx"] === "string" &&
    typeof v["leg"] === "string" &&
    typeof v["kind"] === "string" &&
    typeof v["at"] === "number" &&
    Array.isArray(postings) &&
    postings.every(isPosting) &&
    postings.reduce((s: number, p: Posting) => s + p.amount, 0) === 0
  );
}

/** Starts the ledger writer. */
export async function startLedgerWriter(opts: {
  nats: NatsHandles;
  names: RewardNames;
  store: RewardStore;
  logger: Logger;
  batchRows: number;
  batchMs: number;
}): Promise<LedgerWriter> {
  const { store, logger } = opts;
  const stats = { records: 0, rows: 0, batches: 0, failedBatches: 0, dropped: 0 };

  async function write(batch: JsMsg[]): Promise<void> {
    const { records, msgs } = decodeBatch(batch, isLedgerRecord, {
      logger,
      reason: "undecodable or unbalanced ledger",
      onDropped: () => stats.dropped++,
    });
    if (records.length === 0) return;
    try {
      stats.rows += await store.writeLedger(records);
      for (const m of msgs) m.ack();
      stats.records += records.length;
      stats.batches++;
    } catch (err) {
      stats.failedBatches++;
      logger.error({ err: errorMessage(err), size: records.length }, "ledger batch failed; will retry");
      for (const m of msgs) m.nak(backoffDelay(m.info.deliveryCount, 500, 30_000));
    }
  }

  return consumeInBatches({
    nats: opts.nats,
    stream: opts.names.ledgerStream,
    consumer: opts.names.ledgerConsumer,
    batchRows: opts.batchRows,
    batchMs: opts.batchMs,
    logger,
    name: "ledger writer",
    stats,
    write,
  });
}
