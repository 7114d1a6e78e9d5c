/**
 * The backup manifest (`manifest.json`) and the pure rules around it: which streams of a
 * namespace a backup takes, in which order, and how a restore's result is compared with it.
 */
import type { ConsumerConfig, StreamConfig } from "../nats";

/** The manifest's format tag; a restore refuses any other. */
export const MANIFEST_FORMAT = "switchyard-backup/1";

/** One stream (a plain stream, a KV bucket or an object store) in the backup. */
export interface StreamEntry {
  readonly name: string;
  readonly kind: "stream" | "kv" | "objectstore";
  /** The stream's configuration as the server reported it. */
  readonly config: StreamConfig;
  /** Durable consumers (recreated with these configs before the messages are restored). */
  readonly consumers: readonly ConsumerConfig[];
  /** File name under streams/ (gzip of framed records, see records.ts). */
  readonly file: string;
  /** SHA-256 and size of that file. */
  readonly fileSha256: string;
  readonly fileBytes: number;
  /** Messages written, their payload bytes and the content digest over them. */
  readonly messages: number;
  readonly dataBytes: number;
  readonly contentSha256: string;
  /** The first and last sequence written (0 when none). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /**
   * The stream's last sequence when the whole backup ended: the restore makes the next
   * message get `nextSeq`, above every sequence any backed-up state may have seen.
   */
  readonly nextSeq: number;
  /** When this stream's read started and ended (ISO). */
  readonly startedAt: string;
  readonly endedAt: string;
}

/** One table of the Postgres schema. */
export interface TableEntry {
  readonly name: string;
  readonly rows: number;
  /** Order-independent checksum of the rows' text forms (see pg.ts). */
  readonly checksum: string;
}

/** The Postgres part. */
export interface PostgresEntry {
  readonly schema: string;
  readonly file: string;
  readonly fileSha256: string;
  readonly fileBytes: number;
  readonly tables: readonly TableEntry[];
  readonly startedAt: string;
  readonly endedAt: string;
}

/** The whole manifest. */
export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly namespace: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly server: { readonly version: string };
  readonly streams: readonly StreamEntry[];
  readonly postgres: PostgresEntry | null;
}

/** True when stream `name` belongs to namespace `ns` (its streams, KV buckets and object stores). */
export function inNamespace(name: string, ns: string): boolean {
  return name.startsWith(`${ns.toUpperCase()}_`) || name.startsWith(`KV_${ns}_`) || name.startsWith(`OBJ_${ns}_`);
}

/** What a stream name is: a KV bucket, an object store or a plain stream. */
export function kindOf(name: string): StreamEntry["kind"] {
  if (name.startsWith("KV_")) return "kv";
  if (name.startsWith("OBJ_")) return "objectstore";
  return "stream";
}

/**
 * The order a backup reads streams in: along the flow of work, so that a message moving on while
 * the backup runs is caught at least once (in the stream it left or in the one it reached, read
 * later): intake and other queue streams, actor mailboxes, jobs, state (KV), then retained logs
 * and feeds, dead letters, object stores. Postgres, fed by them, comes last.
 */
export function backupRank(name: string, ns: string, config: Pick<StreamConfig, "retention">): number {
  const NS = ns.toUpperCase();
  if (name.startsWith("KV_")) return 3;
  if (name.startsWith("OBJ_")) return 6;
  if (name === `${NS}_DLQ`) return 5;
  if (name === `${NS}_JOBS`) return 2;
  if (name.startsWith(`${NS}_ACTOR_`)) return 1;
  return config.retention === "limits" ? 4 : 0;
}

/** Sorts streams into backup order (rank, then name). */
export function backupOrder<T extends { name: string; config: Pick<StreamConfig, "retention"> }>(
  streams: readonly T[],
  ns: string,
): T[] {
  return [...streams].sort(
    (a, b) => backupRank(a.name, ns, a.config) - backupRank(b.name, ns, b.config) || a.name.localeCompare(b.name),
  );
}

/** One mismatch found by a check. */
export interface Mismatch {
  readonly what: string;
  readonly expected: string | number;
  readonly found: string | number;
}

/** Compares what a restored stream holds with its manifest entry. */
export function compareStream(
  e: StreamEntry,
  found: { messages: number; dataBytes: number; contentSha256: string; nextSeq: number },
): Mismatch[] {
  const out: Mismatch[] = [];
  const check = (what: string, expected: string | number, got: string | number): void => {
    if (expected !== got) out.push({ what: `${e.name} ${what}`, expected, found: got });
  };
  check("messages", e.messages, found.messages);
  check("data bytes", e.dataBytes, found.dataBytes);
  check("content sha256", e.contentSha256, found.contentSha256);
  check("next sequence", e.nextSeq, found.nextSeq);
  return out;
}

/** Compares restored tables with the manifest's. */
export function compareTables(expected: readonly TableEntry[], found: readonly TableEntry[]): Mismatch[] {
  const out: Mismatch[] = [];
  const got = new Map(found.map((t) => [t.name, t]));
  for (const t of expected) {
    const f = got.get(t.name);
    if (!f) {
      out.push({ what: `table ${t.name}`, expected: "present", found: "missing" });
      continue;
    }
    if (f.rows !== t.rows) out.push({ what: `table ${t.name} rows`, expected: t.rows, found: f.rows });
    if (f.checksum !== t.checksum)
      out.push({ what: `table ${t.name} checksum`, expected: t.checksum, found: f.checksum });
  }
  for (const f of found)
    if (!expected.some((t) => t.name === f.name))
      out.push({ what: `table ${f.name}`, expected: "absent", found: "present" });
  return out;
}

/** A subject of `pattern` (a stream subject, maybe with wildcards) that no real message uses: restore gaps go there. */
export function gapSubject(pattern: string): string {
  return pattern
    .split(".")
    .map((t) => (t === "*" || t === ">" ? "_sy_restore_gap" : t))
    .join(".");
}
