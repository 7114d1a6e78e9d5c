/**
 * The Postgres part of a backup: `pg_dump` of the namespace's schema (custom format) taken in
 * one exported snapshot, with each table's row count and checksum computed in that same
 * snapshot, so the manifest describes exactly what the dump holds; and `pg_restore` of it into
 * a database that lacks the schema, with the same checks run on the result.
 */
import { spawn } from "node:child_process";
import pg from "pg";
import { quoteIdent } from "../db";
import type { TableEntry } from "./manifest";

/** Runs a client program, rejecting with its stderr when it fails. */
function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
    p.on("error", (e) => reject(new Error(`${cmd}: ${e.message} (is the PostgreSQL client installed?)`)));
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`))));
  });
}

/**
 * Row count and checksum of every ordinary table (partitions included, partitioned parents
 * not: their rows are their partitions') of `schema`, through `client`. The checksum is the sum
 * of the first 60 bits of each row's md5 over its text form: independent of row order, so a
 * restored table that was loaded in another order still matches.
 */
export async function tableChecksums(client: pg.ClientBase, schema: string): Promise<TableEntry[]> {
  const tables = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
    [schema],
  );
  const out: TableEntry[] = [];
  for (const { name } of tables.rows) {
    const r = await client.query<{ rows: string; checksum: string }>(
      `SELECT count(*)::text AS rows,
              coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint), 0)::text AS checksum
         FROM ${quoteIdent(schema)}.${quoteIdent(name)} t`,
    );
    out.push({ name, rows: Number(r.rows[0]!.rows), checksum: r.rows[0]!.checksum });
  }
  return out;
}

/** True when `schema` exists in the database of `databaseUrl`. */
export async function schemaExists(databaseUrl: string, schema: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rowCount === 1;
  } finally {
    await c.end();
  }
}

/**
 * Dumps `schema` to `file` (pg_dump custom format) in one repeatable-read snapshot, and returns
 * the tables' counts and checksums taken in that snapshot (empty when the schema does not exist).
 */
export async function dumpSchema(databaseUrl: string, schema: string, file: string): Promise<TableEntry[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const snap = (await c.query<{ id: string }>("SELECT pg_export_snapshot() AS id")).rows[0]!.id;
    const tables = await tableChecksums(c, schema);
    await run("pg_dump", [
      "--format=custom",
      `--schema=${schema}`,
      `--snapshot=${snap}`,
      "--no-owner",
      "--no-privileges",
      `--file=${file}`,
      `--dbname=${databaseUrl}`,
    ]);
    await c.query("COMMIT");
    return tables;
  } finally {
    await c.end();
  }
}

/** Restores a dump made by {@link dumpSchema} into the database of `databaseUrl`; returns the restored tables' checks. */
export async function restoreSchema(databaseUrl: string, schema: string, file: string): Promise<TableEntry[]> {
  await run("pg_restore", [
    "--exit-on-error",
    "--single-transaction",
    "--no-owner",
    "--no-privileges",
    `--dbname=${databaseUrl}`,
    file,
  ]);
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return await tableChecksums(c, schema);
  } finally {
    await c.end();
  }
}
