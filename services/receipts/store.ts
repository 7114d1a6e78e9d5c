/**
 * Long-term receipt storage in PostgreSQL: one table partitioned by month on `created_at`
 * (partitions created ahead; a receipt id carries its creation time, so a lookup by id touches
 * one partition), written in batches (multi-row INSERT ... ON CONFLICT DO NOTHING from arrays),
 * read by id and listed per client newest first with keyset pagination on
 * (client_id, created_at DESC, id DESC): the same index path serves the last 30 days and any
 * interval of the last 20 years.
 */
import type { Pool } from "../../db";
import type { Migration } from "../../db";
import { monthlyPartitionsFunctionSql } from "../../db/partitions";
import { AppError } from "../../lib/errors";
import type { ReceiptStatusUpdate, SubmittedReceipt } from "./receipt.actor";
import { RECEIPT_STATUSES, type ReceiptDocument, type ReceiptFormat, type ReceiptStatus } from "./model";
import type { ReceiptRecord } from "./record";
import { timeOfId } from "./ids";

/** Schema of the receipts table and its partition helper. */
export const receiptMigrations: readonly Migration[] = [
  {
    id: "receipts-0001",
    sql: `
CREATE TABLE receipts (
  id                  text        NOT NULL,
  client_id           text        NOT NULL,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  type                text        NOT NULL,
  type_version        integer     NOT NULL,
  format              text        NOT NULL CHECK (format IN ('json', 'xml')),
  status              text        NOT NULL,
  version             integer     NOT NULL DEFAULT 0,
  issued_at           timestamptz,
  total               numeric(20, 2),
  currency            text,
  tax_reference       text,
  warehouse_reference text,
  reason              text,
  idempotency_key     text,
  fingerprint         text        NOT NULL,
  content_type        text        NOT NULL,
  original            bytea       NOT NULL,
  document            jsonb       NOT NULL,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- Serves "my receipts, newest first" for any interval, with keyset pagination.
CREATE INDEX receipts_client_created ON receipts (client_id, created_at DESC, id DESC);

${monthlyPartitionsFunctionSql("receipts")}

SELECT receipts_ensure_partitions((date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date, 5);
`,
  },
  {
    id: "receipts-0002",
    sql: `CREATE INDEX receipts_registering ON receipts (updated_at) WHERE status = 'REGISTERING';`,
  },
  {
    id: "receipts-0003",
    // Small: rows leave it once their actor settles them. Serves the sweeper (orphaned
    // submissions, lost callbacks). The callback URL lets the sweeper resubmit a receipt.
    sql: `
DROP INDEX IF EXISTS receipts_registering;
CREATE INDEX receipts_in_flight ON receipts (status, updated_at) WHERE status IN ('RECEIVED', 'REGISTERING');
ALTER TABLE receipts ADD COLUMN callback_url text;
`,
  },
];

/** A receipt as listed (no document). */
export interface ReceiptListItem {
  readonly id: string;
  readonly type: string;
  readonly format: ReceiptFormat;
  readonly status: ReceiptStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly issuedAt: string | null;
  readonly total: number | null;
  readonly currency: string | null;
  readonly references: { readonly tax: string | null; readonly warehouse: string | null };
  readonly reason: string | null;
}

/** A stored receipt with its document. */
export interface StoredReceipt extends ReceiptListItem {
  readonly clientId: string;
  readonly typeVersion: number;
  readonly contentType: string;
  readonly document: Record<string, unknown>;
}

/** The bytes a client submitted. */
export interface OriginalBytes {
  readonly clientId: string;
  readonly contentType: string;
  readonly bytes: Buffer;
}

/** Filters and page of GET /receipts. */
export interface ListQuery {
  readonly clientId: string;
  /** Inclusive lower bound of created_at. */
  readonly from?: Date;
  /** Exclusive upper bound of created_at. */
  readonly to?: Date;
  readonly status?: ReceiptStatus;
  readonly type?: string;
  /** 1..10,000 (default 100). */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of receipts. */
export interface ReceiptPage {
  readonly items: readonly ReceiptListItem[];
  /** Pass as `cursor` for the next page; null when there is none. */
  readonly nextCursor: string | null;
}

/** The largest page. */
export const MAX_PAGE = 10_000;

/** Postgres access of the receipts domain. */
export interface ReceiptStore {
  /** Inserts records (existing ids are left alone); returns how many were new. */
  insertBatch(records: readonly ReceiptRecord[]): Promise<number>;
  /**
   * Applies status updates (newer versions only). Returns the ids whose row does not exist
   * yet (the update arrived before its record: retry it later).
   */
  applyStatusBatch(updates: readonly ReceiptStatusUpdate[]): Promise<{ missing: string[] }>;
  /** A receipt by id (undefined when absent). */
  get(id: string): Promise<StoredReceipt | undefined>;
  /** The original bytes of a receipt. */
  original(id: string): Promise<OriginalBytes | undefined>;
  /** A client's receipts, newest first. */
  list(q: ListQuery): Promise<ReceiptPage>;
  /**
   * Receipts in `status` (RECEIVED or REGISTERING) since before `before`, created after `since`
   * (oldest first, at most `limit`): orphaned submissions and overdue callbacks.
   */
  stalled(status: "RECEIVED" | "REGISTERING", before: Date, since: Date, limit: number): Promise<string[]>;
  /** The submit message of a stored receipt (to resubmit an orphan). */
  submission(id: string): Promise<SubmittedReceipt | undefined>;
  /** Creates monthly partitions from `from`'s month for `months` months; returns how many were new. */
  ensurePartitions(from: Date, months: number): Promise<number>;
}

/** The opaque cursor of a position (created_at, id). */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id]), "utf8").toString("base64url");
}

/** A cursor's position; 400 INVALID_PARAMETER when it is not one of ours. */
export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === "string" &&
      typeof v[1] === "string" &&
      !Number.isNaN(Date.parse(v[0]))
    ) {
      return { createdAt: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new AppError("INVALID_PARAMETER", "cursor is not valid: pass nextCursor from the previous page", [
    { path: "/cursor", message: "invalid cursor" },
  ]);
}

const monthKey = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

function monthBounds(ms: number): [string, string] {
  const d = new Date(ms);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

interface ListRow {
  id: string;
  type: string;
  format: ReceiptFormat;
  status: ReceiptStatus;
  created_at: Date;
  updated_at: Date;
  issued_at: Date | null;
  total: string | null;
  currency: string | null;
  tax_reference: string | null;
  warehouse_reference: string | null;
  reason: string | null;
}

const LIST_COLUMNS =
  "id, type, format, status, created_at, updated_at, issued_at, total, currency, tax_reference, warehouse_reference, reason";

function listItem(r: ListRow): ReceiptListItem {
  return {
    id: r.id,
    type: r.type,
    format: r.format,
    status: r.status,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    issuedAt: r.issued_at ? r.issued_at.toISOString() : null,
    total: r.total === null ? null : Number(r.total),
    currency: r.currency,
    references: { tax: r.tax_reference, warehouse: r.warehouse_reference },
    reason: r.reason,
  };
}

/** The receipt store over `pg` (whose search_path is the namespace's schema). */
export function createReceiptStore({ pg }: { pg: Pool }): ReceiptStore {
  const knownMonths = new Set<string>();

  async function ensureMonths(times: readonly number[]): Promise<void> {
    const missing = [...new Set(times.map(monthKey))].filter((m) => !knownMonths.has(m));
    for (const m of missing) {
      await pg.query("SELECT receipts_ensure_partitions($1::date, 1)", [`${m}-01`]);
      knownMonths.add(m);
    }
  }

  return {
    async insertBatch(records) {
      if (records.length === 0) return 0;
      await ensureMonths(records.map((r) => r.createdAt));
      const col = <T>(f: (r: ReceiptRecord) => T): T[] => records.map(f);
      const res = await pg.query(
        `INSERT INTO receipts (id, client_id, created_at, updated_at, type, type_version, format, status, version, issued_at, total, currency,
                               idempotency_key, fingerprint, content_type, original, document, callback_url)
         SELECT u.id, u.client_id, u.created_at, u.created_at, u.type, u.type_version, u.format, 'RECEIVED', 0, u.issued_at, u.total, u.currency,
                u.idempotency_key, u.fingerprint, u.content_type, u.original, u.document, u.callback_url
           FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::numeric[], $9::text[],
                       $10::text[], $11::text[], $12::text[], $13::bytea[], $14::jsonb[], $15::text[])
             AS u(id, client_id, created_at, type, type_version, format, issued_at, total, currency, idempotency_key, fingerprint, content_type, original, document, callback_url)
         ON CONFLICT DO NOTHING`,
        [
          col((r) => r.id),
          col((r) => r.clientId),
          col((r) => new Date(r.createdAt).toISOString()),
          col((r) => r.type),
          col((r) => r.typeVersion),
          col((r) => r.format),
          col((r) => (Number.isNaN(Date.parse(r.summary.issuedAt)) ? null : r.summary.issuedAt)),
          col((r) => r.summary.total.toFixed(2)),
          col((r) => r.summary.currency),
          col((r) => r.idempotencyKey),
          col((r) => r.fingerprint),
          col((r) => r.contentType),
          col((r) => Buffer.from(r.original, "base64")),
          col((r) => JSON.stringify(r.document)),
          col((r) => r.callbackUrl),
        ],
      );
      return res.rowCount ?? 0;
    },

    async applyStatusBatch(updates) {
      if (updates.length === 0) return { missing: [] };
      // one row per id (the newest version), grouped by month so each statement prunes to one partition
      const newest = new Map<string, ReceiptStatusUpdate>();
      for (const u of updates) {
        const prev = newest.get(u.id);
        if (!prev || prev.version < u.version) newest.set(u.id, u);
      }
      const byMonth = new Map<string, ReceiptStatusUpdate[]>();
      for (const u of newest.values()) {
        const k = monthKey(u.createdAt);
        const list = byMonth.get(k);
        if (list) list.push(u);
        else byMonth.set(k, [u]);
      }
      const missing: string[] = [];
      for (const list of byMonth.values()) {
        const [lo, hi] = monthBounds(list[0]!.createdAt);
        const ids = list.map((u) => u.id);
        const created = list.map((u) => new Date(u.createdAt).toISOString());
        await pg.query(
          `UPDATE receipts r
              SET status = u.status, version = u.version, updated_at = u.updated_at,
                  tax_reference = u.tax_reference, warehouse_reference = u.warehouse_reference, reason = u.reason
             FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[])
               AS u(id, created_at, version, status, updated_at, tax_reference, warehouse_reference, reason)
            WHERE r.created_at >= $9 AND r.created_at < $10
              AND r.id = u.id AND r.created_at = u.created_at AND r.version < u.version`,
          [
            ids,
            created,
            list.map((u) => u.version),
            list.map((u) => u.status),
            list.map((u) => new Date(u.updatedAt).toISOString()),
            list.map((u) => u.taxReference),
            list.map((u) => u.warehouseReference),
            list.map((u) => u.reason),
            lo,
            hi,
          ],
        );
        const found = await pg.query<{ id: string }>(
          `SELECT r.id FROM receipts r JOIN unnest($1::text[], $2::timestamptz[]) AS u(id, created_at)
               ON r.id = u.id AND r.created_at = u.created_at
            WHERE r.created_at >= $3 AND r.created_at < $4`,
          [ids, created, lo, hi],
        );
        const have = new Set(found.rows.map((r) => r.id));
        for (const id of ids) if (!have.has(id)) missing.push(id);
      }
      return { missing };
    },

    async get(id) {
      const created = new Date(timeOfId(id)).toISOString();
      const res = await pg.query<
        ListRow & { client_id: string; type_version: number; content_type: string; document: Record<string, unknown> }
      >(
        `SELECT ${LIST_COLUMNS}, client_id, type_version, content_type, document FROM receipts WHERE id = $1 AND created_at = $2`,
        [id, created],
      );
      const r = res.rows[0];
      if (!r) return undefined;
      return {
        ...listItem(r),
        clientId: r.client_id,
        typeVersion: r.type_version,
        contentType: r.content_type,
        document: r.document,
      };
    },

    async original(id) {
      const created = new Date(timeOfId(id)).toISOString();
      const res = await pg.query<{ client_id: string; content_type: string; original: Buffer }>(
        "SELECT client_id, content_type, original FROM receipts WHERE id = $1 AND created_at = $2",
        [id, created],
      );
      const r = res.rows[0];
      return r ? { clientId: r.client_id, contentType: r.content_type, bytes: r.original } : undefined;
    },

    async list(q) {
      const limit = Math.min(Math.max(1, q.limit ?? 100), MAX_PAGE);
      const args: unknown[] = [
        q.clientId,
        (q.from ?? new Date(0)).toISOString(),
        (q.to ?? new Date(Date.now() + 86_400_000)).toISOString(),
      ];
      let where = "client_id = $1 AND created_at >= $2 AND created_at < $3";
      if (q.status) {
        if (!RECEIPT_STATUSES.includes(q.status)) throw new AppError("INVALID_PARAMETER", `unknown status ${q.status}`);
        args.push(q.status);
        where += ` AND status = $${args.length}`;
      }
      if (q.type) {
        args.push(q.type);
        where += ` AND type = $${args.length}`;
      }
      if (q.cursor) {
        const c = decodeCursor(q.cursor);
        args.push(c.createdAt, c.id);
        where += ` AND (created_at, id) < ($${args.length - 1}::timestamptz, $${args.length})`;
      }
      args.push(limit + 1);
      const res = await pg.query<ListRow>(
        `SELECT ${LIST_COLUMNS} FROM receipts WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $${args.length}`,
        args,
      );
      const rows = res.rows.slice(0, limit);
      const last = rows.at(-1);
      return {
        items: rows.map(listItem),
        nextCursor: res.rows.length > limit && last ? encodeCursor(last.created_at.toISOString(), last.id) : null,
      };
    },

    async stalled(status, before, since, limit) {
      const res = await pg.query<{ id: string }>(
        `SELECT id FROM receipts WHERE status = $1 AND updated_at < $2 AND created_at >= $3 ORDER BY updated_at LIMIT $4`,
        [status, before.toISOString(), since.toISOString(), limit],
      );
      return res.rows.map((r) => r.id);
    },

    async submission(id) {
      const res = await pg.query<{
        client_id: string;
        type: string;
        format: ReceiptFormat;
        created_at: Date;
        callback_url: string | null;
        issued_at: Date | null;
        total: string | null;
        currency: string | null;
        document: ReceiptDocument;
      }>(
        "SELECT client_id, type, format, created_at, callback_url, issued_at, total, currency, document FROM receipts WHERE id = $1 AND created_at = $2",
        [id, new Date(timeOfId(id)).toISOString()],
      );
      const r = res.rows[0];
      if (!r) return undefined;
      return {
        id,
        clientId: r.client_id,
        type: r.type,
        format: r.format,
        createdAt: r.created_at.getTime(),
        callbackUrl: r.callback_url,
        summary: {
          issuedAt: (r.issued_at ?? new Date(0)).toISOString(),
          total: Number(r.total ?? 0),
          currency: r.currency ?? "",
        },
        document: r.document,
      };
    },

    async ensurePartitions(from, months) {
      const first = `${from.toISOString().slice(0, 7)}-01`;
      const res = await pg.query<{ n: number }>("SELECT receipts_ensure_partitions($1::date, $2) AS n", [
        first,
        months,
      ]);
      return res.rows[0]?.n ?? 0;
    },
  };
}
