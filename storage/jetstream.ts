/**
 * The JetStream object-store backend (through nats/, the one module that imports @nats-io/*):
 * the embedded default, so a node needs nothing beyond NATS. An object is stored in chunks
 * (`chunkBytes`, default 128 KiB: the large-object parts) with the server-side SHA-256 digest
 * of the whole. A range get reads chunks from the start and stops after the range (the object
 * store has no random access by offset).
 */
import { Objm, StorageType, type NatsConnection, type ObjectStore as JsObjectStore } from "../nats";
import { errorMessage } from "../lib/errors";
import { chunksOf } from "./body";
import { checkKey, StorageError, type ObjectInfo, type ObjectStore } from "./types";

/** Where to keep objects in JetStream. */
export interface JetStreamStoreOptions {
  readonly nc: NatsConnection;
  /** Bucket name (letters, digits, - and _). */
  readonly bucket: string;
  readonly replicas?: number;
  /** Chunk size; default 128 KiB. */
  readonly chunkBytes?: number;
}

function hexOfDigest(digest: string): string {
  // "SHA-256=<base64url>"
  const b64 = digest.replace(/^SHA-256=/i, "");
  return Buffer.from(b64.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("hex");
}

function toReadable(body: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const n = await it.next();
      if (n.done) controller.close();
      else controller.enqueue(n.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Opens (creating when missing) the object-store bucket. */
export async function openJetStreamStore(o: JetStreamStoreOptions): Promise<ObjectStore> {
  let os: JsObjectStore;
  try {
    os = await new Objm(o.nc).create(o.bucket, { storage: StorageType.File, replicas: o.replicas ?? 1 });
  } catch (err) {
    throw new StorageError("BACKEND", `object store ${o.bucket}: ${errorMessage(err)}`);
  }
  const chunk = o.chunkBytes ?? 128 * 1024;

  async function head(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    const i = await os.info(key);
    if (!i || i.deleted) return undefined;
    return {
      key,
      size: i.size,
      sha256: hexOfDigest(i.digest),
      modified: new Date(i.mtime),
      contentType: i.metadata?.["content-type"] ?? null,
    };
  }

  return {
    backend: "jetstream",

    async put(key, body, options) {
      checkKey(key);
      const meta = {
        name: key,
        options: { max_chunk_size: chunk },
        metadata: { "content-type": options?.contentType ?? "application/octet-stream" },
      };
      try {
        const i = await os.put(meta, toReadable(chunksOf(body)));
        return {
          key,
          size: i.size,
          sha256: hexOfDigest(i.digest),
          modified: new Date(i.mtime),
          contentType: meta.metadata["content-type"],
        };
      } catch (err) {
        throw new StorageError("BACKEND", `object put ${key}: ${errorMessage(err)}`);
      }
    },

    async get(key) {
      checkKey(key);
      const r = await os.get(key);
      if (!r) return undefined;
      const data = r.data;
      const error = r.error;
      return (async function* () {
        for await (const c of data) yield c;
        const e = await error;
        if (e) throw new StorageError("BACKEND", `object get ${key}: ${errorMessage(e)}`);
      })();
    },

    async getRange(key, start, length) {
      checkKey(key);
      const r = await os.get(key);
      if (!r) return undefined;
      const out: Buffer[] = [];
      let pos = 0;
      const end = start + Math.max(0, length);
      const reader = r.data.getReader();
      try {
        while (pos < end) {
          const n = await reader.read();
          if (n.done) break;
          const c = n.value;
          const from = Math.max(start - pos, 0);
          const to = Math.min(end - pos, c.length);
          if (to > from) out.push(Buffer.from(c.subarray(from, to)));
          pos += c.length;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
      return Buffer.concat(out);
    },

    head,

    async list(prefix) {
      const all = await os.list();
      return all
        .filter((i) => !i.deleted && i.name.startsWith(prefix))
        .map((i) => ({ key: i.name, size: i.size, modified: new Date(i.mtime) }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key) {
      if (!(await head(key))) return false;
      await os.delete(key);
      return true;
    },

    close: () => Promise.resolve(),
  };
}
