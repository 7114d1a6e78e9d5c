/**
 * A dataset the archive keeps: a monthly-partitioned Postgres table of some domain, described by
 * the domain that owns it (its service answers the action `<service>.archiveDataset` with a
 * {@link DatasetDefinition}; the archive finds every such action in the service registry).
 * Pure: the definition's checks and the SQL built from it (the Postgres export and checksum,
 * the DuckDB casts, checksum and Parquet copy), so both engines compute the same checksum.
 */

/** Column types the archive understands (DuckDB names; Postgres columns are read as text). */
export const COLUMN_TYPES = [
  "VARCHAR",
  "INTEGER",
  "BIGINT",
  "DOUBLE",
  "DECIMAL(20,2)",
  "TIMESTAMPTZ",
  "BLOB",
  "JSON",
] as const;
/** One of {@link COLUMN_TYPES}. */
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** A stored column. */
export interface DatasetColumn {
  readonly name: string;
  readonly type: ColumnType;
}

/** A parameter of a named query (bound by name: `$name` in its SQL). */
export interface QueryParam {
  readonly name: string;
  readonly type: "integer" | "string";
  readonly default?: number | string;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
}

/**
 * A named analytics query: DuckDB SQL over the relation `dataset` (every archived row, plus
 * the hot rows, of the caller's client only unless the caller holds analytics:all).
 */
export interface NamedQuery {
  readonly name: string;
  readonly description: string;
  readonly params: readonly QueryParam[];
  /** Calendar months (1-12) the query can touch: only their files are read. Default: all. */
  readonly months?: readonly number[];
  readonly sql: string;
}

/** What a domain tells the archive about one of its tables. */
export interface DatasetDefinition {
  /** Lower-case word: object keys, routes, metrics. */
  readonly name: string;
  /** The partitioned table (its partitions are `<table>_YYYYMM`). */
  readonly table: string;
  readonly idColumn: string;
  /** timestamptz partition key; a row's month is this column's. */
  readonly timeColumn: string;
  /** Tenant column: every read is confined to one value of it. */
  readonly clientColumn: string;
  /** Months wholly older than this many days are archived. */
  readonly hotDays: number;
  readonly columns: readonly DatasetColumn[];
  /** Extra Parquet columns computed while writing (DuckDB SQL over the stored columns), e.g. line items. */
  readonly derived?: readonly { readonly name: string; readonly sql: string }[];
  /** Columns a listing returns. */
  readonly listColumns: readonly string[];
  /** Columns a listing may filter on by equality. */
  readonly filterColumns: readonly string[];
  readonly queries?: readonly NamedQuery[];
}

const IDENT = /^[a-z][a-z0-9_]{0,40}$/;

const isStr = (v: unknown): v is string => typeof v === "string";
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isObj = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null;

/** True when `v` has the shape of a {@link DatasetDefinition} (what an `archiveDataset` action answered). */
export function isDatasetDefinition(v: unknown): v is DatasetDefinition {
  if (!isObj(v)) return false;
  const cols = v["columns"];
  const derived = v["derived"];
  const queries = v["queries"];
  return (
    ["name", "table", "idColumn", "timeColumn", "clientColumn"].every((k) => isStr(v[k])) &&
    typeof v["hotDays"] === "number" &&
    Array.isArray(cols) &&
    cols.every((c) => isObj(c) && isStr(c["name"]) && isStr(c["type"])) &&
    isStrList(v["listColumns"]) &&
    isStrList(v["filterColumns"]) &&
    (derived === undefined ||
      (Array.isArray(derived) && derived.every((x) => isObj(x) && isStr(x["name"]) && isStr(x["sql"])))) &&
    (queries === undefined ||
      (Array.isArray(queries) &&
        queries.every((q) => isObj(q) && isStr(q["name"]) && isStr(q["sql"]) && Array.isArray(q["params"]))))
  );
}

/** Problems with a definition (empty when it is usable). */
export function checkDataset(d: DatasetDefinition): string[] {
  const p: string[] = [];
  if (!IDENT.test(d.name)) p.push(`dataset name ${JSON.stringify(d.name)} is not a lower-case word`);
  if (!IDENT.test(d.table)) p.push(`table ${JSON.stringify(d.table)} is not an identifier`);
  const names = new Set(d.columns.map((c) => c.name));
  for (const c of d.columns) {
    if (!IDENT.test(c.name)) p.push(`column ${JSON.stringify(c.name)} is not an identifier`);
    if (!COLUMN_TYPES.includes(c.type)) p.push(`column ${c.name}: unknown type ${JSON.stringify(c.type)}`);
  }
  for (const [what, col] of [
    ["id", d.idColumn],
    ["time", d.timeColumn],
    ["client", d.clientColumn],
  ] as const)
    if (!names.has(col)) p.push(`${what} column ${col} is not a column`);
  if (d.columns.find((c) => c.name === d.timeColumn)?.type !== "TIMESTAMPTZ")
    p.push(`time column ${d.timeColumn} must be TIMESTAMPTZ`);
  for (const c of [...d.listColumns, ...d.filterColumns]) if (!names.has(c)) p.push(`${c} is not a column`);
  for (const x of d.derived ?? []) if (!IDENT.test(x.name)) p.push(`derived column ${x.name} is not an identifier`);
  if (!Number.isInteger(d.hotDays) || d.hotDays < 1) p.push("hotDays must be a positive integer");
  return p;
}

/** A month as "YYYY-MM". */
export type Month = string;

/** The month of `ms` (UTC). */
export function monthOf(ms: number): Month {
  return new Date(ms).toISOString().slice(0, 7);
}

/** [start, end) of a month, in ms. */
export function monthRange(m: Month): [number, number] {
  const y = Number(m.slice(0, 4));
  const mo = Number(m.slice(5, 7)) - 1;
  return [Date.UTC(y, mo, 1), Date.UTC(y, mo + 1, 1)];
}

/** Months whose whole range lies before `now - hotDays`, from `months` (oldest first). */
export function sealableMonths(months: readonly Month[], now: number, hotDays: number): Month[] {
  const cutoff = now - hotDays * 86_400_000;
  return [...months].filter((m) => monthRange(m)[1] <= cutoff).sort();
}

/** The Postgres partition of a month: `<table>_YYYYMM`. */
export function partitionOf(d: DatasetDefinition, m: Month): string {
  return `${d.table}_${m.replace("-", "")}`;
}

/** Object key of a month's Parquet file (hive-style by year and month). */
export function fileKey(d: DatasetDefinition, m: Month): string {
  return `${d.name}/year=${m.slice(0, 4)}/month=${m.slice(5, 7)}/part-0.parquet`;
}

/** Object key of a month's manifest. */
export function manifestKey(d: DatasetDefinition, m: Month): string {
  return `${d.name}/_manifests/${m}.json`;
}

const q = (name: string): string => `"${name}"`;

/** Postgres: each column as text (timestamps in UTC, bytes as hex), in column order. */
export function pgExportColumns(d: DatasetDefinition): string {
  return d.columns
    .map((c) => {
      const col = q(c.name);
      switch (c.type) {
        case "TIMESTAMPTZ":
          return `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ${col}`;
        case "BLOB":
          return `encode(${col}, 'hex') AS ${col}`;
        default:
          return `${col}::text AS ${col}`;
      }
    })
    .join(", ");
}

/** DuckDB: the typed columns from a staging relation of text columns (as {@link pgExportColumns} gives them). */
export function duckCastColumns(d: DatasetDefinition): string {
  return d.columns
    .map((c) => {
      const col = q(c.name);
      switch (c.type) {
        case "TIMESTAMPTZ":
          return `CAST(${col} || '+00' AS TIMESTAMPTZ) AS ${col}`;
        case "BLOB":
          return `unhex(${col}) AS ${col}`;
        default:
          return `CAST(${col} AS ${c.type}) AS ${col}`;
      }
    })
    .join(", ");
}

/** The DuckDB staging table of text columns. */
export function duckStagingDdl(d: DatasetDefinition, table: string): string {
  return `CREATE OR REPLACE TEMP TABLE ${table} (${d.columns.map((c) => `${q(c.name)} VARCHAR`).join(", ")})`;
}

const NULL_MARK = "'\\N'";

function rowTextPg(d: DatasetDefinition): string {
  return d.columns
    .map((c) => {
      const col = q(c.name);
      switch (c.type) {
        case "TIMESTAMPTZ":
          return `coalesce(((extract(epoch FROM ${col}) * 1000000)::bigint)::text, ${NULL_MARK})`;
        case "BLOB":
          return `coalesce(md5(${col}), ${NULL_MARK})`;
        case "JSON":
          return `coalesce(md5(${col}::text), ${NULL_MARK})`;
        case "DOUBLE":
          return `coalesce(round(${col}::numeric, 6)::text, ${NULL_MARK})`;
        default:
          return `coalesce(${col}::text, ${NULL_MARK})`;
      }
    })
    .join(" || ':' || ");
}

function rowTextDuck(d: DatasetDefinition): string {
  return d.columns
    .map((c) => {
      const col = q(c.name);
      switch (c.type) {
        case "TIMESTAMPTZ":
          return `coalesce(CAST(epoch_us(${col}) AS VARCHAR), ${NULL_MARK})`;
        case "BLOB":
          return `coalesce(md5(${col}), ${NULL_MARK})`;
        case "JSON":
          return `coalesce(md5(CAST(${col} AS VARCHAR)), ${NULL_MARK})`;
        case "DOUBLE":
          return `coalesce(CAST(round(${col}, 6) AS VARCHAR), ${NULL_MARK})`;
        default:
          return `coalesce(CAST(${col} AS VARCHAR), ${NULL_MARK})`;
      }
    })
    .join(" || ':' || ");
}

/** Postgres: `n` (rows) and `checksum` (MD5 over every row's columns, in id order) of a partition. */
export function pgChecksumSql(d: DatasetDefinition, partition: string): string {
  return `SELECT count(*)::bigint AS n, coalesce(md5(string_agg(${rowTextPg(d)}, ',' ORDER BY ${q(d.idColumn)} COLLATE "C")), '') AS checksum FROM ${q(partition)}`;
}

/** DuckDB: the same `n` and `checksum` over a relation with the dataset's columns. */
export function duckChecksumSql(d: DatasetDefinition, relation: string): string {
  return `SELECT count(*)::BIGINT AS n, coalesce(md5(string_agg(${rowTextDuck(d)}, ',' ORDER BY ${q(d.idColumn)})), '') AS checksum FROM ${relation}`;
}

/** DuckDB: writes `source` (the dataset's typed columns) as one Parquet file, sorted by client then time. */
export function duckCopySql(d: DatasetDefinition, source: string, file: string, rowGroupRows: number): string {
  const derived = (d.derived ?? []).map((x) => `, ${x.sql} AS ${q(x.name)}`).join("");
  return `COPY (SELECT *${derived} FROM (${source}) ORDER BY ${q(d.clientColumn)}, ${q(d.timeColumn)}, ${q(d.idColumn)})
    TO '${file.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${rowGroupRows})`;
}
