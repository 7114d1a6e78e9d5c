/**
 * The Postgres batch writer: a durable consumer on the receipt stream (records and status
 * updates), shared by every node running the receipts domain. It buffers up to `batchRows`
 * messages or `batchMs` milliseconds, writes them in one multi-row INSERT ... ON CONFLICT DO
 * NOTHING plus one batched UPDATE, and acks only after the commit: a crash loses nothing (the
 * unacked messages come back) and a replay changes nothing. A status update whose record is
 * not in Postgres yet is retried later. A message Postgres can never store (its data refused)
 * is isolated, dead-lettered and alarmed, so that nothing waits behind it and nothing ages out
 * of the stream unseen (see {@link startReceiptWriter}).
 */
import type { JsMsg, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import type { ReceiptStatusUpdate } from "./receipt.actor";
import { backoffDelay } from "../../actors/backoff";
import { errorMessage } from "../../lib/errors";
import { writeIsolating } from "../../lib/isolate";
import { isDataException } from "../../db/errors";
import type { DeadLetters } from "../../actors/dlq";
import type { ReceiptNames } from "./streams";
import { isReceiptRecord, type ReceiptRecord } from "./record";
import type { ReceiptStore } from "./store";
import { consumeInBatches, type BatchLoop } from "../../streams/batch-consumer";

/** A running consumer loop. */
export type ConsumerLoop = BatchLoop<Record<string, number>>;

function isStatusUpdate(v: unknown): v is ReceiptStatusUpdate {
  if (typeof v !== "object" || v === null) return false;
  const u: Readonly<Record<string, unknown>> = { ...v };
  return (
    typeof u["id"] === "string" &&
    typeof u["version"] === "number" &&
    typeof u["status"] === "string" &&
    typeof u["createdAt"] === "number"
  );
}

/** A message of the receipt stream the writer dead-lettered because Postgres can never store it. */
export interface ReceiptDeadLetter {
  /** A received receipt's record, or a status update. */
  readonly kind: "record" | "status";
  readonly receiptId: string;
  /** The receipt's client, when the message says (records do). */
  readonly clientId: string | null;
  /** Why: Postgres's refusal (with its SQLSTATE), or the missing record. */
  readonly reason: string;
  /** Where it went on the DLQ stream. */
  readonly dlqSubject: string;
  /** Its sequence on the receipt stream. */
  readonly seq: number;
}

/** The payload of the `alarm.dlq` event for a receipt dead letter (other domains send theirs too, with their own domain name). */
export interface ReceiptDlqAlarm extends ReceiptDeadLetter {
  readonly domain: "receipts";
  readonly node: string;
  readonly at: string;
}

/** The alarm of `letter`, raised by node `node` at `at` (ms). */
export function receiptDlqAlarm(letter: ReceiptDeadLetter, node: string, at: number): ReceiptDlqAlarm {
  return { domain: "receipts", ...letter, node, at: new Date(at).toISOString() };
}

/** What the writer needs. */
export interface ReceiptWriterDeps {
  readonly nats: NatsHandles;
  readonly names: ReceiptNames;
  readonly store: ReceiptStore;
  /** The runtime's DLQ (listable and replayable with `runtime.dlqList` / `dlq-replay`). */
  readonly dlq: DeadLetters;
  readonly logger: Logger;
  readonly batchRows: number;
  readonly batchMs: number;
  /**
   * A status update whose receipt record is still not in Postgres this long after it was
   * published is dead-lettered (its record was dead-lettered, or lost) instead of deferred again.
   */
  readonly orphanUpdateMs?: number;
  /** Called after each dead letter (the alarm: metric and `alarm.dlq` event). */
  readonly onDeadLetter?: (letter: ReceiptDeadLetter) => void;
  /** Told of every status update once Postgres has it (metrics; a redelivered one may come twice). */
  readonly onStatusStored?: (update: ReceiptStatusUpdate) => void;
}

/** Default of {@link ReceiptWriterDeps.orphanUpdateMs}: one hour. */
export const ORPHAN_UPDATE_MS = 3600_000;

/** Ids of records dead-lettered by this writer lately (their updates follow them at once). */
const DEAD_RECORD_MEMORY = 10_000;

function refusal(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return `Postgres refused it${typeof code === "string" ? ` (SQLSTATE ${code})` : ""}: ${errorMessage(err).slice(0, 300)}`;
}

/**
 * Starts the writer (see the module doc). A record or status update Postgres refuses as data
 * (SQLSTATE class 22, e.g. `\u0000` in jsonb) is isolated by halving its batch, dead-lettered
 * with the refusal, acked and reported (error log, `onDeadLetter`); the rest of the batch is
 * written in order. Other failures leave the whole unsettled batch to redelivery with backoff.
 */
export async function startReceiptWriter(opts: ReceiptWriterDeps): Promise<ConsumerLoop> {
  const { nats, names, store, dlq, logger, batchRows, batchMs } = opts;
  const orphanUpdateMs = opts.orphanUpdateMs ?? ORPHAN_UPDATE_MS;
  const stats = { inserted: 0, updated: 0, batches: 0, failedBatches: 0, deferred: 0, dropped: 0, deadLettered: 0 };
  const deadRecords = new Set<string>();

  async function deadLetter(
    msg: JsMsg,
    kind: ReceiptDeadLetter["kind"],
    receiptId: string,
    clientId: string | null,
    reason: string,
  ): Promise<void> {
    const dlqSubject = names.dlqSubject(receiptId);
    // stored before the ack: if the DLQ is unreachable this throws and the message comes back
    await dlq.store(msg, dlqSubject, reason, msg.info.deliveryCount);
    msg.ack();
    stats.deadLettered++;
    if (kind === "record") {
      if (deadRecords.size >= DEAD_RECORD_MEMORY) deadRecords.clear();
      deadRecords.add(receiptId);
    }
    const letter: ReceiptDeadLetter = { kind, receiptId, clientId, reason, dlqSubject, seq: msg.seq };
    logger.error(
      { alarm: "dlq", ...letter },
      `ALARM: receipt ${kind} of ${receiptId} dead-lettered: it cannot be stored`,
    );
    opts.onDeadLetter?.(letter);
  }

  async function write(batch: JsMsg[]): Promise<void> {
    const records: { r: ReceiptRecord; msg: JsMsg }[] = [];
    const updates: { u: ReceiptStatusUpdate; msg: JsMsg }[] = [];
    for (const msg of batch) {
      let v: unknown;
      try {
        v = msg.json();
      } catch {
        v = undefined;
      }
      if (msg.subject.startsWith(names.recordSubject("")) && isReceiptRecord(v)) {
        records.push({ r: v, msg });
      } else if (msg.subject.startsWith(names.statusSubject("")) && isStatusUpdate(v)) {
        updates.push({ u: v, msg });
      } else {
        stats.dropped++;
        logger.error({ subject: msg.subject }, "undecodable message dropped by the receipt writer");
        msg.term("undecodable");
      }
    }
    const settled = new Set<JsMsg>();
    const ack = (msg: JsMsg): void => {
      msg.ack();
      settled.add(msg);
    };
    try {
      await writeIsolating(records, {
        write: (slice) => store.insertBatch(slice.map((x) => x.r)),
        isPoison: isDataException,
        committed: (slice, inserted) => {
          stats.inserted += inserted;
          for (const x of slice) ack(x.msg);
        },
        poisoned: async (x, err) => {
          await deadLetter(
            x.msg,
            "record",
            x.r.id,
            x.r.clientId,
            `the receipt record cannot be stored: ${refusal(err)}`,
          );
          settled.add(x.msg);
        },
      });
      const live: typeof updates = [];
      for (const x of updates) {
        if (!deadRecords.has(x.u.id)) live.push(x);
        else {
          await deadLetter(
            x.msg,
            "status",
            x.u.id,
            null,
            "the receipt's record was dead-lettered: replay it first, then this update",
          );
          settled.add(x.msg);
        }
      }
      await writeIsolating(live, {
        write: (slice) => store.applyStatusBatch(slice.map((x) => x.u)),
        isPoison: isDataException,
        committed: async (slice, { missing }) => {
          const late = new Set(missing);
          for (const { u, msg } of slice) {
            if (!late.has(u.id)) {
              stats.updated++;
              ack(msg);
              opts.onStatusStored?.(u);
            } else if (Date.now() - msg.time.getTime() >= orphanUpdateMs) {
              await deadLetter(
                msg,
                "status",
                u.id,
                null,
                `the receipt's record is not in Postgres ${Math.round(orphanUpdateMs / 1000)} s after this update (dead-lettered or lost)`,
              );
              settled.add(msg);
            } else {
              // its record is not written yet (the two are published in parallel): later
              stats.deferred++;
              msg.nak(backoffDelay(msg.info.deliveryCount, 500, 30_000));
              settled.add(msg);
            }
          }
        },
        poisoned: async (x, err) => {
          await deadLetter(x.msg, "status", x.u.id, null, `the status update cannot be stored: ${refusal(err)}`);
          settled.add(x.msg);
        },
      });
      stats.batches++;
    } catch (err) {
      stats.failedBatches++;
      const left = [...records, ...updates].filter((x) => !settled.has(x.msg));
      logger.error(
        { err: errorMessage(err), size: batch.length, retried: left.length },
        "receipt batch write failed; will retry",
      );
      for (const { msg } of left) msg.nak(backoffDelay(msg.info.deliveryCount, 1000, 30_000));
    }
  }

  return consumeInBatches({
    nats,
    stream: names.stream,
    consumer: names.writerConsumer,
    batchRows,
    batchMs,
    logger,
    name: "receipt writer",
    stats,
    write,
  });
}
