/**
 * The durable record of a received receipt: what POST /receipts stores in the receipt stream
 * before answering 202 (the Postgres writer reads it from the receipt stream).
 */
import type { SubmittedReceipt } from "./receipt.actor";
import type { ReceiptDocument, ReceiptFormat, ReceiptSummary } from "./model";

/** A received receipt, as stored. */
export interface ReceiptRecord {
  readonly id: string;
  readonly clientId: string;
  readonly type: string;
  readonly typeVersion: number;
  readonly format: ReceiptFormat;
  /** The Content-Type as submitted. */
  readonly contentType: string;
  /** When it was received (ms since the epoch); also the time part of the id. */
  readonly createdAt: number;
  readonly idempotencyKey: string | null;
  readonly fingerprint: string;
  /** Where client webhooks go (X-Callback-Url, else the client's registered URL). */
  readonly callbackUrl: string | null;
  readonly summary: ReceiptSummary;
  readonly document: ReceiptDocument;
  /** The exact bytes submitted, base64. */
  readonly original: string;
}

/** The submit message for the receipt's actor (sent with the record, or by the sweeper). */
export function submittedFromRecord(r: ReceiptRecord): SubmittedReceipt {
  return {
    id: r.id,
    clientId: r.clientId,
    type: r.type,
    format: r.format,
    createdAt: r.createdAt,
    callbackUrl: r.callbackUrl,
    summary: r.summary,
    document: r.document,
  };
}

/** True when `v` has the shape of a record (guards what comes off the stream). */
export function isReceiptRecord(v: unknown): v is ReceiptRecord {
  if (typeof v !== "object" || v === null) return false;
  const r: Readonly<Record<string, unknown>> = { ...v };
  return (
    typeof r["id"] === "string" &&
    typeof r["clientId"] === "string" &&
    typeof r["type"] === "string" &&
    typeof r["createdAt"] === "number" &&
    typeof r["original"] === "string" &&
    typeof r["document"] === "object" &&
    r["document"] !== null
  );
}
