/**
 * Secrets at rest under the deployment's master key (MASTER_KEYS): sealing (AES-256-GCM
 * envelope) of small secrets stored in Postgres, and MACs (HMAC-SHA256) of entries kept in
 * shared caches such as Redis. Pure (node:crypto only).
 *
 * Keys: every master key (32 bytes) is never used as is; HKDF-SHA256 derives one sub-key per
 * purpose (sealing, each MAC purpose, the key id), so a key used for one job is never used for
 * another. A master key's id is derived from it, so configuring the list is enough.
 *
 * Rotation: the keyring's first key is current (seals and signs); the others only open and
 * verify what they made. Re-seal with {@link Keyring.needsReseal} after adding a key, then drop
 * the old one.
 *
 * Sealed format: `sy1.<kid>.<iv base64url>.<ciphertext+tag base64url>`. The associated data is
 * the format tag, the key id and the caller's `context` (e.g. `client-webhook-secret/<id>`), so
 * a sealed value moved to another row or purpose does not open.
 *
 * MAC format: `<kid>.<tag base64url>` over the caller's `context` and data.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

const FORMAT = "sy1";
const IV = 12;
const TAG = 16;
const KID_PATTERN = /^[A-Za-z0-9_-]{8}$/;

/** A value that cannot be opened or verified: unknown key id, damaged, forged or moved. */
export class SealedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealedError";
  }
}

/** Signs and verifies data for one purpose (see {@link Keyring.mac}). */
export interface Mac {
  /** `<kid>.<tag>` of `data` under the current key. */
  sign(data: string): string;
  /** True when `tag` was made by {@link sign} over exactly `data` with one of the keyring's keys. */
  verify(data: string, tag: string): boolean;
}

/** Master keys by id; the first one is current. */
export interface Keyring {
  /** Id of the current key (seals and signs). */
  readonly currentId: string;
  /** Ids of every key, current first. */
  ids(): string[];
  /** Seals `plaintext` with the current key, bound to `context`. */
  seal(plaintext: string | Uint8Array, context: string): string;
  /** Opens a value made by {@link seal} with the same `context`; throws SealedError otherwise. */
  open(sealed: string, context: string): Buffer;
  /** {@link open} as UTF-8 text. */
  openText(sealed: string, context: string): string;
  /** True when `value` is not sealed, or sealed with a key other than the current one. */
  needsReseal(value: string): boolean;
  /** A MAC for `purpose` (its own HKDF sub-key per master key). */
  mac(purpose: string): Mac;
}

/** True when `value` has the sealed format (it may still fail to open). */
export function isSealed(value: string): boolean {
  return sealedKid(value) !== undefined;
}

/** The key id of a sealed value, without opening it; undefined when `value` is not sealed. */
export function sealedKid(value: string): string | undefined {
  const parts = value.split(".");
  return parts.length === 4 && parts[0] === FORMAT && KID_PATTERN.test(parts[1]!) ? parts[1] : undefined;
}

function derive(master: Buffer, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `switchyard:${info}`, length));
}

/** The id of a master key (base64 of 32 bytes): 8 characters, safe to log; reveals nothing of the key. */
export function masterKeyId(keyB64: string): string {
  return derive(decodeKey(keyB64), "key-id:v1", 6).toString("base64url");
}

function decodeKey(keyB64: string): Buffer {
  const k = Buffer.from(keyB64, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyB64) || k.length !== 32)
    throw new Error("a master key must be the base64 of exactly 32 bytes");
  return k;
}

function aad(kid: string, context: string): Buffer {
  return Buffer.from(`${FORMAT}|${kid}|${context}`, "utf8");
}

/**
 * A keyring over `keysB64` (base64 of 32 bytes each, current first). Throws when the list is
 * empty, a key is malformed or two keys are the same.
 */
export function createKeyring(keysB64: readonly string[]): Keyring {
  if (keysB64.length === 0) throw new Error("no master key configured (MASTER_KEYS)");
  const seals = new Map<string, Buffer>();
  const masters = new Map<string, Buffer>();
  for (const b64 of keysB64) {
    const master = decodeKey(b64);
    const kid = masterKeyId(b64);
    if (masters.has(kid)) throw new Error(`master key ${kid} is listed twice`);
    masters.set(kid, master);
    seals.set(kid, derive(master, "seal:v1"));
  }
  const currentId = masterKeyId(keysB64[0]!);

  function open(sealed: string, context: string): Buffer {
    const kid = sealedKid(sealed);
    if (kid === undefined) throw new SealedError("not a sealed value");
    const key = seals.get(kid);
    if (!key) throw new SealedError(`sealed with master key ${kid}, which is not configured (MASTER_KEYS)`);
    const parts = sealed.split(".");
    const iv = Buffer.from(parts[2]!, "base64url");
    const all = Buffer.from(parts[3]!, "base64url");
    if (iv.length !== IV || all.length < TAG) throw new SealedError("not a sealed value");
    try {
      const d = createDecipheriv("aes-256-gcm", key, iv);
      d.setAAD(aad(kid, context));
      d.setAuthTag(all.subarray(all.length - TAG));
      return Buffer.concat([d.update(all.subarray(0, all.length - TAG)), d.final()]);
    } catch {
      throw new SealedError("sealed value does not authenticate (damaged, forged, or moved from another row)");
    }
  }

  return {
    currentId,
    ids: () => [...masters.keys()],
    seal(plaintext, context) {
      const iv = randomBytes(IV);
      const c = createCipheriv("aes-256-gcm", seals.get(currentId)!, iv);
      c.setAAD(aad(currentId, context));
      const data = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
      const ct = Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
      return `${FORMAT}.${currentId}.${iv.toString("base64url")}.${ct.toString("base64url")}`;
    },
    open,
    openText: (sealed, context) => open(sealed, context).toString("utf8"),
    needsReseal: (value) => sealedKid(value) !== currentId,
    mac(purpose) {
      const keys = new Map([...masters].map(([kid, m]) => [kid, derive(m, `mac:${purpose}:v1`)]));
      const tagOf = (key: Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();
      return {
        sign: (data) => `${currentId}.${tagOf(keys.get(currentId)!, data).toString("base64url")}`,
        verify(data, tag) {
          const dot = tag.indexOf(".");
          const key = dot > 0 ? keys.get(tag.slice(0, dot)) : undefined;
          if (!key) return false;
          const given = Buffer.from(tag.slice(dot + 1), "base64url");
          const want = tagOf(key, data);
          return given.length === want.length && timingSafeEqual(given, want);
        },
      };
    },
  };
}
