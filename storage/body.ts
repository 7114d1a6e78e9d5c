/** Helpers over object bodies: chunking into parts, hashing, reading whole objects with their checksum checked. */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { once } from "node:events";
import { StorageError, type ObjectBody, type ObjectStore } from "./types";

/** The body as chunks. */
export async function* chunksOf(body: ObjectBody): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  for await (const c of body) yield c;
}

/** Re-chunks `body` into parts of exactly `size` bytes (the last one smaller). */
export async function* partsOf(body: ObjectBody, size: number): AsyncIterable<Buffer> {
  let buf: Buffer[] = [];
  let len = 0;
  for await (const c of chunksOf(body)) {
    let chunk = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    while (len + chunk.length >= size) {
      const take = size - len;
      buf.push(chunk.subarray(0, take));
      yield Buffer.concat(buf);
      chunk = chunk.subarray(take);
      buf = [];
      len = 0;
    }
    if (chunk.length > 0) {
      // copy: the producer may reuse its buffer
      buf.push(Buffer.from(chunk));
      len += chunk.length;
    }
  }
  if (len > 0 || buf.length > 0) yield Buffer.concat(buf);
}

/** Reads an object whole and checks its SHA-256 against its info; undefined when absent. */
export async function readVerified(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  const info = await store.head(key);
  if (!info) return undefined;
  const body = await store.get(key);
  if (!body) return undefined;
  const parts: Buffer[] = [];
  const h = createHash("sha256");
  for await (const c of body) {
    h.update(c);
    parts.push(Buffer.from(c));
  }
  const got = h.digest("hex");
  if (got !== info.sha256)
    throw new StorageError("CHECKSUM_MISMATCH", `${key}: read SHA-256 ${got}, stored ${info.sha256}`);
  return Buffer.concat(parts);
}

/**
 * Downloads an object to `file` (written beside it and renamed once its SHA-256 matched, so a
 * partial or corrupt download never takes the name). Returns the checksum; undefined when absent.
 */
export async function downloadVerified(store: ObjectStore, key: string, file: string): Promise<string | undefined> {
  const info = await store.head(key);
  if (!info) return undefined;
  const body = await store.get(key);
  if (!body) return undefined;
  const tmp = `${file}.${process.pid}.${Date.now()}.part`;
  const out = createWriteStream(tmp);
  const h = createHash("sha256");
  try {
    for await (const c of body) {
      h.update(c);
      if (!out.write(c)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    const got = h.digest("hex");
    if (got !== info.sha256)
      throw new StorageError("CHECKSUM_MISMATCH", `${key}: downloaded SHA-256 ${got}, stored ${info.sha256}`);
    await rename(tmp, file);
    return got;
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
