/**
 * Sealing a month of a dataset, in steps, each recorded before the next starts:
 *  1. written:    the partition's rows, read from Postgres in id order, staged in DuckDB and
 *                 copied to one Parquet file sorted by client and time (zstd, row groups of
 *                 ARCHIVE_ROW_GROUP_ROWS), put to the object store (its SHA-256 kept);
 *  2. verified:   read back from the object store (SHA-256 checked), counted and checksummed
 *                 in DuckDB, and compared with the count and checksum of the partition in Postgres;
 *  3. manifested: the month's manifest (file, rows, checksum, SHA-256, columns) put beside it;
 *  4. sealed:     in one Postgres transaction, with the partition locked, its count and checksum
 *                 checked once more, the partition dropped and the month marked sealed.
 * Every step can run again (objects are replaced, states only move forward), so a job killed
 * anywhere resumes from the last recorded state and ends with each row in exactly one place.
 */
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Pool } from "../../db";
import { quoteIdent } from "../../db";
import type { Logger } from "../../lib/logger";
import type { ObjectStore } from "../../storage";
import {
  duckCastColumns,
  duckChecksumSql,
  duckCopySql,
  duckStagingDdl,
  fileKey,
  manifestKey,
  partitionOf,
  pgChecksumSql,
  pgExportColumns,
  sealableMonths,
  type DatasetDefinition,
  type Month,
} from "./dataset";
import { lit, rows, withConnection, type DuckDBInstance } from "./duck";
import type { FileCache } from "./cache";
import type { MonthStore, SealState } from "./manifest";

/** What the sealer needs. */
export interface SealerDeps {
  readonly pg: Pool;
  readonly duck: DuckDBInstance;
  readonly store: ObjectStore;
  readonly months: MonthStore;
  readonly cache: FileCache;
  /** Scratch directory for staging databases and files being written. */
  readonly workDir: string;
  readonly rowGroupRows: number;
  /** Rows per Postgres read while staging. */
  readonly batchRows: number;
  readonly log: Logger;
  /** Called after each step is recorded (progress metrics; the crash test pauses here). */
  readonly afterStep?: (dataset: string, month: Month, step: SealState) => Promise<void> | void;
  /** Called as rows are staged (progress). */
  readonly onRows?: (dataset: string, month: Month, rows: number) => void;
}

/** Count and checksum of a month, as both engines compute them. */
interface Sum {
  readonly n: number;
  readonly checksum: string;
}

/** Outcome of sealing one month. */
export interface SealOutcome {
  readonly dataset: string;
  readonly month: Month;
  readonly rows: number;
  readonly bytes: number;
  readonly ms: number;
}

/** The months of `d` that still have a Postgres partition, oldest first. */
export async function partitionMonths(pg: Pool, d: DatasetDefinition): Promise<Month[]> {
  const r = await pg.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE p.relname = $1 AND n.nspname = current_schema()`,
    [d.table],
  );
  const re = new RegExp(`^${d.table}_(\\d{4})(\\d{2})$`);
  return r.rows
    .map((x) => re.exec(x.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}-${m[2]}`)
    .sort();
}

async function pgSum(pg: Pool | { query: Pool["query"] }, d: DatasetDefinition, partition: string): Promise<Sum> {
  const r = await pg.query<{ n: string; checksum: string }>(pgChecksumSql(d, partition));
  return { n: Number(r.rows[0]?.n ?? 0), checksum: r.rows[0]?.checksum ?? "" };
}

/** The sealer over `deps`. */
export function createSealer(deps: SealerDeps) {
  const { pg, duck, store, months, log } = deps;

  /** Step 1: Postgres partition -> staged in DuckDB -> Parquet -> object store. */
  async function write(d: DatasetDefinition, month: Month): Promise<void> {
    const partition = partitionOf(d, month);
    await mkdir(deps.workDir, { recursive: true });
    const base = path.join(deps.workDir, `${d.name}-${month}-${process.pid}`);
    const file = `${base}.parquet`;
    await withConnection(duck, async (c) => {
      const staging = `staging_${d.name}_${month.replace("-", "_")}_${process.pid}`;
      await c.run(duckStagingDdl(d, staging).replace("TEMP TABLE", "TABLE"));
      try {
        const appender = await c.createAppender(staging);
        let last: string | null = null;
        let total = 0;
        const cols = d.columns.map((x) => x.name);
        for (;;) {
          const res: { rows: Record<string, string | null>[] } = await pg.query<Record<string, string | null>>(
            `SELECT ${pgExportColumns(d)} FROM ${quoteIdent(partition)}
              ${last === null ? "" : `WHERE ${quoteIdent(d.idColumn)} > $2`}
              ORDER BY ${quoteIdent(d.idColumn)} LIMIT $1`,
            last === null ? [deps.batchRows] : [deps.batchRows, last],
          );
          for (const row of res.rows) {
            for (const col of cols) {
              const v = row[col];
              if (v === null || v === undefined) appender.appendNull();
              else appender.appendVarchar(v);
            }
            appender.endRow();
          }
          total += res.rows.length;
          deps.onRows?.(d.name, month, total);
          const tail = res.rows.at(-1);
          if (!tail || res.rows.length < deps.batchRows) break;
          last = tail[d.idColumn] ?? null;
        }
        appender.flushSync();
        appender.closeSync();
        await c.run(duckCopySql(d, `SELECT ${duckCastColumns(d)} FROM ${staging}`, `${base}.tmp`, deps.rowGroupRows));
      } finally {
        await c.run(`DROP TABLE IF EXISTS ${staging}`);
      }
    });
    await rename(`${base}.tmp`, file);
    await putFile(d, month, file);
  }

  /** Puts a written file, records `written`, and keeps the file as the cache's copy. */
  async function putFile(d: DatasetDefinition, month: Month, file: string): Promise<void> {
    const key = fileKey(d, month);
    const size = (await stat(file)).size;
    const info = await store.put(key, createReadStream(file, { highWaterMark: 1 << 20 }), {
      contentType: "application/vnd.apache.parquet",
    });
    if (info.size !== size) throw new Error(`${key}: stored ${info.size} bytes of ${size}`);
    await months.written(d.name, month, key, info.sha256, info.size);
    // the local file is the cache's copy only once the store has it; verification reads the stored one
    await rm(file, { force: true });
  }

  /**
   * Step 2: read back from the store (its SHA-256 checked), count and checksum, compare with
   * `expected`. With `sameBytes` (the expected sums are those of the very file that was put),
   * the read-back's SHA-256 equal to the written file's proves the same rows; it is counted, not
   * checksummed again.
   */
  async function verify(
    d: DatasetDefinition,
    month: Month,
    expected: () => Promise<Sum>,
    sameBytes = false,
  ): Promise<Sum> {
    const e = await months.get(d.name, month);
    if (!e) throw new Error(`${d.name} ${month}: nothing written`);
    await rm(deps.cache.pathOf(e.fileKey), { force: true });
    const local = await deps.cache.ensure(e.fileKey, e.bytes);
    const cols = d.columns.map((c) => quoteIdent(c.name)).join(", ");
    const want = await expected();
    const got = await withConnection(duck, async (c) => {
      if (sameBytes) {
        const r = await rows(c, `SELECT count(*)::BIGINT AS n FROM read_parquet(${lit(local)})`);
        return { n: Number(r[0]?.["n"] ?? 0), checksum: want.checksum };
      }
      const r = await rows(c, duckChecksumSql(d, `(SELECT ${cols} FROM read_parquet(${lit(local)}))`));
      return { n: Number(r[0]?.["n"] ?? 0), checksum: String(r[0]?.["checksum"] ?? "") };
    });
    if (got.n !== want.n || got.checksum !== want.checksum) {
      await months.reset(d.name, month);
      throw new Error(
        `${d.name} ${month}: archive file has ${got.n} rows (checksum ${got.checksum}), the source ${want.n} (${want.checksum}); the month will be written again`,
      );
    }
    await months.verified(d.name, month, got.n, got.checksum);
    return got;
  }

  /** Step 3: the manifest object. */
  async function manifest(d: DatasetDefinition, month: Month): Promise<void> {
    const e = await months.get(d.name, month);
    if (!e) throw new Error(`${d.name} ${month}: nothing verified`);
    const doc = {
      dataset: d.name,
      month,
      file: e.fileKey,
      sha256: e.sha256,
      bytes: e.bytes,
      rows: e.rows,
      checksum: e.checksum,
      sortedBy: [d.clientColumn, d.timeColumn, d.idColumn],
      columns: d.columns,
      derived: (d.derived ?? []).map((x) => x.name),
      at: new Date().toISOString(),
    };
    await store.put(manifestKey(d, month), Buffer.from(JSON.stringify(doc, null, 2)), {
      contentType: "application/json",
    });
    await months.manifested(d.name, month);
  }

  /** Step 4: drop the partition and mark the month sealed, in one transaction. */
  async function drop(d: DatasetDefinition, month: Month): Promise<void> {
    const e = await months.get(d.name, month);
    if (!e) throw new Error(`${d.name} ${month}: no manifest`);
    const partition = partitionOf(d, month);
    const tx = await pg.connect();
    try {
      await tx.query("BEGIN");
      const exists = await tx.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [`${quoteIdent(partition)}`]);
      if (exists.rows[0]?.t) {
        // nothing may change the partition between this check and the drop
        await tx.query(`LOCK TABLE ${quoteIdent(partition)} IN ACCESS EXCLUSIVE MODE`);
        const now = await pgSum(tx, d, partition);
        if (now.n !== e.rows || now.checksum !== e.checksum) {
          await tx.query("ROLLBACK");
          await months.reset(d.name, month);
          throw new Error(`${d.name} ${month}: the partition changed after it was verified; it will be written again`);
        }
        await tx.query(`DROP TABLE ${quoteIdent(partition)}`);
      }
      await months.sealed(tx, d.name, month);
      await tx.query("COMMIT");
    } catch (err) {
      await tx.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      tx.release();
    }
  }

  const stepDone = async (d: DatasetDefinition, month: Month, s: SealState): Promise<void> => {
    log.info({ dataset: d.name, month, step: s }, "archive step done");
    await deps.afterStep?.(d.name, month, s);
  };

  /** Seals one month of `d` from wherever it stopped; resolves once it is sealed. */
  async function sealMonth(d: DatasetDefinition, month: Month): Promise<SealOutcome> {
    const t0 = Date.now();
    const partition = partitionOf(d, month);
    let e = await months.get(d.name, month);
    if (!e) {
      await write(d, month);
      await stepDone(d, month, "written");
      e = await months.get(d.name, month);
    }
    if (e?.state === "written") {
      await verify(d, month, () => pgSum(pg, d, partition));
      await stepDone(d, month, "verified");
      e = await months.get(d.name, month);
    }
    if (e?.state === "verified") {
      await manifest(d, month);
      await stepDone(d, month, "manifested");
      e = await months.get(d.name, month);
    }
    if (e?.state === "manifested") {
      await drop(d, month);
      await stepDone(d, month, "sealed");
      e = await months.get(d.name, month);
    }
    if (e?.state !== "sealed") throw new Error(`${d.name} ${month}: not sealed (state ${e?.state ?? "none"})`);
    return { dataset: d.name, month, rows: e.rows ?? 0, bytes: e.bytes, ms: Date.now() - t0 };
  }

  /** Seals every month of `d` that is due (wholly older than its hot days), oldest first. */
  async function sealDue(d: DatasetDefinition, now = Date.now(), stop?: () => boolean): Promise<SealOutcome[]> {
    const due = sealableMonths(await partitionMonths(pg, d), now, d.hotDays);
    const out: SealOutcome[] = [];
    for (const m of due) {
      if (stop?.()) break;
      const o = await sealMonth(d, m);
      log.info({ ...o, rowsPerSec: Math.round((o.rows * 1000) / Math.max(1, o.ms)) }, "archive month sealed");
      out.push(o);
    }
    return out;
  }

  /**
   * Archives a month straight from a DuckDB relation (`source`: the dataset's typed columns, and
   * its derived columns too when `withDerived`), through the same writer, read-back verification
   * and manifest, with no Postgres partition (history loaded from elsewhere; the benchmark's old
   * years). The expected count and checksum are those of the file as written locally.
   */
  async function archiveFrom(
    d: DatasetDefinition,
    month: Month,
    source: string,
    withDerived = false,
  ): Promise<SealOutcome> {
    const t0 = Date.now();
    await mkdir(deps.workDir, { recursive: true });
    const file = path.join(deps.workDir, `${d.name}-${month}-${process.pid}-gen.parquet`);
    const cols = d.columns.map((c) => quoteIdent(c.name)).join(", ");
    const sum = await withConnection(duck, async (c) => {
      const copy = withDerived
        ? `COPY (SELECT * FROM (${source}) ORDER BY ${quoteIdent(d.clientColumn)}, ${quoteIdent(d.timeColumn)}, ${quoteIdent(d.idColumn)})
            TO ${lit(file)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${deps.rowGroupRows})`
        : duckCopySql(d, source, file, deps.rowGroupRows);
      await c.run(copy);
      const r = await rows(c, duckChecksumSql(d, `(SELECT ${cols} FROM read_parquet(${lit(file)}))`));
      return { n: Number(r[0]?.["n"] ?? 0), checksum: String(r[0]?.["checksum"] ?? "") };
    });
    await putFile(d, month, file);
    await verify(d, month, () => Promise.resolve(sum), true);
    await manifest(d, month);
    await drop(d, month);
    const e = await months.get(d.name, month);
    return { dataset: d.name, month, rows: e?.rows ?? 0, bytes: e?.bytes ?? 0, ms: Date.now() - t0 };
  }

  return { sealMonth, sealDue, archiveFrom };
}

/** A sealer (see {@link createSealer}). */
export type Sealer = ReturnType<typeof createSealer>;
