/**
 * Reads of sealed months: a client's rows newest first with the same keyset position as the hot
 * store's (time, id), and one row by id. Months are scanned newest first in growing batches
 * (1, 2, 4, ... files per DuckDB query) until the page is full, so a recent page touches few
 * files and a 20-year page reads each month's file once; inside a file, rows are sorted by
 * client and time, so row groups of other clients are skipped by their statistics.
 */
import { quoteIdent } from "../../db";
import { AppError } from "../../lib/errors";
import { monthRange, type DatasetColumn, type DatasetDefinition } from "./dataset";
import { lit, rows, withConnection, type DuckDBInstance } from "./duck";
import type { FileCache } from "./cache";
import type { MonthEntry, MonthStore } from "./manifest";

/** A page request (times as ISO strings). */
export interface ArchiveListQuery {
  readonly clientId: string;
  readonly from?: string;
  readonly to?: string;
  /** Equality filters on the dataset's filter columns. */
  readonly filters?: Readonly<Record<string, string>>;
  /** Rows strictly before this (time, id) position. */
  readonly before?: { readonly time: string; readonly id: string };
  readonly limit: number;
}

/** A row as JSON values (timestamps ISO, blobs base64, JSON parsed, decimals numbers). */
export type ArchiveRow = Record<string, unknown>;

function selectOf(c: DatasetColumn): string {
  const col = quoteIdent(c.name);
  switch (c.type) {
    case "TIMESTAMPTZ":
      return `epoch_ms(${col}) AS ${col}`;
    case "DECIMAL(20,2)":
      return `CAST(${col} AS DOUBLE) AS ${col}`;
    case "BLOB":
      return `base64(${col}) AS ${col}`;
    case "JSON":
      return `CAST(${col} AS VARCHAR) AS ${col}`;
    default:
      return col;
  }
}

function toJson(cols: readonly DatasetColumn[], r: Record<string, unknown>): ArchiveRow {
  const out: ArchiveRow = {};
  for (const c of cols) {
    const v = r[c.name];
    if (v === null || v === undefined) out[c.name] = null;
    else if (c.type === "TIMESTAMPTZ") out[c.name] = new Date(Number(v)).toISOString();
    else if (c.type === "JSON") out[c.name] = JSON.parse(String(v)) as unknown;
    else if (typeof v === "bigint") out[c.name] = v.toString();
    else out[c.name] = v;
  }
  return out;
}

/** Reads over sealed months. */
export function createReader(deps: { duck: DuckDBInstance; months: MonthStore; cache: FileCache }) {
  async function sealed(d: DatasetDefinition): Promise<MonthEntry[]> {
    return (await deps.months.all(d.name)).filter((m) => m.state === "sealed");
  }

  async function list(d: DatasetDefinition, q: ArchiveListQuery): Promise<ArchiveRow[]> {
    const from = q.from ? Date.parse(q.from) : 0;
    const upper = Math.min(q.to ? Date.parse(q.to) : Infinity, q.before ? Date.parse(q.before.time) + 1 : Infinity);
    for (const [k, v] of Object.entries(q.filters ?? {}))
      if (!d.filterColumns.includes(k) || typeof v !== "string")
        throw new AppError("INVALID_PARAMETER", `cannot filter ${d.name} on ${k}`);
    const months = (await sealed(d))
      .filter((m) => {
        const [lo, hi] = monthRange(m.month);
        return hi > from && lo < upper;
      })
      .reverse();
    const cols = d.columns.filter(
      (c) => d.listColumns.includes(c.name) || c.name === d.idColumn || c.name === d.timeColumn,
    );
    const t = quoteIdent(d.timeColumn);
    const id = quoteIdent(d.idColumn);
    const where: string[] = [`${quoteIdent(d.clientColumn)} = $1`];
    const params: string[] = [q.clientId];
    const bind = (v: string): string => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.from) where.push(`${t} >= CAST(${bind(q.from)} AS TIMESTAMPTZ)`);
    if (q.to) where.push(`${t} < CAST(${bind(q.to)} AS TIMESTAMPTZ)`);
    if (q.before) {
      const bt = bind(q.before.time);
      const bi = bind(q.before.id);
      where.push(`(${t} < CAST(${bt} AS TIMESTAMPTZ) OR (${t} = CAST(${bt} AS TIMESTAMPTZ) AND ${id} < ${bi}))`);
    }
    for (const [k, v] of Object.entries(q.filters ?? {})) where.push(`${quoteIdent(k)} = ${bind(v)}`);
    const out: ArchiveRow[] = [];
    let i = 0;
    let batch = 1;
    while (i < months.length && out.length < q.limit) {
      const group = months.slice(i, i + batch);
      i += group.length;
      batch *= 2;
      const files = await Promise.all(group.map((m) => deps.cache.ensure(m.fileKey, m.bytes)));
      const got = await withConnection(deps.duck, (c) =>
        rows(
          c,
          `SELECT ${cols.map(selectOf).join(", ")} FROM read_parquet([${files.map(lit).join(", ")}])
            WHERE ${where.join(" AND ")} ORDER BY ${t} DESC, ${id} DESC LIMIT ${q.limit - out.length}`,
          params,
        ),
      );
      for (const r of got) out.push(toJson(cols, r));
    }
    return out;
  }

  /** One row by id, with every column; `time` is the row's time (its month holds it). */
  async function get(
    d: DatasetDefinition,
    clientId: string,
    rowId: string,
    time: string,
  ): Promise<ArchiveRow | undefined> {
    const month = time.slice(0, 7);
    const m = (await sealed(d)).find((x) => x.month === month);
    if (!m) return undefined;
    const file = await deps.cache.ensure(m.fileKey, m.bytes);
    const got = await withConnection(deps.duck, (c) =>
      rows(
        c,
        `SELECT ${d.columns.map(selectOf).join(", ")} FROM read_parquet(${lit(file)})
          WHERE ${quoteIdent(d.clientColumn)} = $1 AND ${quoteIdent(d.idColumn)} = $2 LIMIT 1`,
        [clientId, rowId],
      ),
    );
    return got[0] ? toJson(d.columns, got[0]) : undefined;
  }

  /** The local files of every sealed month of `d` (analytics reads them). */
  async function files(d: DatasetDefinition): Promise<string[]> {
    return Promise.all((await sealed(d)).map((m) => deps.cache.ensure(m.fileKey, m.bytes)));
  }

  return { list, get, files, sealed };
}

/** A reader (see {@link createReader}). */
export type Reader = ReturnType<typeof createReader>;
