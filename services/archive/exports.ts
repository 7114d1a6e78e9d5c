/**
 * Export jobs: a client's rows of a dataset in a time range (hot rows from Postgres, archived
 * ones from the archive, newest first), written as one JSON-lines or CSV object to the object
 * store, then offered through a signed download URL that expires. Pure helpers (signing, CSV)
 * and the job's I/O.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { Pool } from "../../db";
import { quoteIdent } from "../../db";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { ObjectStore } from "../../storage";
import type { DatasetDefinition } from "./dataset";
import type { Reader, ArchiveRow } from "./reader";

/** Export formats. */
export const EXPORT_FORMATS = ["jsonl", "csv"] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Signature of a download of export `id` valid until `expires` (seconds since the epoch). */
export function signDownload(secret: string, id: string, expires: number): string {
  return createHmac("sha256", secret).update(`${id}.${expires}`).digest("base64url");
}

/** "ok", "expired" or "bad" for a download's signature at time `nowSec`. */
export function checkDownload(
  secret: string,
  id: string,
  expires: number,
  sig: string,
  nowSec: number,
): "ok" | "expired" | "bad" {
  const want = Buffer.from(signDownload(secret, id, expires));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return "bad";
  return nowSec > expires ? "expired" : "ok";
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV (header first). */
export function toCsv(cols: readonly string[], rows: readonly ArchiveRow[]): string {
  return [cols.join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n";
}

/** What an export needs. */
export interface ExportDeps {
  readonly pg: Pool;
  readonly store: ObjectStore;
  readonly reader: Reader;
  readonly log: Logger;
}

/** An export's request. */
export interface ExportRequest {
  readonly clientId: string;
  readonly from?: string;
  readonly to?: string;
  readonly format: ExportFormat;
}

/** The hot rows (still in Postgres) of a client in [from, to), newest first. */
async function hotRows(pg: Pool, d: DatasetDefinition, q: ExportRequest): Promise<ArchiveRow[]> {
  const cols = d.columns.filter((c) => d.listColumns.includes(c.name));
  const sel = cols
    .map((c) =>
      c.type === "TIMESTAMPTZ"
        ? `to_char(${quoteIdent(c.name)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${quoteIdent(c.name)}`
        : c.type === "DECIMAL(20,2)"
          ? `${quoteIdent(c.name)}::float8 AS ${quoteIdent(c.name)}`
          : quoteIdent(c.name),
    )
    .join(", ");
  const r = await pg.query<ArchiveRow>(
    `SELECT ${sel} FROM ${quoteIdent(d.table)} WHERE ${quoteIdent(d.clientColumn)} = $1
        AND ${quoteIdent(d.timeColumn)} >= $2 AND ${quoteIdent(d.timeColumn)} < $3
      ORDER BY ${quoteIdent(d.timeColumn)} DESC, ${quoteIdent(d.idColumn)} DESC`,
    [q.clientId, q.from ?? "1970-01-01T00:00:00Z", q.to ?? "9999-01-01T00:00:00Z"],
  );
  return r.rows;
}

/** Starts an export; resolves with its id once recorded (the work goes on in the background). */
export async function startExport(x: ExportDeps, d: DatasetDefinition, q: ExportRequest): Promise<string> {
  const id = randomUUID();
  await x.pg.query(
    "INSERT INTO archive_exports (id, dataset, client_id, state, format, params) VALUES ($1, $2, $3, 'running', $4, $5)",
    [id, d.name, q.clientId, q.format, JSON.stringify({ from: q.from ?? null, to: q.to ?? null })],
  );
  void (async () => {
    try {
      const hot = await hotRows(x.pg, d, q);
      const archived = await x.reader.list(d, {
        clientId: q.clientId,
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
        limit: Number.MAX_SAFE_INTEGER,
      });
      const seen = new Set(hot.map((r) => String(r[d.idColumn])));
      const all = [...hot, ...archived.filter((r) => !seen.has(String(r[d.idColumn])))];
      const cols = d.listColumns;
      const body =
        q.format === "csv"
          ? toCsv(cols, all)
          : all.map((r) => JSON.stringify(Object.fromEntries(cols.map((c) => [c, r[c] ?? null])))).join("\n") + "\n";
      const key = `_exports/${d.name}/${id}.${q.format}`;
      const info = await x.store.put(key, Buffer.from(body, "utf8"), {
        contentType: q.format === "csv" ? "text/csv" : "application/x-ndjson",
      });
      await x.pg.query(
        "UPDATE archive_exports SET state = 'done', file_key = $2, rows = $3, bytes = $4, finished_at = now() WHERE id = $1",
        [id, key, all.length, info.size],
      );
      x.log.info({ export: id, dataset: d.name, rows: all.length, bytes: info.size }, "archive export written");
    } catch (err) {
      x.log.error({ export: id, err: errorMessage(err) }, "archive export failed");
      await x.pg
        .query("UPDATE archive_exports SET state = 'failed', error = $2, finished_at = now() WHERE id = $1", [
          id,
          errorMessage(err),
        ])
        .catch(() => undefined);
    }
  })();
  return id;
}

/** An export's row. */
export interface ExportEntry {
  readonly id: string;
  readonly dataset: string;
  readonly clientId: string;
  readonly state: "running" | "done" | "failed";
  readonly format: ExportFormat;
  readonly fileKey: string | null;
  readonly rows: number | null;
  readonly bytes: number | null;
  readonly error: string | null;
}

/** An export by id. */
export async function exportOf(pg: Pool, id: string): Promise<ExportEntry | undefined> {
  const r = await pg.query<{
    id: string;
    dataset: string;
    client_id: string;
    state: ExportEntry["state"];
    format: ExportFormat;
    file_key: string | null;
    rows: string | null;
    bytes: string | null;
    error: string | null;
  }>("SELECT * FROM archive_exports WHERE id = $1", [id]);
  const e = r.rows[0];
  if (!e) return undefined;
  return {
    id: e.id,
    dataset: e.dataset,
    clientId: e.client_id,
    state: e.state,
    format: e.format,
    fileKey: e.file_key,
    rows: e.rows === null ? null : Number(e.rows),
    bytes: e.bytes === null ? null : Number(e.bytes),
    error: e.error,
  };
}
