/**
 * `npm run restore -- --from DIR`: checks every file of a backup against its manifest, then
 * recreates the namespace's streams, buckets and object stores on a NATS that has none of them,
 * and its Postgres schema in a database that lacks it, and verifies the result against the
 * manifest: every stream is read back (message count, payload bytes and content digest over
 * sequences, subjects, headers and payloads) and every table counted and checksummed.
 *
 * Names are kept. Stream names, subjects, bucket names and the Postgres schema all carry the
 * namespace, and actors' state records the stream sequences it applied, so a backup restores
 * under its own namespace, into another NATS account or server and another database (a
 * standby, a fresh environment, a test): the restore refuses a target that already has any of
 * them. Restoring beside the live original means a second account or server, not a new name.
 *
 * Each stream is created with its backed-up configuration (replicas may be overridden) and its
 * durable consumers, then its messages are published again in order at their original
 * sequences: a gap (messages acked or removed before the backup) is skipped by a purge up to
 * the next sequence while the stream is empty, or filled with placeholder messages on a subject
 * no real message uses that are purged afterwards; the stream ends at the sequence it had when
 * the backup finished, so new messages come after everything the restored state has seen.
 * Consumers start from the stream's first message (work queues and interest streams hold only
 * what is unacknowledged, so nothing is redelivered there; a durable consumer on a retained log
 * sees it again from the start). The duplicate window starts empty and message times are the
 * restore's: limits by age count again from the restore.
 */
import { createReadStream, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { createGunzip } from "node:zlib";
import type { Logger } from "../lib/logger";
import { headers as natsHeaders, type ConsumerConfig, type NatsHandles, type PubAck, type StreamConfig } from "../nats";
import { fileSha256 } from "./backup";
import { schemaExists, restoreSchema } from "./pg";
import { scanStream } from "./scan";
import { ContentDigest, RecordDecoder, keptHeader, type StreamRecord } from "./records";
import { withStoredAt } from "../streams/stored-at";
import { inNamespace } from "./manifest";
import { MANIFEST_FORMAT, compareStream, compareTables, gapSubject, type Manifest, type Mismatch } from "./manifest";

/** Options of {@link restore}. */
export interface RestoreOptions {
  readonly nats: NatsHandles;
  /** The target database (the schema must not exist there). Omit to leave Postgres out. */
  readonly databaseUrl?: string;
  readonly dir: string;
  readonly log: Logger;
  /** Replicas of every restored stream (default: as backed up). */
  readonly replicas?: number;
  /** Publishes in flight per stream (default 512). */
  readonly window?: number;
  readonly progressMs?: number;
}

/** What a restore did and found. */
export interface RestoreReport {
  readonly namespace: string;
  readonly streams: number;
  readonly messages: number;
  readonly dataBytes: number;
  readonly tables: number;
  readonly rows: number;
  /** Differences between the manifest and the restored data (empty: it matches). */
  readonly mismatches: readonly Mismatch[];
  readonly ms: number;
}

/** Reads and checks `dir/manifest.json`. */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, "manifest.json");
  if (!existsSync(file)) throw new Error(`${dir} holds no manifest.json (not a backup, or an unfinished one)`);
  const m = JSON.parse(readFileSync(file, "utf8")) as Manifest;
  if (m.format !== MANIFEST_FORMAT) throw new Error(`unknown backup format ${JSON.stringify(m.format)}`);
  return m;
}

/** Checks every file's size and SHA-256 against the manifest. */
export async function verifyFiles(dir: string, m: Manifest): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  const files = [
    ...m.streams.map((s) => ({ file: path.join(dir, "streams", s.file), sha256: s.fileSha256, bytes: s.fileBytes })),
    ...(m.postgres
      ? [{ file: path.join(dir, m.postgres.file), sha256: m.postgres.fileSha256, bytes: m.postgres.fileBytes }]
      : []),
  ];
  for (const f of files) {
    if (!existsSync(f.file)) {
      out.push({ what: `file ${path.basename(f.file)}`, expected: "present", found: "missing" });
      continue;
    }
    const got = await fileSha256(f.file);
    if (got.bytes !== f.bytes)
      out.push({ what: `file ${path.basename(f.file)} size`, expected: f.bytes, found: got.bytes });
    else if (got.sha256 !== f.sha256)
      out.push({ what: `file ${path.basename(f.file)} sha256`, expected: f.sha256, found: got.sha256 });
  }
  return out;
}

/** The records of a stream file, in order. */
export async function* readRecords(file: string): AsyncGenerator<StreamRecord> {
  const dec = new RecordDecoder();
  for await (const chunk of createReadStream(file).pipe(createGunzip()))
    for (const r of dec.push(chunk as Buffer)) yield r;
  dec.end();
}

/** A stream to put back: its configuration, durable consumers, and the sequence to end before. */
export interface LoadTarget {
  readonly name: string;
  readonly config: StreamConfig;
  readonly consumers: readonly ConsumerConfig[];
  /** The next message published after the load gets this sequence. */
  readonly nextSeq: number;
}

/** What a loaded stream holds, read back from the server. */
export interface Loaded {
  readonly messages: number;
  readonly dataBytes: number;
  readonly contentSha256: string;
  readonly nextSeq: number;
  /** Messages in the loaded stream that are not records: producers' (only with `foreignWrites`). */
  readonly foreign?: number;
}

/** Options of {@link loadStream}. */
export interface LoadOptions {
  readonly replicas?: number;
  /** Publishes in flight (default 512). */
  readonly window?: number;
  readonly progressMs?: number;
  /**
   * Producers may publish into the stream while it is loaded (a promoted standby's intake:
   * producers re-pointed to the standby publish as soon as the stream captures their subjects,
   * and nats-server 2.9 cannot keep them out of a stream that must capture those subjects to be
   * loaded). Their messages are kept where they landed; the records after them are stored that
   * many sequences later, in order (positions are not kept: only for work queues whose sequences
   * nothing refers to, with no purge while loading, which would remove a producer's acked
   * message). Default false: a message from elsewhere fails the load.
   */
  readonly foreignWrites?: boolean;
}

/** The configuration a stream is created with while its messages are put back. */
function loadingConfig(
  config: StreamConfig,
  replicas: number | undefined,
): { load: StreamConfig; final: StreamConfig } {
  const { mirror: _m, sources: _s, sealed: _sealed, ...base } = config as StreamConfig & { sealed?: boolean };
  const final = { ...base, ...(replicas !== undefined ? { num_replicas: replicas } : {}) } as StreamConfig;
  // Gaps are purged away; a message id stored twice (over a window apart) must not be dropped as a
  // duplicate: the window is the server's least, 100 ms (a drop would still be caught: sequences are checked).
  const load = { ...final, deny_purge: false, deny_delete: false, duplicate_window: 100_000_000 } as StreamConfig;
  return { load, final };
}

/**
 * Creates stream `t.name` (which must not exist) with its consumers and publishes `recs` at their
 * original sequences (see the module doc), ending before `t.nextSeq`; then reads it back.
 */
export async function loadStream(
  h: NatsHandles,
  log: Logger,
  t: LoadTarget,
  recs: AsyncIterable<StreamRecord>,
  o: LoadOptions = {},
): Promise<Loaded> {
  const { load, final } = loadingConfig(t.config, o.replicas);
  await h.jsm.streams.add(load);
  for (const c of t.consumers) await h.jsm.consumers.add(t.name, c);
  const gap = gapSubject(final.subjects?.[0] ?? `${t.name}.gap`);
  const window = o.window ?? 512;
  const every = o.progressMs ?? 1000;
  let next = 1; // the sequence the next publish gets
  let published = 0; // real messages
  let fillers = 0;
  const tolerant = o.foreignWrites === true;
  let shift = 0; // sequences taken by messages from elsewhere (foreignWrites)
  const inflight: { p: Promise<PubAck>; seq: number }[] = [];
  const settle = async (keep: number): Promise<void> => {
    while (inflight.length > keep) {
      const { p, seq } = inflight.shift()!;
      const ack = await p;
      if (tolerant && ack.duplicate) {
        // a producer's retry of this very message landed first: it is there, one sequence less
        shift--;
        continue;
      }
      if (tolerant && ack.seq > seq + shift) {
        // producers' messages took the sequences in between: ours follow them, in order
        shift = ack.seq - seq;
        continue;
      }
      if (ack.seq !== seq + shift)
        throw new Error(
          `load of ${t.name}: a message was stored at ${ack.seq}, expected ${seq}${ack.duplicate ? " (dropped as a duplicate)" : ""}`,
        );
    }
  };
  const publish = (subject: string, data: Uint8Array, hdrs?: StreamRecord["headers"]): Promise<void> => {
    let opts = {};
    if (hdrs && hdrs.length > 0) {
      const hh = natsHeaders();
      for (const [k, v] of hdrs) if (keptHeader(k)) hh.append(k, v);
      opts = { headers: hh };
    }
    inflight.push({ p: h.js.publish(subject, data, { ...opts, timeout: 30_000 }), seq: next++ });
    return inflight.length >= window ? settle(window / 2) : Promise.resolve();
  };
  const skipTo = async (seq: number): Promise<void> => {
    if (tolerant) {
      // fillers, never a purge (it would remove a producer's message); overshooting a gap by
      // the shift not yet seen only leaves a higher next sequence, which is harmless
      while (next + shift < seq) {
        fillers++;
        await publish(gap, new Uint8Array(0));
      }
      return;
    }
    if (seq <= next) return;
    if (published === 0 && fillers === 0) {
      // a publisher that reached the new stream first would be purged away: refuse instead
      if ((await h.jsm.streams.info(t.name)).state.messages > 0)
        throw new Error(
          `load of ${t.name}: a message from elsewhere reached it while it was being loaded; stop its publishers and run again`,
        );
      await h.jsm.streams.purge(t.name, { seq });
      next = seq;
      return;
    }
    while (next < seq) {
      fillers++;
      await publish(gap, new Uint8Array(0));
    }
  };
  let last = Date.now();
  for await (const r of recs) {
    await skipTo(r.seq);
    await publish(r.subject, r.data, withStoredAt(r.headers, r.timeNs));
    published++;
    if (Date.now() - last >= every) {
      last = Date.now();
      log.info({ stream: t.name, messages: published }, "loading");
    }
  }
  await skipTo(t.nextSeq);
  await settle(0);
  if (fillers > 0) await h.jsm.streams.purge(t.name, { filter: gap });
  await h.jsm.streams.update(t.name, final);
  const info = await h.jsm.streams.info(t.name);
  const digest = new ContentDigest();
  if (info.state.messages > 0)
    await scanStream(h.nc, t.name, info.state.first_seq, info.state.last_seq, (m) => digest.add(m));
  return {
    messages: digest.count,
    dataBytes: digest.bytes,
    contentSha256: digest.hex(),
    nextSeq: info.state.last_seq + 1,
    ...(tolerant ? { foreign: Math.max(0, digest.count - published) } : {}),
  };
}

/**
 * Restores the backup in `o.dir` (see the module doc). Throws before changing anything when a
 * file does not match the manifest or the target already has part of the namespace; returns
 * the report with every difference found after restoring (none: it matches).
 */
export async function restore(o: RestoreOptions): Promise<RestoreReport> {
  const t0 = Date.now();
  const m = readManifest(o.dir);
  o.log.info(
    { namespace: m.namespace, streams: m.streams.length, backupStarted: m.startedAt },
    "checking the backup's files",
  );
  const bad = await verifyFiles(o.dir, m);
  if (bad.length > 0)
    throw new Error(
      `the backup does not match its manifest: ${bad.map((b) => `${b.what}: expected ${b.expected}, found ${b.found}`).join("; ")}`,
    );
  const present: string[] = [];
  for await (const name of o.nats.jsm.streams.names()) if (inNamespace(name, m.namespace)) present.push(name);
  if (present.length > 0)
    throw new Error(
      `the target NATS already has streams of namespace ${m.namespace}: ${present.join(", ")} (restore into an empty account or server)`,
    );
  if (o.databaseUrl && m.postgres && (await schemaExists(o.databaseUrl, m.postgres.schema)))
    throw new Error(`the target database already has schema ${m.postgres.schema} (restore into a database without it)`);
  const mismatches: Mismatch[] = [];
  for (const [i, e] of m.streams.entries()) {
    const t = Date.now();
    const found = compareStream(
      e,
      await loadStream(o.nats, o.log, e, readRecords(path.join(o.dir, "streams", e.file)), {
        ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
        ...(o.window !== undefined ? { window: o.window } : {}),
        ...(o.progressMs !== undefined ? { progressMs: o.progressMs } : {}),
      }),
    );
    mismatches.push(...found);
    o.log.info(
      {
        stream: e.name,
        progress: `${i + 1}/${m.streams.length}`,
        messages: e.messages,
        ms: Date.now() - t,
        matches: found.length === 0,
      },
      "stream restored",
    );
  }
  let tables = 0;
  let rows = 0;
  if (o.databaseUrl && m.postgres) {
    o.log.info({ schema: m.postgres.schema }, "restoring the Postgres schema");
    const got = await restoreSchema(o.databaseUrl, m.postgres.schema, path.join(o.dir, m.postgres.file));
    mismatches.push(...compareTables(m.postgres.tables, got));
    tables = got.length;
    rows = got.reduce((n, t) => n + t.rows, 0);
    o.log.info({ tables, rows }, "Postgres schema restored");
  }
  return {
    namespace: m.namespace,
    streams: m.streams.length,
    messages: m.streams.reduce((n, s) => n + s.messages, 0),
    dataBytes: m.streams.reduce((n, s) => n + s.dataBytes, 0),
    tables,
    rows,
    mismatches,
    ms: Date.now() - t0,
  };
}
