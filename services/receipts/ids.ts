/**
 * Receipt ids: ULIDs (Crockford base32, 26 characters: 48-bit millisecond time then 80 random
 * bits). They sort by creation time, and the time part gives the month partition of a receipt
 * from its id alone, so lookups by id touch one partition.
 */
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** A new receipt id for creation time `now` (ms since the epoch). */
export function newReceiptId(now: number, random: (n: number) => Uint8Array = randomBytes): string {
  let time = "";
  let t = Math.floor(now);
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = random(10);
  let rand = "";
  // 80 bits → 16 base32 characters, 5 bits at a time
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      rand += ALPHABET[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return time + rand;
}

/** True when `id` looks like a receipt id. */
export function isReceiptId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** The creation time (ms since the epoch) encoded in a receipt id. */
export function timeOfId(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id.charAt(i));
  return t;
}
