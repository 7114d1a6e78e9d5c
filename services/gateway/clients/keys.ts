/**
 * Credentials and identifiers. An API key is `sy_live_{keyId}_{secret}`: `keyId` (16 hex) finds
 * the stored key in O(1) and may appear in logs; `secret` carries 256 random bits. Only the
 * SHA-256 of the whole key is stored: with that much entropy a fast hash is enough, and it keeps
 * verification well under a microsecond.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "sy_live_";
const API_KEY_PATTERN = /^sy_live_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Client ids: `cl_` and 16 lower-case base32 characters; usable as actor keys and subject tokens. */
export const CLIENT_ID_PATTERN = /^cl_[a-z2-7]{16}$/;
const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A new client id. */
export function newClientId(): string {
  const bytes = randomBytes(16);
  let s = "cl_";
  for (let i = 0; i < 16; i++) s += B32[bytes[i]! & 31];
  return s;
}

/** A new API key with its id and hash. The key itself is shown once and never stored. */
export function newApiKey(): { key: string; keyId: string; hash: string } {
  const keyId = randomBytes(8).toString("hex");
  const key = `${API_KEY_PREFIX}${keyId}_${randomBytes(32).toString("base64url")}`;
  return { key, keyId, hash: hashApiKey(key) };
}

/** The key id of a well-formed API key, or undefined. */
export function parseApiKey(key: string): { keyId: string } | undefined {
  const m = API_KEY_PATTERN.exec(key);
  return m ? { keyId: m[1]! } : undefined;
}

/** SHA-256 of the key, hex. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Constant-time comparison of two hex hashes. */
export function sameHash(a: string, b: string): boolean {
  const ba = Buffer.from(a, "hex");
  const bb = Buffer.from(b, "hex");
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}

/** A Standard Webhooks signing secret: `whsec_` and base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}
