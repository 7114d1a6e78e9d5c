/**
 * Standard Webhooks (https://www.standardwebhooks.com) signatures: HMAC-SHA256 over
 * `{webhook-id}.{webhook-timestamp}.{body}` with the secret's bytes (`whsec_` + base64),
 * sent as `webhook-signature: v1,<base64>` (several space-separated signatures allowed).
 *
 * Kept over the `standardwebhooks` package (1.1.1, read from its source; compatibility is shown
 * by the specification's test vector in test/receipts/webhooks.test.ts): its `verify` parses
 * the body as JSON and throws on any other body, where callbacks need the signature checked on
 * the bytes received and a reason code to answer with; its tolerance is a fixed 5 minutes on
 * `Date.now()` where ours takes an injected clock; `sign` turns a Buffer body into a string, so
 * bytes that are not UTF-8 would be signed differently from what is sent; it hashes in pure JS
 * (two dependencies) instead of node:crypto; and it accepts any non-empty secret, where ours
 * needs at least 16 bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The three headers of a signed webhook. */
export interface WebhookHeaders {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
}

/** Default tolerance for the timestamp, either way (replay protection). */
export const WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/** The key bytes of a `whsec_` secret (a bare base64 string is accepted too). */
export function secretBytes(secret: string): Buffer {
  const b64 = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  const key = Buffer.from(b64, "base64");
  if (key.length < 16) throw new Error("a webhook secret must hold at least 16 bytes (whsec_ + base64)");
  return key;
}

/** A new random secret in `whsec_` form. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/** The `v1,<base64>` signature of `body` for `id` at `timestampSec`. */
export function signature(secret: string, id: string, timestampSec: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", secretBytes(secret));
  mac.update(`${id}.${timestampSec}.`);
  mac.update(body);
  return `v1,${mac.digest("base64")}`;
}

/** Signs `body`: the headers to send with it. */
export function signWebhook(secret: string, id: string, body: string | Uint8Array, nowMs: number): WebhookHeaders {
  const ts = Math.floor(nowMs / 1000);
  return { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature(secret, id, ts, body) };
}

/** Why a webhook was not verified. */
export type VerifyFailure = "missing-headers" | "bad-timestamp" | "stale-timestamp" | "bad-signature";

/**
 * Verifies a received webhook. Returns null when one of the signatures matches and the
 * timestamp is within `toleranceMs` of `nowMs`, else the reason. Comparison is constant-time.
 */
export function verifyWebhook(
  secret: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string | Uint8Array,
  nowMs: number,
  toleranceMs = WEBHOOK_TOLERANCE_MS,
): VerifyFailure | null {
  const get = (k: string): string | undefined => {
    const v = headers[k] ?? headers[k.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = get("webhook-id");
  const ts = get("webhook-timestamp");
  const sigs = get("webhook-signature");
  if (!id || !ts || !sigs) return "missing-headers";
  if (!/^\d{1,12}$/.test(ts)) return "bad-timestamp";
  const tsSec = Number(ts);
  if (Math.abs(nowMs - tsSec * 1000) > toleranceMs) return "stale-timestamp";
  const expected = Buffer.from(signature(secret, id, tsSec, body).slice(3), "base64");
  for (const part of sigs.split(" ")) {
    const [version, sig] = part.split(",", 2);
    if (version !== "v1" || !sig) continue;
    const got = Buffer.from(sig, "base64");
    if (got.length === expected.length && timingSafeEqual(got, expected)) return null;
  }
  return "bad-signature";
}
