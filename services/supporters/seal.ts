/**
 * Envelope encryption of personal data (crypto-shredding). Each supporter has a random 256-bit
 * data key with a short key id; personal data is sealed with it (AES-256-GCM, random 96-bit IV,
 * the key id and the supporter's hash as associated data, so a blob cannot be moved to another
 * supporter). The data key is stored wrapped by the deployment's key-encryption key. Deleting a
 * supporter's data key makes every blob sealed with it unreadable, wherever copies remain
 * (streams, KV, Postgres, the DLQ). Pure (node:crypto only).
 *
 * Sealed format: `v1.<kid>.<iv base64url>.<ciphertext+tag base64url>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** A supporter's data key. */
export interface DataKey {
  readonly kid: string;
  readonly key: Buffer;
}

/** A data key as stored (wrapped). */
export interface WrappedKey {
  readonly kid: string;
  /** The data key sealed with the key-encryption key. */
  readonly w: string;
  /** When it was created (ms). */
  readonly at: number;
}

/** A fresh random data key. */
export function newDataKey(): DataKey {
  return { kid: randomBytes(6).toString("base64url"), key: randomBytes(32) };
}

function seal(key: Buffer, kid: string, aad: string, plaintext: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(`${kid}|${aad}`, "utf8"));
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return `v1.${kid}.${iv.toString("base64url")}.${ct.toString("base64url")}`;
}

function open(key: Buffer, aad: string, sealed: string): { kid: string; plaintext: Buffer } {
  const parts = sealed.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") throw new Error("not a sealed blob");
  const kid = parts[1]!;
  const iv = Buffer.from(parts[2]!, "base64url");
  const all = Buffer.from(parts[3]!, "base64url");
  if (iv.length !== 12 || all.length < 16) throw new Error("not a sealed blob");
  const d = createDecipheriv("aes-256-gcm", key, iv);
  d.setAAD(Buffer.from(`${kid}|${aad}`, "utf8"));
  d.setAuthTag(all.subarray(all.length - 16));
  return { kid, plaintext: Buffer.concat([d.update(all.subarray(0, all.length - 16)), d.final()]) };
}

/** The key id a sealed blob was made with (without opening it). */
export function kidOf(sealed: string): string | undefined {
  const parts = sealed.split(".");
  return parts.length === 4 && parts[0] === "v1" ? parts[1] : undefined;
}

/** Seals `value` (JSON) for supporter `hash` with its data key. */
export function sealJson(dk: DataKey, hash: string, value: unknown): string {
  return seal(dk.key, dk.kid, hash, Buffer.from(JSON.stringify(value), "utf8"));
}

/** Opens a blob sealed by {@link sealJson}; throws when the key or supporter does not match. */
export function openJson(dk: DataKey, hash: string, sealed: string): unknown {
  const { kid, plaintext } = open(dk.key, hash, sealed);
  if (kid !== dk.kid) throw new Error("sealed with another key");
  const value: unknown = JSON.parse(plaintext.toString("utf8"));
  return value;
}

/** Wraps a data key with the key-encryption key `kek` (32 bytes). */
export function wrapKey(kek: Buffer, hash: string, dk: DataKey, now: number): WrappedKey {
  return { kid: dk.kid, w: seal(kek, "kek", `${hash}|${dk.kid}`, dk.key), at: now };
}

/** Unwraps a stored data key. */
export function unwrapKey(kek: Buffer, hash: string, wk: WrappedKey): DataKey {
  const { plaintext } = open(kek, `${hash}|${wk.kid}`, wk.w);
  if (plaintext.length !== 32) throw new Error("wrapped key has the wrong length");
  return { kid: wk.kid, key: plaintext };
}

/**
 * Removes what looks like personal data from a free-text reason before it is stored or logged
 * (a downstream's error message may echo an email or a phone number), and bounds its length.
 */
export function redact(reason: string, max = 500): string {
  return reason
    .replace(/[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+/g, "[email]")
    .replace(/\+?\d[\d\s().-]{6,}\d/g, "[number]")
    .replace(/[\r\n]+/g, " ")
    .slice(0, max);
}
