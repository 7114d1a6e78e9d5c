/**
 * Idempotent submission: a client's `Idempotency-Key` maps to one receipt. The same key with
 * the same body returns that receipt; the same key with another body is a 409. The body's
 * fingerprint is a SHA-256 over its format and exact bytes.
 *
 * Without an Idempotency-Key the receipt's natural identity stands for the key: the client, the
 * type and the receipt's number (`ReceiptType.number`). The same receipt submitted again gets
 * the receipt it already is (202, `Idempotent-Replayed: true`); another body under the same
 * number is a 409. Both are remembered for RECEIPT_IDEMPOTENCY_TTL_MS.
 */
import { createHash } from "node:crypto";
import { AppError } from "../../lib/errors";
import type { ReceiptFormat } from "./model";

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The fingerprint of a submitted body (hex SHA-256 over format and bytes). */
export function fingerprint(format: ReceiptFormat, body: Uint8Array): string {
  return createHash("sha256").update(format).update("\n").update(body).digest("hex");
}

/** Checks an Idempotency-Key header value: 1-255 visible ASCII characters, else a 400. */
export function checkIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined || key === "") return undefined;
  if (!KEY_PATTERN.test(key))
    throw new AppError("INVALID_PARAMETER", "Idempotency-Key must be 1-255 visible ASCII characters");
  return key;
}

/**
 * The key that stands for a receipt's natural identity (type and number) when the client sent
 * no Idempotency-Key. It starts with NUL, which no Idempotency-Key can hold: the two never meet.
 */
export function naturalKey(type: string, number: string): string {
  return `\u0000natural\u0000${type}\u0000${number}`;
}

/** True when `key` is a {@link naturalKey}. */
export function isNaturalKey(key: string): boolean {
  return key.startsWith("\u0000natural\u0000");
}

/** The storage key of (client, Idempotency-Key): a valid KV key of fixed length. */
export function idempotencySlot(clientId: string, key: string): string {
  return createHash("sha256").update(clientId).update("\0").update(key).digest("hex").slice(0, 48);
}

/** What is remembered for one Idempotency-Key. */
export interface IdempotencyRecord {
  readonly receiptId: string;
  readonly fingerprint: string;
  readonly receivedAt: number;
}

/**
 * Decides what a submission with an already used key gets: the same receipt when the body is
 * the same, else a 409 CONFLICT.
 */
export function reuse(
  existing: IdempotencyRecord,
  fp: string,
  natural?: { type: string; number: string },
): IdempotencyRecord {
  if (existing.fingerprint !== fp && natural) {
    throw new AppError(
      "CONFLICT",
      `${natural.type} receipt ${JSON.stringify(natural.number)} was already submitted with a different body`,
      [{ path: "/", message: `the number belongs to receipt ${existing.receiptId}` }],
    );
  }
  if (existing.fingerprint !== fp) {
    throw new AppError("CONFLICT", "this Idempotency-Key was already used with a different body", [
      { path: "/", message: `the key belongs to receipt ${existing.receiptId}` },
    ]);
  }
  return existing;
}
