/**
 * The ledger writer: two durable consumers shared by every node hosting the rewards domain, one
 * on {ns}.rewards.ledger.* (receivers' legs, and legs written before they rode on transaction
 * records) and one on {ns}.transactions.* (each record carries its sender's leg, if any; records
 * without one are acked and skipped). Each buffers ledger records, inserts them in one statement
 * (idempotent: keyed by tx, leg and place in the leg) and acks only after the commit; a failed
 * batch is retried with backoff, an undecodable or unbalanced record is terminated and logged.
 */
import type { JsMsg, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { backoffDelay } from "../../actors/backoff";
import { errorMessage } from "../../lib/errors";
import { consumeInBatches, decodeBatch, type BatchLoop } from "../../streams/batch-consumer";
import { isRecord, ledgerOfTx, type LedgerRecord, type Posting, type TxRecord } from "./model";
import type { RewardStore } from "./store";
import type { RewardNames } from "./streams";

/** The ledger writer's counters (both consumers together). */
export interface LedgerWriterStats {
  records: number;
  rows: number;
  batches: number;
  failedBatches: number;
  dropped: number;
  /** Transaction records that carried no leg (acked, nothing to write). */
  skipped: number;
}

/** The running ledger writer. */
export type LedgerWriter = BatchLoop<LedgerWriterStats>;

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

/** A transaction record whose leg, if it carries one, is a ledger record that balances. */
function isTxRecordLeg(v: unknown): v is TxRecord {
  if (!isRecord(v) || typeof v["id"] !== "string" || typeof v["kind"] !== "string") return false;
  const leg = v["ledger"];
  if (leg === undefined) return true;
  return (
    isRecord(leg) &&
    isLedgerRecord({ tx: v["id"], kind: v["kind"], leg: leg["leg"], at: leg["at"], postings: leg["postings"] })
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
  const stats: LedgerWriterStats = { records: 0, rows: 0, batches: 0, failedBatches: 0, dropped: 0, skipped: 0 };

  async function writeLedger(batch: JsMsg[]): Promise<void> {
    const { records, msgs } = decodeBatch(batch, isLedgerRecord, {
      logger,
      reason: "undecodable or unbalanced ledger",
      onDropped: () => stats.dropped++,
    });
    await write(records, msgs);
  }

  async function writeTx(batch: JsMsg[]): Promise<void> {
    const decoded = decodeBatch(batch, isTxRecordLeg, {
      logger,
      reason: "undecodable transaction or unbalanced leg",
      onDropped: () => stats.dropped++,
    });
    const records: LedgerRecord[] = [];
    const msgs: JsMsg[] = [];
    decoded.records.forEach((rec, i) => {
      const leg = ledgerOfTx(rec);
      if (leg) {
        records.push(leg);
        msgs.push(decoded.msgs[i]!);
      } else {
        stats.skipped++;
        decoded.msgs[i]!.ack();
      }
    });
    await write(records, msgs);
  }

  async function write(records: LedgerRecord[], msgs: JsMsg[]): Promise<void> {
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

  const common = { nats: opts.nats, batchRows: opts.batchRows, batchMs: opts.batchMs, logger, stats };
  const legs = await consumeInBatches({
    ...common,
    stream: opts.names.ledgerStream,
    consumer: opts.names.ledgerConsumer,
    name: "ledger writer",
    write: writeLedger,
  });
  let txs: BatchLoop<LedgerWriterStats>;
  try {
    txs = await consumeInBatches({
      ...common,
      stream: opts.names.txStream,
      consumer: opts.names.txLedgerConsumer,
      name: "ledger writer (transactions)",
      write: writeTx,
    });
  } catch (err) {
    await legs.stop();
    throw err;
  }
  return {
    stats,
    running: () => legs.running() && txs.running(),
    async stop() {
      await Promise.all([legs.stop(), txs.stop()]);
    },
  };
}
