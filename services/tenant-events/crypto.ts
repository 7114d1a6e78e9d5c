/**
 * Encryption at rest of event `data`: AES-256-GCM with a random 96-bit nonce per row, the row's
 * identity (tenant and event id) as additional authenticated data (a ciphertext moved to another
 * row does not decrypt), and the key id stored beside each row. Rotation: add a key, make it
 * current (EVENTS_DATA_KEY_ID); older keys stay configured for reading.
 *
 * Blob layout: 0x01 | nonce (12 bytes) | tag (16 bytes) | ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { isJsonObject } from "./model";

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

/** Raised when a blob cannot be decrypted (unknown key id, damaged or moved ciphertext). */
export class DecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptError";
  }
}

/** The additional authenticated data binding a ciphertext to its row. */
export function rowAad(clientId: string, eventId: string): Buffer {
  return Buffer.from(`switchyard-event:v1\n${clientId}\n${eventId}`, "utf8");
}

/** Data keys by id; one of them encrypts (see the module doc). */
export class DataKeyring {
  private readonly keys = new Map<string, Buffer>();

  /** `keys`: id → base64 of 32 bytes; `currentId` encrypts. Throws on a bad key or unknown current id. */
  constructor(
    keys: Readonly<Record<string, string>>,
    readonly currentId: string,
  ) {
    for (const [id, b64] of Object.entries(keys)) {
      const k = Buffer.from(b64, "base64");
      if (k.length !== 32) throw new Error(`data key ${id} is not 32 bytes`);
      this.keys.set(id, k);
    }
    if (!this.keys.has(currentId)) throw new Error(`current data key ${currentId} is not configured`);
  }

  /** Ids of every key that can decrypt. */
  ids(): string[] {
    return [...this.keys.keys()];
  }

  /** Encrypts `plaintext` with the current key, bound to `aad`. */
  encrypt(plaintext: Uint8Array, aad: Uint8Array): { keyId: string; blob: Buffer } {
    const key = this.keys.get(this.currentId)!;
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { keyId: this.currentId, blob: Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]) };
  }

  /** Decrypts a blob made by {@link encrypt} with key `keyId`; throws DecryptError. */
  decrypt(keyId: string, blob: Uint8Array, aad: Uint8Array): Buffer {
    const key = this.keys.get(keyId);
    if (!key) throw new DecryptError(`data key ${JSON.stringify(keyId)} is not configured`);
    if (blob.length < 1 + NONCE + TAG || blob[0] !== VERSION) throw new DecryptError("not an encrypted data blob");
    const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, b.subarray(1, 1 + NONCE));
      decipher.setAAD(aad);
      decipher.setAuthTag(b.subarray(1 + NONCE, 1 + NONCE + TAG));
      return Buffer.concat([decipher.update(b.subarray(1 + NONCE + TAG)), decipher.final()]);
    } catch {
      throw new DecryptError("data blob does not authenticate with its key (damaged, or moved from another row)");
    }
  }
}

/** A stored row's encrypted `data` and the identity it is bound to. */
export interface SealedData {
  readonly keyId: string;
  readonly blob: Uint8Array;
  readonly clientId: string;
  readonly eventId: string;
}

/**
 * The `data` of a stored row: decrypted with its key and identity, parsed, and checked to be the
 * JSON object it was when stored. Throws DecryptError when it does not decrypt.
 */
export function openData(keyring: DataKeyring, row: SealedData): Record<string, unknown> {
  const data: unknown = JSON.parse(
    keyring.decrypt(row.keyId, row.blob, rowAad(row.clientId, row.eventId)).toString("utf8"),
  );
  if (!isJsonObject(data)) throw new Error(`stored data of ${row.clientId}:${row.eventId} is not a JSON object`);
  return data;
}
