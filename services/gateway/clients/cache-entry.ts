/**
 * Authenticated credential cache entries (Redis). Whoever can write Redis must not be able to
 * plant or alter a credential: each entry carries an HMAC-SHA256 (keyed by an HKDF sub-key of
 * the master key for this purpose alone) over its Redis key and its JSON, so an entry that was
 * forged, edited, or copied under another key does not verify. Pure.
 *
 * Entry format: `m1.<kid>.<tag>.<json>` (see lib/sealed.ts for `<kid>.<tag>`).
 */
import type { Keyring, Mac } from "../../../lib/sealed";

const FORMAT = "m1";

/** The MAC of credential cache entries. */
export function credentialCacheMac(keyring: Keyring): Mac {
  return keyring.mac("credential-cache");
}

function signed(redisKey: string, json: string): string {
  return `${redisKey}\n${json}`;
}

/** The Redis value of `value` cached under `redisKey`. */
export function encodeEntry(mac: Mac, redisKey: string, value: unknown): string {
  const json = JSON.stringify(value);
  return `${FORMAT}.${mac.sign(signed(redisKey, json))}.${json}`;
}

/** The value cached under `redisKey`, or undefined when `raw` does not verify (forged, edited, moved, old format). */
export function decodeEntry<T>(mac: Mac, redisKey: string, raw: string): T | undefined {
  const a = raw.indexOf(".");
  const b = a < 0 ? -1 : raw.indexOf(".", a + 1);
  const c = b < 0 ? -1 : raw.indexOf(".", b + 1);
  if (c < 0 || raw.slice(0, a) !== FORMAT) return undefined;
  const json = raw.slice(c + 1);
  if (!mac.verify(signed(redisKey, json), raw.slice(a + 1, c))) return undefined;
  try {
    return JSON.parse(json) as T;
  } catch {
    return undefined;
  }
}
