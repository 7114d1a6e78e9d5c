/**
 * When a message was first stored, for the actor host's sequence rule (actors/host.ts,
 * `StoredActor.qt`): the stream's own time, unless the message was stored anew by a restore or a
 * standby load (ops/restore.ts, ops/standby.ts), which keep its first time in a header. Without
 * it a restored message would look stored after everything its actor applied, and be taken for a
 * new one at a reused sequence.
 */
import type { JsMsg } from "../nats";

/** Epoch ms of the message's first store (set on messages stored anew). */
export const STORED_AT_HEADER = "Sy-Stored-At";

/** When `msg` was first stored (epoch ms, whole). */
export function storedAtMs(msg: JsMsg): number {
  const h = msg.headers?.get(STORED_AT_HEADER);
  if (h) {
    const n = Number(h);
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return Math.round(msg.info.timestampNanos / 1e6);
}

/** `headers` of a message being stored anew, with its first store time (`timeNs`) unless they carry one. */
export function withStoredAt(
  headers: readonly (readonly [string, string])[],
  timeNs: bigint,
): readonly (readonly [string, string])[] {
  if (headers.some(([k]) => k === STORED_AT_HEADER)) return headers;
  return [...headers, [STORED_AT_HEADER, String(timeNs / 1_000_000n)]];
}
