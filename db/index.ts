/**
 * PostgreSQL access: one pool per node, every table inside the namespace's schema, and
 * migrations declared in code by each domain and applied once (advisory-locked) at start-up.
 */
import pg from "pg";

export type { Pool, PoolClient } from "pg";

/** One schema change. Ids sort in application order (e.g. "<domain>-0001"). */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}

/** Opens a pool whose connections use `schema` as their search path. */
export function createPool(databaseUrl: string, schema: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    options: `-c search_path=${schema},public`,
  });
  // A lost connection (Postgres stopped or restarted) must not crash the node. An idle client's
  // error reaches the pool, which replaces it; a checked-out client (a transaction, a batch)
  // emits it on itself, and an 'error' with no listener would end the process. Its query
  // rejects either way, and the code that ran it retries.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
  });
  return pool;
}

/**
 * Applies the migrations not yet applied to `schema`, in id order, each in its own
 * transaction, under an advisory lock so that nodes starting together do not race.
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: readonly Migration[]): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock(hashtext($1))", [`switchyard:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoteIdent(schema)}._migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ id: string }>(`SELECT id FROM ${quoteIdent(schema)}._migrations`)).rows.map((r) => r.id),
    );
    for (const m of [...migrations].sort((a, b) => a.id.localeCompare(b.id))) {
      if (done.has(m.id)) continue;
      await client.query("BEGIN");
      try {
        await client.query(`SET LOCAL search_path TO ${quoteIdent(schema)}, public`);
        await client.query(m.sql);
        await client.query(`INSERT INTO ${quoteIdent(schema)}._migrations (id) VALUES ($1)`, [m.id]);
        await client.query("COMMIT");
        applied.push(m.id);
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.id} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`switchyard:${schema}`]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Drops a schema and everything in it (tests clean up with this). */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

export { isDataException, isPostgresUnavailable } from "./errors";
