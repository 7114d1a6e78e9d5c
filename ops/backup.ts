/**
 * `npm run backup -- --to DIR`: every stream, KV bucket and object store of a namespace (found on
 * the server by the namespace's name prefixes), the namespace's Postgres schema, and a manifest
 * with counts and checksums. It runs beside a live cluster under load and changes nothing there.
 *
 * What a backup taken under load holds: every message stored before the backup started (every
 * publish acked to a producer by then) is in it, either as a message of the stream it was in or
 * as its effect on the state read after that stream. Streams are read one after another along
 * the flow of work (manifest.ts, backupRank), so a message that moves on during the backup is
 * caught at least once; a restored cluster meets some work twice and absorbs it as it absorbs
 * any redelivery (stream sequences are kept, so actors skip what their state already applied;
 * effects carry idempotency keys). Work that cycles back (a job whose result reaches its actor
 * while the backup runs) can be caught in neither copy; it is recovered by its owner's own
 * repair path (a domain's sweeper, a job's deadline), as after a crash. Messages
 * stored after the backup started may or may not be in it.
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { createGzip } from "node:zlib";
import type { Logger } from "../lib/logger";
import type { ConsumerConfig, NatsHandles, RawStoredMessage, StreamInfo } from "../nats";
import { dumpSchema } from "./pg";
import { readByConsumer, readLatestPerSubject, scanStream } from "./scan";
import { ContentDigest, encodeRecord, keptHeader, type StreamRecord } from "./records";
import {
  MANIFEST_FORMAT,
  backupOrder,
  inNamespace,
  kindOf,
  type Manifest,
  type PostgresEntry,
  type StreamEntry,
} from "./manifest";

/** Options of {@link backup}. */
export interface BackupOptions {
  readonly nats: NatsHandles;
  /** The cluster's database; the schema is the namespace. Omit to leave Postgres out. */
  readonly databaseUrl?: string;
  readonly namespace: string;
  readonly dir: string;
  readonly log: Logger;
  /** Progress lines at most this often (default 1 s). */
  readonly progressMs?: number;
}

/** SHA-256 (hex) and size of a file. */
export async function fileSha256(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return { sha256: h.digest("hex"), bytes: statSync(file).size };
}

/** A stream file being written (gzip of framed records). */
export interface RecordFile {
  write(r: StreamRecord): Promise<void>;
  close(): Promise<void>;
}

/** Opens `file` for records (see records.ts). */
export function openRecordFile(file: string): RecordFile {
  const gz = createGzip({ level: 1 });
  const out = createWriteStream(file);
  const closed = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
    gz.on("error", reject);
  });
  gz.pipe(out);
  return {
    write: async (r) => {
      if (!gz.write(encodeRecord(r))) await new Promise<void>((res) => gz.once("drain", () => res()));
    },
    close: async () => {
      gz.end();
      await closed;
    },
  };
}

/** The streams of `ns` on the server, in backup order. */
export async function namespaceStreams(h: NatsHandles, ns: string): Promise<StreamInfo[]> {
  const out: StreamInfo[] = [];
  for await (const si of h.jsm.streams.list()) if (inNamespace(si.config.name, ns)) out.push(si);
  return backupOrder(
    out.map((si) => ({ ...si, name: si.config.name })),
    ns,
  );
}

async function durableConsumers(h: NatsHandles, stream: string): Promise<ConsumerConfig[]> {
  const out: ConsumerConfig[] = [];
  for await (const ci of h.jsm.consumers.list(stream)) if (ci.config.durable_name) out.push(ci.config);
  return out.sort((a, b) => (a.durable_name ?? "").localeCompare(b.durable_name ?? ""));
}

/** Writes one stream's messages to `file`; returns the entry without `nextSeq`. */
async function backupStream(
  o: BackupOptions,
  si: StreamInfo,
  file: string,
  progress: (done: number) => void,
): Promise<Omit<StreamEntry, "nextSeq">> {
  const startedAt = new Date().toISOString();
  const name = si.config.name;
  const consumers = await durableConsumers(o.nats, name);
  // the state as the read starts (the listing is older), so nothing moved beyond its range yet
  const { first_seq: first, last_seq: last, messages } = (await o.nats.jsm.streams.info(name)).state;
  const w = openRecordFile(file);
  const digest = new ContentDigest();
  let firstSeq = 0;
  let lastSeq = 0;
  const take = async (m: RawStoredMessage): Promise<void> => {
    const rec = { ...m, headers: m.headers.filter(([k]) => keptHeader(k)) };
    digest.add(rec);
    if (firstSeq === 0) firstSeq = m.seq;
    lastSeq = m.seq;
    await w.write(rec);
    progress(digest.count);
  };
  // Work-queue and interest streams allow no reader beside their consumers (and lose messages
  // only when they are acknowledged): by sequence. KV buckets: each key's latest revision (a
  // busy key would move ahead of any sequential reader). Other streams: an ordered consumer.
  if (messages > 0) {
    if (kindOf(name) === "kv") await readLatestPerSubject(o.nats, name, take);
    else if (si.config.retention === "limits") await readByConsumer(o.nats.js, name, last, take);
    else await scanStream(o.nats.nc, name, first, last, take);
  }
  await w.close();
  const f = await fileSha256(file);
  return {
    name,
    kind: kindOf(name),
    config: si.config,
    consumers,
    file: path.basename(file),
    fileSha256: f.sha256,
    fileBytes: f.bytes,
    messages: digest.count,
    dataBytes: digest.bytes,
    contentSha256: digest.hex(),
    firstSeq,
    lastSeq,
    startedAt,
    endedAt: new Date().toISOString(),
  };
}

/**
 * Takes a backup of namespace `o.namespace` into `o.dir` (created; it must not hold a manifest
 * already) and returns the manifest it wrote last (a directory without `manifest.json` is an
 * unfinished backup).
 */
export async function backup(o: BackupOptions): Promise<Manifest> {
  const startedAt = new Date().toISOString();
  if (existsSync(path.join(o.dir, "manifest.json"))) throw new Error(`${o.dir} already holds a backup (manifest.json)`);
  mkdirSync(path.join(o.dir, "streams"), { recursive: true });
  const every = o.progressMs ?? 1000;
  const streams = await namespaceStreams(o.nats, o.namespace);
  const total = streams.reduce((n, s) => n + s.state.messages, 0);
  o.log.info({ streams: streams.length, messages: total }, `backup of namespace ${o.namespace} started`);
  const entries: Omit<StreamEntry, "nextSeq">[] = [];
  let doneBefore = 0;
  for (const [i, si] of streams.entries()) {
    const name = si.config.name;
    const t0 = Date.now();
    let last = t0;
    const entry = await backupStream(o, si, path.join(o.dir, "streams", `${name}.rec.gz`), (n) => {
      const now = Date.now();
      if (now - last < every) return;
      last = now;
      o.log.info(
        {
          stream: name,
          progress: `${i + 1}/${streams.length}`,
          messages: n,
          of: si.state.messages,
          overall: `${doneBefore + n}/${total}`,
        },
        "backing up",
      );
    });
    doneBefore += entry.messages;
    entries.push(entry);
    o.log.info(
      {
        stream: name,
        progress: `${i + 1}/${streams.length}`,
        messages: entry.messages,
        bytes: entry.fileBytes,
        ms: Date.now() - t0,
      },
      "stream backed up",
    );
  }
  // The next sequence of every stream once all were read: above anything the state read saw.
  const withNext: StreamEntry[] = [];
  for (const e of entries) {
    const info = await o.nats.jsm.streams.info(e.name);
    withNext.push({ ...e, nextSeq: Math.max(info.state.last_seq, e.lastSeq) + 1 });
  }
  let postgres: PostgresEntry | null = null;
  if (o.databaseUrl) {
    const pgStarted = new Date().toISOString();
    const file = path.join(o.dir, "postgres.dump");
    o.log.info({ schema: o.namespace }, "dumping the Postgres schema");
    const tables = await dumpSchema(o.databaseUrl, o.namespace, file);
    const f = await fileSha256(file);
    postgres = {
      schema: o.namespace,
      file: "postgres.dump",
      fileSha256: f.sha256,
      fileBytes: f.bytes,
      tables,
      startedAt: pgStarted,
      endedAt: new Date().toISOString(),
    };
    o.log.info(
      { tables: tables.length, rows: tables.reduce((n, t) => n + t.rows, 0), bytes: f.bytes },
      "Postgres schema dumped",
    );
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    namespace: o.namespace,
    startedAt,
    endedAt: new Date().toISOString(),
    server: { version: o.nats.nc.info?.version ?? "unknown" },
    streams: withNext,
    postgres,
  };
  const tmp = path.join(o.dir, "manifest.json.tmp");
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, path.join(o.dir, "manifest.json"));
  return manifest;
}
