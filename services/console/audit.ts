/**
 * The console's audit log, kept in Postgres (the namespace's schema): every dead-letter edit
 * and replay made through the console's admin routes, with who (the admin client, or
 * "operator"), when, what and the request id. Rows are only ever added.
 */
import type { Migration, Pool } from "../../db";

/** The audit table (migration `console-0001`). */
export const auditMigrations: readonly Migration[] = [
  {
    id: "console-0001",
    sql: `CREATE TABLE console_audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      who text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      detail jsonb NOT NULL,
      request_id text
    )`,
  },
];

/** One audited action. */
export interface AuditEntry {
  readonly id: number;
  readonly at: string;
  readonly who: string;
  /** `dlq.edit`, `dlq.replay`. */
  readonly action: string;
  /** What it acted on, e.g. `dlq:42` or `dlq:3 seqs`. */
  readonly target: string;
  readonly detail: Record<string, unknown>;
  readonly requestId: string | null;
}

/** What is recorded. */
export interface AuditInput {
  readonly who: string;
  readonly action: string;
  readonly target: string;
  readonly detail: Record<string, unknown>;
  readonly requestId?: string | undefined;
}

/** Appends to and reads the audit log. */
export interface AuditLog {
  record(e: AuditInput): Promise<AuditEntry>;
  /** Newest first; `before` is an id (keyset paging). */
  list(opts: { limit: number; before?: number | undefined }): Promise<AuditEntry[]>;
}

interface Row {
  id: string;
  at: Date;
  who: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  request_id: string | null;
}

function toEntry(r: Row): AuditEntry {
  return {
    id: Number(r.id),
    at: r.at.toISOString(),
    who: r.who,
    action: r.action,
    target: r.target,
    detail: r.detail,
    requestId: r.request_id,
  };
}

/** The audit log over `pg`. */
export function createAuditLog(pg: Pool): AuditLog {
  return {
    async record(e) {
      const r = await pg.query<Row>(
        "INSERT INTO console_audit (who, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        [e.who, e.action, e.target, JSON.stringify(e.detail), e.requestId ?? null],
      );
      return toEntry(r.rows[0]!);
    },
    async list({ limit, before }) {
      const r = await pg.query<Row>(
        before
          ? "SELECT * FROM console_audit WHERE id < $2 ORDER BY id DESC LIMIT $1"
          : "SELECT * FROM console_audit ORDER BY id DESC LIMIT $1",
        before ? [limit, before] : [limit],
      );
      return r.rows.map(toEntry);
    },
  };
}
