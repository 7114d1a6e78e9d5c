/**
 * The archive's own Postgres tables: the state of every month of every dataset on its way to the
 * archive (written, verified, manifested, sealed), and the export jobs. A month is served from
 * the archive only once `sealed`, which is set in the same transaction that drops its partition,
 * so each row is in exactly one place at any moment.
 */
import type { Migration, Pool, PoolClient } from "../../db";
import type { Month } from "./dataset";

/** Tables of the archive domain. */
export const archiveMigrations: readonly Migration[] = [
  {
    id: "archive-0001",
    sql: `
CREATE TABLE archive_months (
  dataset    text        NOT NULL,
  month      text        NOT NULL,
  state      text        NOT NULL CHECK (state IN ('written', 'verified', 'manifested', 'sealed')),
  file_key   text        NOT NULL,
  sha256     text        NOT NULL,
  bytes      bigint      NOT NULL,
  rows       bigint,
  checksum   text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  sealed_at  timestamptz,
  PRIMARY KEY (dataset, month)
);
CREATE TABLE archive_exports (
  id          text        PRIMARY KEY,
  dataset     text        NOT NULL,
  client_id   text        NOT NULL,
  state       text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
  format      text        NOT NULL,
  params      jsonb       NOT NULL,
  file_key    text,
  rows        bigint,
  bytes       bigint,
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
`,
  },
];

/** The steps of sealing a month, in order; each state names the last step done. */
export const SEAL_STEPS = ["written", "verified", "manifested", "sealed"] as const;
/** One of {@link SEAL_STEPS}. */
export type SealState = (typeof SEAL_STEPS)[number];

/** A month's row. */
export interface MonthEntry {
  readonly dataset: string;
  readonly month: Month;
  readonly state: SealState;
  readonly fileKey: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly rows: number | null;
  readonly checksum: string | null;
  readonly sealedAt: string | null;
}

interface Row {
  dataset: string;
  month: string;
  state: SealState;
  file_key: string;
  sha256: string;
  bytes: string;
  rows: string | null;
  checksum: string | null;
  sealed_at: Date | null;
}

const entry = (r: Row): MonthEntry => ({
  dataset: r.dataset,
  month: r.month,
  state: r.state,
  fileKey: r.file_key,
  sha256: r.sha256,
  bytes: Number(r.bytes),
  rows: r.rows === null ? null : Number(r.rows),
  checksum: r.checksum,
  sealedAt: r.sealed_at ? r.sealed_at.toISOString() : null,
});

/** Access to archive_months. */
export interface MonthStore {
  get(dataset: string, month: Month): Promise<MonthEntry | undefined>;
  /** Every month of `dataset` (any state), oldest first. */
  all(dataset: string): Promise<MonthEntry[]>;
  /** Records that the month's file is written to the object store (replaces an earlier attempt). */
  written(dataset: string, month: Month, fileKey: string, sha256: string, bytes: number): Promise<void>;
  verified(dataset: string, month: Month, rows: number, checksum: string): Promise<void>;
  manifested(dataset: string, month: Month): Promise<void>;
  /** Sets `sealed` inside the caller's transaction (the one that drops the partition). */
  sealed(tx: PoolClient, dataset: string, month: Month): Promise<void>;
  /** Forgets a month's progress (a verification that failed: the month is written again). */
  reset(dataset: string, month: Month): Promise<void>;
}

/** The month store over `pg`. */
export function createMonthStore(pg: Pool): MonthStore {
  return {
    async get(dataset, month) {
      const r = await pg.query<Row>("SELECT * FROM archive_months WHERE dataset = $1 AND month = $2", [dataset, month]);
      return r.rows[0] ? entry(r.rows[0]) : undefined;
    },
    async all(dataset) {
      const r = await pg.query<Row>("SELECT * FROM archive_months WHERE dataset = $1 ORDER BY month", [dataset]);
      return r.rows.map(entry);
    },
    async written(dataset, month, fileKey, sha256, bytes) {
      await pg.query(
        `INSERT INTO archive_months (dataset, month, state, file_key, sha256, bytes) VALUES ($1, $2, 'written', $3, $4, $5)
         ON CONFLICT (dataset, month) DO UPDATE SET state = 'written', file_key = $3, sha256 = $4, bytes = $5,
           rows = NULL, checksum = NULL, updated_at = now()
         WHERE archive_months.state <> 'sealed'`,
        [dataset, month, fileKey, sha256, bytes],
      );
    },
    async verified(dataset, month, rows, checksum) {
      await pg.query(
        `UPDATE archive_months SET state = 'verified', rows = $3, checksum = $4, updated_at = now()
          WHERE dataset = $1 AND month = $2 AND state = 'written'`,
        [dataset, month, rows, checksum],
      );
    },
    async manifested(dataset, month) {
      await pg.query(
        `UPDATE archive_months SET state = 'manifested', updated_at = now() WHERE dataset = $1 AND month = $2 AND state = 'verified'`,
        [dataset, month],
      );
    },
    async sealed(tx, dataset, month) {
      await tx.query(
        `UPDATE archive_months SET state = 'sealed', sealed_at = now(), updated_at = now()
          WHERE dataset = $1 AND month = $2 AND state = 'manifested'`,
        [dataset, month],
      );
    },
    async reset(dataset, month) {
      await pg.query("DELETE FROM archive_months WHERE dataset = $1 AND month = $2 AND state <> 'sealed'", [
        dataset,
        month,
      ]);
    },
  };
}
