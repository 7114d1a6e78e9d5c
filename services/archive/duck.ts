/**
 * DuckDB (`@duckdb/node-api`, embedded): one instance per node for the archive's reads and
 * writes, and small helpers to run SQL and read rows as plain objects.
 */
import type { DuckDBInstance, DuckDBConnection, DuckDBValue } from "@duckdb/node-api";

export type { DuckDBInstance, DuckDBConnection };

/** An in-memory DuckDB instance with `options` (the native library is loaded on first use, not at every node start). */
export async function createDuck(options: Record<string, string>): Promise<DuckDBInstance> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  return DuckDBInstance.create(":memory:", options);
}

/** Opens an in-memory DuckDB instance with `threads` worker threads and a memory limit. */
export async function openDuck(threads: number, memoryLimit = "1GB", tempDir?: string): Promise<DuckDBInstance> {
  return createDuck({
    threads: String(threads),
    memory_limit: memoryLimit,
    ...(tempDir ? { temp_directory: tempDir } : {}),
  });
}

/** Runs `sql` with positional `$1..` or named parameters and answers its rows as objects (BIGINT as number when safe). */
export async function rows(
  c: DuckDBConnection,
  sql: string,
  params?: DuckDBValue[] | Record<string, DuckDBValue>,
): Promise<Record<string, unknown>[]> {
  const r = params ? await c.runAndReadAll(sql, params) : await c.runAndReadAll(sql);
  return r.getRowObjectsJS().map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row))
      out[k] =
        typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
    return out;
  });
}

/** Runs `f` on a fresh connection of `db`, closed afterwards. */
export async function withConnection<T>(db: DuckDBInstance, f: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const c = await db.connect();
  try {
    return await f(c);
  } finally {
    c.closeSync();
  }
}

/** A SQL string literal. */
export function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
