/**
 * Analytics over a dataset's archive with DuckDB: named queries (declared by the dataset's
 * owner, run over the relation `dataset`, confined to one client unless the caller may see all)
 * and operators' read-only SQL (one SELECT, no file or network access beyond the archive's
 * files, a time limit and a row limit). Refusals are 4xx AppErrors.
 */
import { AppError } from "../../lib/errors";
import { quoteIdent } from "../../db";
import { lit, rows, type DuckDBConnection, type DuckDBInstance } from "./duck";
import type { DatasetDefinition, NamedQuery } from "./dataset";
import type { MonthEntry } from "./manifest";

/** Checks and coerces named-query parameters (400 INVALID_PARAMETER on anything wrong). */
export function bindParams(q: NamedQuery, given: Readonly<Record<string, unknown>>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of Object.keys(given))
    if (!q.params.some((p) => p.name === k)) throw new AppError("INVALID_PARAMETER", `unknown parameter ${k}`);
  for (const p of q.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) throw new AppError("INVALID_PARAMETER", `parameter ${p.name} is required`);
    if (p.type === "integer") {
      const n = typeof v === "number" ? v : Number(v);
      if (!Number.isInteger(n) || (p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max))
        throw new AppError("INVALID_PARAMETER", `parameter ${p.name} must be an integer from ${p.min} to ${p.max}`);
      out[p.name] = n;
    } else {
      if (typeof v !== "string" || v.length > 200 || (p.pattern && !new RegExp(p.pattern).test(v)))
        throw new AppError("INVALID_PARAMETER", `parameter ${p.name} is not valid`);
      out[p.name] = v;
    }
  }
  return out;
}

/** Runs `f` on `c`, interrupting it after `ms` (then 422 QUERY_TIMEOUT). */
async function limited<T>(c: DuckDBConnection, ms: number, f: () => Promise<T>): Promise<T> {
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    c.interrupt();
  }, ms);
  try {
    return await f();
  } catch (err) {
    if (timedOut)
      throw new AppError("QUERY_TIMEOUT", `the query ran longer than its limit of ${ms} ms and was stopped`);
    throw err;
  } finally {
    clearTimeout(t);
  }
}

const CLIENT = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The `dataset` view over `files`, of one client or (null) all. */
function viewSql(d: DatasetDefinition, files: readonly string[], clientId: string | null): string {
  const cols = [...d.columns.map((c) => c.name), ...(d.derived ?? []).map((x) => x.name)].map(quoteIdent).join(", ");
  const source = files.length
    ? `SELECT ${cols} FROM read_parquet([${files.map(lit).join(", ")}])`
    : `SELECT ${cols} FROM (SELECT ${d.columns.map((c) => `NULL::${c.type === "JSON" ? "VARCHAR" : c.type} AS ${quoteIdent(c.name)}`).join(", ")}${(d.derived ?? []).map((x) => `, NULL AS ${quoteIdent(x.name)}`).join("")}) WHERE false`;
  if (clientId !== null && !CLIENT.test(clientId)) throw new AppError("INVALID_PARAMETER", "invalid client id");
  return `CREATE OR REPLACE TEMP VIEW dataset AS ${source}${clientId === null ? "" : ` WHERE ${quoteIdent(d.clientColumn)} = ${lit(clientId)}`}`;
}

/** Files of `months` a query over calendar months `only` needs. */
export function filesFor(months: readonly MonthEntry[], only?: readonly number[]): MonthEntry[] {
  return only ? months.filter((m) => only.includes(Number(m.month.slice(5, 7)))) : [...months];
}

/** JSON-friendly values (BigInt to number or string, dates to ISO). */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

/** Runs a named query of `d` over `files`; `clientId` null means every client. */
export async function runNamed(
  duck: DuckDBInstance,
  d: DatasetDefinition,
  q: NamedQuery,
  files: readonly string[],
  clientId: string | null,
  params: Record<string, string | number>,
  timeoutMs: number,
): Promise<Record<string, unknown>[]> {
  const c = await duck.connect();
  try {
    await c.run(viewSql(d, files, clientId));
    // only the parameters the SQL names are bound
    const used: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(params)) if (q.sql.includes(`$${k}`)) used[k] = v;
    return await limited(c, timeoutMs, async () =>
      (await rows(c, q.sql, used)).map((r) => plain(r) as Record<string, unknown>),
    );
  } finally {
    c.closeSync();
  }
}

/**
 * Operators' SQL over `dataset` (every client): exactly one SELECT (or WITH ... SELECT)
 * statement, refused otherwise with 400; external access is switched off for the connection's
 * instance (see `openSqlDuck`); at most `maxRows` rows (`truncated` says when more existed).
 */
export async function runOperatorSql(
  duck: DuckDBInstance,
  d: DatasetDefinition,
  files: readonly string[],
  sql: string,
  timeoutMs: number,
  maxRows: number,
): Promise<{ rows: Record<string, unknown>[]; truncated: boolean }> {
  const c = await duck.connect();
  try {
    await c.run(viewSql(d, files, null));
    const extracted = await c.extractStatements(sql).catch((err: unknown) => {
      throw new AppError(
        "INVALID_PARAMETER",
        `SQL does not parse: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    if (extracted.count !== 1) throw new AppError("INVALID_PARAMETER", "exactly one SQL statement is allowed");
    const prepared = await extracted.prepare(0).catch((err: unknown) => {
      throw new AppError("INVALID_PARAMETER", `SQL refused: ${err instanceof Error ? err.message : String(err)}`);
    });
    // StatementType.SELECT is 1 in DuckDB's C API
    if (prepared.statementType !== 1)
      throw new AppError("FORBIDDEN", "only read-only SELECT statements are allowed (this one would change something)");
    const body = sql.trim().replace(/;\s*$/, "");
    return await limited(c, timeoutMs, async () => {
      const got = await rows(c, `SELECT * FROM (${body}) LIMIT ${maxRows + 1}`);
      return {
        rows: got.slice(0, maxRows).map((r) => plain(r) as Record<string, unknown>),
        truncated: got.length > maxRows,
      };
    });
  } finally {
    c.closeSync();
  }
}

/**
 * A DuckDB instance for operators' SQL: it may read files only under `dir` (the archive's
 * cache), with every other file and network access off and the configuration locked.
 */
export async function openSqlDuck(
  create: (o: Record<string, string>) => Promise<DuckDBInstance>,
  dir: string,
  threads: number,
  memory: string,
): Promise<DuckDBInstance> {
  const db = await create({ threads: String(threads), memory_limit: memory });
  const c = await db.connect();
  try {
    await c.run(`SET allowed_directories = [${lit(dir)}]`);
    await c.run("SET enable_external_access = false");
    await c.run("SET autoinstall_known_extensions = false");
    await c.run("SET autoload_known_extensions = false");
    await c.run("SET lock_configuration = true");
  } finally {
    c.closeSync();
  }
  return db;
}
