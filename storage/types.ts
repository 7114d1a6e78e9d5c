/**
 * The object-storage contract: one interface, two real backends (S3 through @aws-sdk/client-s3,
 * the JetStream object store through nats/). Keys are slash-separated paths; every object has a
 * SHA-256 checksum computed while it is written, kept with it, and checked by verified reads.
 */

/** What is known of a stored object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the whole object. */
  readonly sha256: string;
  readonly modified: Date;
  readonly contentType: string | null;
}

/** One entry of a listing by prefix (no checksum: ask `head` for it). */
export interface ObjectListing {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

/** An object's content: bytes, or chunks of any size (written in parts when large). */
export type ObjectBody = Uint8Array | AsyncIterable<Uint8Array>;

/** Options of `put`. */
export interface PutOptions {
  readonly contentType?: string;
}

/** An object store (see the module doc); every method rejects with {@link StorageError} on bad keys. */
export interface ObjectStore {
  /** Which backend this is ("s3" or "jetstream"), for logs and the ready report. */
  readonly backend: "s3" | "jetstream";
  /**
   * Stores `body` under `key`, replacing what was there. Large bodies are sent in parts
   * (S3 multipart upload, JetStream chunks). Resolves with the stored object's info (size and
   * SHA-256 of what was sent) once the store has it durably.
   */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<ObjectInfo>;
  /** The object's content as chunks, or undefined when there is no such object. */
  get(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Bytes `[start, start + length)` of the object (fewer at its end), or undefined when absent. */
  getRange(key: string, start: number, length: number): Promise<Buffer | undefined>;
  /** The object's info (with its checksum), or undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectListing[]>;
  /** Deletes the object; true when it existed. */
  delete(key: string): Promise<boolean>;
  /** Releases the backend's connections (a shared NATS connection is left open). */
  close(): Promise<void>;
}

/** Codes of storage failures. */
export const STORAGE_ERRORS = {
  INVALID_KEY: "INVALID_KEY",
  CHECKSUM_MISMATCH: "CHECKSUM_MISMATCH",
  BACKEND: "BACKEND",
} as const;

/** A storage failure with a stable code. */
export class StorageError extends Error {
  constructor(
    readonly code: keyof typeof STORAGE_ERRORS,
    message: string,
  ) {
    super(message);
    this.name = "StorageError";
  }
}

const KEY = /^[A-Za-z0-9=_.-]+(\/[A-Za-z0-9=_.-]+)*$/;

/** Checks an object key: slash-separated segments of [A-Za-z0-9=_.-], no empty, "." or ".." segment, at most 1,024 characters. */
export function checkKey(key: string): string {
  if (key.length > 1024 || !KEY.test(key) || key.split("/").some((s) => s === "." || s === ".."))
    throw new StorageError("INVALID_KEY", `invalid object key ${JSON.stringify(key)}`);
  return key;
}
