/**
 * The delivery log of client webhooks: after each attempt the webhook job records its outcome
 * (Redis hash per receipt, expiring), and the status document shows it. It is observability,
 * not state: the receipt's actor never needs it, so it costs no actor message.
 */
import type { Redis } from "ioredis";

/** What the last attempt of one webhook delivery found. */
export interface DeliveryInfo {
  readonly attempts: number;
  readonly lastAttemptAt: number;
  /** HTTP status of the last attempt (null: no answer). */
  readonly lastStatus: number | null;
  /** What clients may see: null, or the generic failure text (never the cause). */
  readonly lastError: string | null;
  readonly deliveredAt: number | null;
  /** When delivery gave up for good before its deadline (a refused destination); absent in older entries. */
  readonly failedAt?: number | null;
}

const numberOrNull = (v: unknown): boolean => v === null || typeof v === "number";

/** True when `v` has the shape {@link DeliveryLog.record} writes (guards what comes back from Redis). */
function isDeliveryInfo(v: unknown): v is DeliveryInfo {
  if (typeof v !== "object" || v === null) return false;
  const d: Readonly<Record<string, unknown>> = { ...v };
  return (
    typeof d["attempts"] === "number" &&
    typeof d["lastAttemptAt"] === "number" &&
    numberOrNull(d["lastStatus"]) &&
    (d["lastError"] === null || typeof d["lastError"] === "string") &&
    numberOrNull(d["deliveredAt"]) &&
    (d["failedAt"] === undefined || numberOrNull(d["failedAt"]))
  );
}

/** Records and reads delivery attempts. */
export interface DeliveryLog {
  record(receiptId: string, webhookId: string, info: DeliveryInfo): Promise<void>;
  /** Delivery info by webhook id for one receipt. */
  read(receiptId: string): Promise<Record<string, DeliveryInfo>>;
}

/** A delivery log in Redis under `{ns}:rcpthook:{receiptId}`, kept for `ttlSec` after the last attempt. */
export function redisDeliveryLog(redis: Redis, namespace: string, ttlSec: number): DeliveryLog {
  const key = (id: string): string => `${namespace}:rcpthook:${id}`;
  return {
    async record(receiptId, webhookId, info) {
      // two plain commands rather than MULTI: the client's auto-pipelining sends them (and any
      // other record of the same event-loop turn) in one write; the log need not be atomic
      await Promise.all([
        redis.hset(key(receiptId), webhookId, JSON.stringify(info)),
        redis.expire(key(receiptId), ttlSec),
      ]);
    },
    async read(receiptId) {
      const all = await redis.hgetall(key(receiptId));
      const out: Record<string, DeliveryInfo> = {};
      for (const [k, v] of Object.entries(all)) {
        let info: unknown;
        try {
          info = JSON.parse(v);
        } catch {
          continue; // skip a corrupt entry
        }
        if (isDeliveryInfo(info)) out[k] = info;
      }
      return out;
    },
  };
}
