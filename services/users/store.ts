/**
 * The users domain in PostgreSQL: one table of users (the five entity kinds, a `kind` column)
 * and one of transactions between them, fed from the users and transactions streams; and the
 * seed's queries with keyset pagination. Writes are idempotent upserts: a transaction's status
 * only moves forward (pending to posted or voided), so records applied twice or out of order
 * converge.
 */
import type { Migration, Pool } from "../../db";

/** Tables and indexes. */
export const userDomainMigrations: readonly Migration[] = [
  {
    id: "users-0001",
    sql: `
      CREATE TABLE ud_users (
        id         text PRIMARY KEY,
        kind       text NOT NULL,
        name       text,
        email      text,
        subject    text,
        created_at timestamptz NOT NULL
      );
      CREATE TABLE ud_transactions (
        id          text PRIMARY KEY,
        kind        text NOT NULL,
        from_user   text NOT NULL,
        to_user     text NOT NULL,
        amount      bigint NOT NULL,
        from_points bigint NOT NULL,
        to_points   bigint NOT NULL,
        status      text NOT NULL,
        memo        text,
        at          timestamptz NOT NULL,
        seq         bigserial
      );
      CREATE INDEX ud_tx_from ON ud_transactions (from_user, kind, to_user);
      CREATE INDEX ud_tx_to ON ud_transactions (to_user, kind, seq);
    `,
  },
];

/** A user row. */
export interface UserRow {
  readonly id: string;
  readonly kind: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly subject: string | null;
  readonly createdAt: string;
}

/** A user as the stream carries it. */
export interface UserRecord {
  readonly userId: string;
  readonly kind: string;
  readonly name?: string;
  readonly email?: string;
  readonly subject?: string;
  readonly at: string;
}

/** A transaction as the stream carries it. */
export interface TxRecordIn {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly fromPoints: number;
  readonly toPoints: number;
  readonly memo?: string;
  readonly at: number;
}

const RANK = "CASE $S WHEN 'pending' THEN 0 ELSE 1 END";

/** The users store. */
export function createUserDomainStore(pg: Pool) {
  return {
    async writeUsers(rows: readonly UserRecord[]): Promise<void> {
      if (rows.length === 0) return;
      await pg.query(
        `INSERT INTO ud_users (id, kind, name, email, subject, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
         ON CONFLICT (id) DO UPDATE SET subject = COALESCE(EXCLUDED.subject, ud_users.subject)`,
        [
          rows.map((r) => r.userId),
          rows.map((r) => r.kind),
          rows.map((r) => r.name ?? null),
          rows.map((r) => r.email ?? null),
          rows.map((r) => r.subject ?? null),
          rows.map((r) => r.at),
        ],
      );
    },

    async writeTransactions(rows: readonly TxRecordIn[]): Promise<void> {
      // one statement per row keeps the forward-only status rule simple; batches are small
      for (const r of rows) {
        await pg.query(
          `INSERT INTO ud_transactions (id, kind, from_user, to_user, amount, from_points, to_points, status, memo, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10 / 1000.0))
           ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status
             WHERE ${RANK.replace("$S", "ud_transactions.status")} < ${RANK.replace("$S", "EXCLUDED.status")}`,
          [r.id, r.kind, r.from, r.to, r.amount, r.fromPoints, r.toPoints, r.status, r.memo ?? null, r.at],
        );
      }
    },

    async user(id: string): Promise<UserRow | undefined> {
      const r = await pg.query<{
        id: string;
        kind: string;
        name: string | null;
        email: string | null;
        subject: string | null;
        created_at: Date;
      }>("SELECT * FROM ud_users WHERE id = $1", [id]);
      const x = r.rows[0];
      return x
        ? {
            id: x.id,
            kind: x.kind,
            name: x.name,
            email: x.email,
            subject: x.subject,
            createdAt: x.created_at.toISOString(),
          }
        : undefined;
    },

    /** Every officer `civilian` met (posted encounters), by officer id after `after`. */
    async officersMet(civilian: string, limit: number, after?: string) {
      const r = await pg.query<{
        officer: string;
        name: string | null;
        encounters: string;
        first_at: Date;
        last_at: Date;
      }>(
        `SELECT t.to_user AS officer, u.name, count(*) AS encounters, min(t.at) AS first_at, max(t.at) AS last_at
           FROM ud_transactions t JOIN ud_users u ON u.id = t.to_user AND u.kind = 'officer'
          WHERE t.from_user = $1 AND t.kind = 'encounter' AND t.status = 'posted' AND ($2::text IS NULL OR t.to_user > $2)
          GROUP BY t.to_user, u.name ORDER BY t.to_user LIMIT $3`,
        [civilian, after ?? null, limit],
      );
      const items = r.rows.map((x) => ({
        officer: x.officer,
        name: x.name,
        encounters: Number(x.encounters),
        firstAt: x.first_at.toISOString(),
        lastAt: x.last_at.toISOString(),
      }));
      return { items, next: items.length === limit ? (items[items.length - 1]?.officer ?? null) : null };
    },

    /** Transactions of `kind` received by `to` with one of `statuses`, newest first (keyset by sequence). */
    async received(to: string, kind: string, statuses: readonly string[], limit: number, before?: number) {
      const r = await pg.query<{
        id: string;
        from_user: string;
        amount: string;
        status: string;
        memo: string | null;
        at: Date;
        seq: string;
      }>(
        `SELECT id, from_user, amount, status, memo, at, seq FROM ud_transactions
          WHERE to_user = $1 AND kind = $2 AND status = ANY($3) AND ($4::bigint IS NULL OR seq < $4)
          ORDER BY seq DESC LIMIT $5`,
        [to, kind, statuses, before ?? null, limit],
      );
      const items = r.rows.map((x) => ({
        id: x.id,
        from: x.from_user,
        amount: Number(x.amount),
        status: x.status,
        memo: x.memo,
        at: x.at.toISOString(),
      }));
      const total = await pg.query<{ n: string; s: string | null }>(
        "SELECT count(*) AS n, sum(amount) AS s FROM ud_transactions WHERE to_user = $1 AND kind = $2 AND status = ANY($3)",
        [to, kind, statuses],
      );
      return {
        items,
        next: r.rows.length === limit ? Number(r.rows[r.rows.length - 1]!.seq) : null,
        count: Number(total.rows[0]?.n ?? 0),
        points: Number(total.rows[0]?.s ?? 0),
      };
    },
  };
}

/** The users store (see {@link createUserDomainStore}). */
export type UserDomainStore = ReturnType<typeof createUserDomainStore>;
