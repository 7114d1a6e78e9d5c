/**
 * Shared parts of the archive tests: a namespace with the receipts table (its own migrations)
 * and the archive's tables, receipts of old months inserted into their partitions, the
 * archive parts (DuckDB, object store, sealer, reader) over real Postgres and NATS, and a
 * census of where every receipt id is (Postgres, sealed archive).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { createPool, migrate, type Pool } from "../../db";
import { connectNats, type NatsHandles } from "../../nats";
import { openJetStreamStore, type ObjectStore } from "../../storage";
import { receiptMigrations } from "../../services/receipts/store";
import { receiptsDataset } from "../../services/receipts/dataset";
import { archiveMigrations, createMonthStore, type MonthStore } from "../../services/archive/manifest";
import { createFileCache } from "../../services/archive/cache";
import { createSealer, partitionMonths, type SealerDeps } from "../../services/archive/sealer";
import { createReader, type Reader } from "../../services/archive/reader";
import { openDuck, type DuckDBInstance } from "../../services/archive/duck";
import { partitionOf, type DatasetDefinition } from "../../services/archive/dataset";
import { DATABASE_URL, NATS_URL } from "../support/namespace";

/** The receipts dataset as the archive sees it. */
export const DATASET: DatasetDefinition = receiptsDataset(30);

/** A retail document for receipt `n`. */
export function retailDoc(n: number, at: string): Record<string, unknown> {
  return {
    type: "retail",
    receiptNumber: `R-${n}`,
    issuedAt: at,
    currency: "UAH",
    store: { id: "S-001", name: "Kyiv Central" },
    lines: [
      {
        sku: "1",
        name: n % 2 ? "Champagne" : "Tangerines",
        quantity: 1,
        unitPrice: 100 + (n % 7),
        vatRate: 20,
        amount: 100 + (n % 7),
      },
      { sku: "2", name: "Bread", quantity: 2, unitPrice: 10, vatRate: 0, amount: 20 },
    ],
    totals: { net: 100, vat: 20, gross: 120 + (n % 7) },
    payments: [{ method: "card", amount: 120 + (n % 7) }],
  };
}

/** Prepares schema `ns`: both domains' tables. */
export async function prepareSchema(ns: string): Promise<Pool> {
  const pg = createPool(DATABASE_URL, ns, 4);
  await migrate(pg, ns, [...receiptMigrations, ...archiveMigrations]);
  return pg;
}

let seq = 0;
/** A ULID-shaped id for time `ms` (time part encoded as the receipts domain does). */
export function idAt(ms: number): string {
  const A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let t = ms;
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = A[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let r = (seq++)
    .toString(32)
    .toUpperCase()
    .replace(/[ILOU]/g, "Z");
  r = r.padStart(16, "0");
  return time + r.slice(-16);
}

/** Inserts `n` receipts spread over `month` ("YYYY-MM") for `clients`; returns their ids. */
export async function insertMonth(pg: Pool, month: string, n: number, clients: readonly string[]): Promise<string[]> {
  const start = Date.parse(`${month}-01T00:00:00Z`);
  const times = Array.from({ length: n }, (_, i) => start + Math.floor(((i + 0.5) * 27 * 86_400_000) / n));
  return insertAt(pg, times, clients);
}

/** Inserts one receipt at each of `times` (ms), for `clients` in turn; returns their ids. */
export async function insertAt(pg: Pool, times: readonly number[], clients: readonly string[]): Promise<string[]> {
  for (const m of new Set(times.map((t) => new Date(t).toISOString().slice(0, 7))))
    await pg.query("SELECT receipts_ensure_partitions($1::date, 1)", [`${m}-01`]);
  const n = times.length;
  const ids: string[] = [];
  const rows: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    const at = times[i]!;
    const id = idAt(at);
    ids.push(id);
    const doc = retailDoc(i, new Date(at).toISOString());
    rows.push([
      id,
      clients[i % clients.length],
      new Date(at).toISOString(),
      (120 + (i % 7)).toFixed(2),
      JSON.stringify(doc),
    ]);
  }
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await pg.query(
      `INSERT INTO receipts (id, client_id, created_at, updated_at, type, type_version, format, status, version, issued_at, total, currency,
                             fingerprint, content_type, original, document)
       SELECT u.id, u.client_id, u.created_at, u.created_at, 'retail', 1, 'json', 'ACCEPTED', 3, u.created_at, u.total, 'UAH',
              md5(u.document), 'application/json', convert_to(u.document, 'UTF8'), u.document::jsonb
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[], $5::text[]) AS u(id, client_id, created_at, total, document)`,
      [0, 1, 2, 3, 4].map((k) => chunk.map((r) => r[k])),
    );
  }
  return ids;
}

/** The archive parts of one process. */
export interface ArchiveParts {
  readonly pg: Pool;
  readonly nats: NatsHandles;
  readonly store: ObjectStore;
  readonly duck: DuckDBInstance;
  readonly months: MonthStore;
  readonly reader: Reader;
  readonly sealer: ReturnType<typeof createSealer>;
  readonly dir: string;
  close(): Promise<void>;
}

/** Opens the archive parts in `ns` (object store bucket `<ns>_archive`). */
export async function openArchiveParts(ns: string, afterStep?: SealerDeps["afterStep"]): Promise<ArchiveParts> {
  const pg = createPool(DATABASE_URL, ns, 4);
  const nats = await connectNats(NATS_URL, `archive-test-${ns}`);
  const store = await openJetStreamStore({ nc: nats.nc, bucket: `${ns}_archive` });
  const dir = await mkdtemp(path.join(os.tmpdir(), "sy-archive-"));
  const duck = await openDuck(1, "512MB");
  const months = createMonthStore(pg);
  const cache = createFileCache(path.join(dir, "cache"), store);
  const log = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const sealer = createSealer({
    pg,
    duck,
    store,
    months,
    cache,
    workDir: path.join(dir, "work"),
    rowGroupRows: 100_000,
    batchRows: 1000,
    log,
    ...(afterStep ? { afterStep } : {}),
  });
  const reader = createReader({ duck, months, cache });
  return {
    pg,
    nats,
    store,
    duck,
    months,
    reader,
    sealer,
    dir,
    async close() {
      duck.closeSync();
      await store.close();
      await nats.nc.close();
      await pg.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every receipt id and where it is: the ids left in Postgres and those served by the sealed archive. */
export async function census(
  parts: ArchiveParts,
  clients: readonly string[],
): Promise<{ pg: string[]; archive: string[] }> {
  const pgIds: string[] = [];
  for (const m of await partitionMonths(parts.pg, DATASET)) {
    const r = await parts.pg.query<{ id: string }>(`SELECT id FROM "${partitionOf(DATASET, m)}"`);
    pgIds.push(...r.rows.map((x) => x.id));
  }
  const archive: string[] = [];
  for (const c of clients) {
    const got = await parts.reader.list(DATASET, { clientId: c, limit: 1_000_000 });
    archive.push(...got.map((r) => String(r["id"])));
  }
  return { pg: pgIds, archive };
}
