/**
 * The polling feed's opaque cursor: the position after the last event a sender has seen
 * (store sequence, and the commit time that lets the query skip older monthly partitions).
 * Encoded as base64url of "e1.{seq}.{storedAtMs}"; anything else is refused.
 */
import { AppError } from "../../lib/errors";

/** A position in a tenant's feed. */
export interface FeedPosition {
  /** The last sequence seen (0: from the beginning). */
  readonly seq: number;
  /** Commit time of that event in ms (0: from the beginning). */
  readonly storedAtMs: number;
}

/** The position before every event. */
export const START: FeedPosition = { seq: 0, storedAtMs: 0 };

/** Encodes a position as an opaque cursor. */
export function encodeCursor(p: FeedPosition): string {
  return Buffer.from(`e1.${p.seq}.${p.storedAtMs}`, "utf8").toString("base64url");
}

/** Decodes a cursor made by {@link encodeCursor}; 400 INVALID_PARAMETER otherwise. */
export function decodeCursor(cursor: string): FeedPosition {
  const bad = (): AppError =>
    new AppError("INVALID_PARAMETER", "after is not a valid cursor: pass the cursor of the previous page", [
      { path: "/query/after", message: "invalid cursor" },
    ]);
  if (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw bad();
  const m = /^e1\.(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m) throw bad();
  const seq = Number(m[1]);
  const storedAtMs = Number(m[2]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(storedAtMs)) throw bad();
  return { seq, storedAtMs };
}
