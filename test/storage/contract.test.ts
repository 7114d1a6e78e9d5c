/**
 * The object-store contract, run on both backends against real servers: S3 (s3rver started
 * here, the same client path as MinIO or AWS) and the JetStream object store (the shared NATS
 * server, a fresh bucket). put, get, range get, list by prefix, delete, checksums (kept with
 * the object and checked by verified reads and downloads), and large objects in parts.
 */
import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { connectNats, type NatsHandles } from "../../nats";
import {
  downloadVerified,
  openJetStreamStore,
  openS3Store,
  readVerified,
  StorageError,
  type ObjectStore,
} from "../../storage";
import { NATS_URL, cleanupNamespace, freshNamespace } from "../support/namespace";
import { startS3rver, type TestS3 } from "./s3server";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

async function collect(it: AsyncIterable<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!it) return undefined;
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function* inPieces(b: Buffer, piece: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += piece) yield b.subarray(i, i + piece);
}

interface Backend {
  readonly name: string;
  open(): Promise<ObjectStore>;
  close(): Promise<void>;
  /** Parts the store uses for a large object (the size that forces several). */
  readonly partBytes: number;
}

function s3Backend(): Backend {
  let s3: TestS3 | undefined;
  return {
    name: "S3 (s3rver)",
    partBytes: 5 * 1024 * 1024,
    async open() {
      s3 = await startS3rver("contract");
      return openS3Store({ ...s3, region: "us-east-1", bucket: "contract", partBytes: 5 * 1024 * 1024 });
    },
    async close() {
      await s3?.close();
    },
  };
}

function jetstreamBackend(): Backend {
  const ns = freshNamespace("tst");
  let h: NatsHandles | undefined;
  return {
    name: "JetStream object store",
    partBytes: 64 * 1024,
    async open() {
      h = await connectNats(NATS_URL, `storage-${ns}`);
      return openJetStreamStore({ nc: h.nc, bucket: `${ns}_objects`, chunkBytes: 64 * 1024 });
    },
    async close() {
      await h?.nc.close();
      await cleanupNamespace(ns);
    },
  };
}

for (const backend of [s3Backend(), jetstreamBackend()]) {
  describe(`object store contract: ${backend.name}`, function () {
    this.timeout(60_000);
    let store: ObjectStore;
    let tmp: string;

    before(async function () {
      store = await backend.open();
      tmp = await mkdtemp(path.join(os.tmpdir(), "sy-storage-"));
    });
    after(async function () {
      await store?.close();
      await backend.close();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it("puts and gets an object with its size, SHA-256 and content type", async function () {
      const body = Buffer.from("hello, archive");
      const info = await store.put("a/hello.txt", body, { contentType: "text/plain" });
      expect(info.size).to.equal(body.length);
      expect(info.sha256).to.equal(sha(body));
      const h = await store.head("a/hello.txt");
      expect(h?.sha256).to.equal(sha(body));
      expect(h?.size).to.equal(body.length);
      expect(h?.contentType).to.equal("text/plain");
      expect((await collect(await store.get("a/hello.txt")))?.toString()).to.equal("hello, archive");
      expect((await readVerified(store, "a/hello.txt"))?.equals(body)).to.equal(true);
    });

    it("replaces an object put again under the same key", async function () {
      await store.put("a/replace.bin", Buffer.from("one"));
      const info = await store.put("a/replace.bin", Buffer.from("second"));
      expect(info.sha256).to.equal(sha(Buffer.from("second")));
      expect((await readVerified(store, "a/replace.bin"))?.toString()).to.equal("second");
    });

    it("answers undefined for an absent object", async function () {
      expect(await store.get("a/none")).to.equal(undefined);
      expect(await store.head("a/none")).to.equal(undefined);
      expect(await store.getRange("a/none", 0, 10)).to.equal(undefined);
      expect(await readVerified(store, "a/none")).to.equal(undefined);
    });

    it("reads byte ranges, inside, across parts and past the end", async function () {
      const body = randomBytes(3 * backend.partBytes + 1234);
      await store.put("r/range.bin", inPieces(body, 10_000));
      const mid = backend.partBytes - 100;
      expect((await store.getRange("r/range.bin", 0, 10))?.equals(body.subarray(0, 10))).to.equal(true);
      expect((await store.getRange("r/range.bin", mid, 500))?.equals(body.subarray(mid, mid + 500))).to.equal(true);
      const tail = await store.getRange("r/range.bin", body.length - 34, 100);
      expect(tail?.equals(body.subarray(body.length - 34))).to.equal(true);
    });

    it("lists by prefix in key order, and only that prefix", async function () {
      await store.put("l/x/2026/b.parquet", Buffer.from("b"));
      await store.put("l/x/2025/a.parquet", Buffer.from("a"));
      await store.put("l/y/c.parquet", Buffer.from("c"));
      const xs = await store.list("l/x/");
      expect(xs.map((o) => o.key)).to.deep.equal(["l/x/2025/a.parquet", "l/x/2026/b.parquet"]);
      expect(xs[0]?.size).to.equal(1);
      expect((await store.list("l/")).map((o) => o.key)).to.have.length(3);
      expect(await store.list("l/z/")).to.deep.equal([]);
    });

    it("deletes an object (true once, then false) and it is gone from get and list", async function () {
      await store.put("d/gone.txt", Buffer.from("bye"));
      expect(await store.delete("d/gone.txt")).to.equal(true);
      expect(await store.delete("d/gone.txt")).to.equal(false);
      expect(await store.get("d/gone.txt")).to.equal(undefined);
      expect(await store.list("d/")).to.deep.equal([]);
    });

    it("stores a large object in parts, checksummed end to end, and downloads it verified", async function () {
      const body = randomBytes(2 * backend.partBytes + 777);
      const info = await store.put("big/large.bin", inPieces(body, 1 << 20), {
        contentType: "application/octet-stream",
      });
      expect(info.size).to.equal(body.length);
      expect(info.sha256).to.equal(sha(body));
      expect((await store.head("big/large.bin"))?.sha256).to.equal(sha(body));
      const file = path.join(tmp, "large.bin");
      expect(await downloadVerified(store, "big/large.bin", file)).to.equal(sha(body));
      expect((await readFile(file)).equals(body)).to.equal(true);
    });

    it("refuses keys that are not clean paths", async function () {
      for (const key of ["", "/abs", "a//b", "a/../b", "a b", "a/./b"]) {
        const err = await store.put(key, Buffer.from("x")).catch((e: unknown) => e);
        expect(err, key).to.be.instanceOf(StorageError);
        expect((err as StorageError).code).to.equal("INVALID_KEY");
      }
    });
  });
}
