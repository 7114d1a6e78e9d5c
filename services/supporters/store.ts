/**
 * The supporters event log in PostgreSQL: one row per message (identity hash, message id,
 * source, arrival sequence and time, event types, delivery status of each step) plus the
 * message's identity and events SEALED with the supporter's data key, and one row per forget
 * request. Rows are written in batches from the log stream; writes are merges (upserts keyed by
 * (hash, id)), so batches applied out of order by several nodes converge. Forgetting a supporter
 * nulls the sealed columns of every earlier row (its key is gone anyway); the rows, their hash
 * and their event types stay, so relations between data remain.
 *
 * Tenancy: each row names its owner (`client`: the gateway client id, or `nats:{source}` for a
 * NATS producer's message; NULL on rows from before owners were recorded). A reader limited to
 * one client gets only its rows, filtered in the query (index (hash, client, seq)), so keyset
 * pages by arrival sequence work the same as for admins.
 */
import type { Pool } from "../../db";
import type { Migration } from "../../db";
import type { LogRecord, Step, StepOutcome } from "./model";

/** Tables and indexes of the event log. */
export const supporterMigrations: readonly Migration[] = [
  {
    id: "supporters-0001",
    sql: `
      CREATE TABLE supporter_messages (
        hash        text NOT NULL,
        id          text NOT NULL,
        source      text,
        seq         bigint,
        received_at timestamptz,
        types       jsonb,
        kid         text,
        identity_ct text,
        events_ct   text,
        user_status text NOT NULL DEFAULT 'pending',
        user_at     timestamptz,
        erp_status  text NOT NULL DEFAULT 'pending',
        erp_at      timestamptz,
        reason      text,
        PRIMARY KEY (hash, id)
      );
      CREATE INDEX supporter_messages_by_seq ON supporter_messages (hash, seq);
      CREATE INDEX supporter_messages_user_pending ON supporter_messages (received_at) WHERE user_status = 'pending';
      CREATE INDEX supporter_messages_erp_pending ON supporter_messages (received_at) WHERE erp_status = 'pending';
      CREATE TABLE supporter_forgets (
        hash         text NOT NULL,
        at           timestamptz NOT NULL,
        requested_by text NOT NULL,
        PRIMARY KEY (hash, at)
      );
    `,
  },
  {
    id: "supporters-0002",
    sql: `
      ALTER TABLE supporter_messages ADD COLUMN client text;
      CREATE INDEX supporter_messages_by_client ON supporter_messages (hash, client, seq);
    `,
  },
];

/** One message of the event log as the API shows it (never personal data). */
export interface EventLogEntry {
  readonly id: string;
  readonly source: string | null;
  /** Who sent it: a gateway client id, `nats:{source}`, or null (recorded before owners were). */
  readonly client: string | null;
  readonly seq: number | null;
  readonly receivedAt: string | null;
  readonly types: readonly string[];
  readonly user: { readonly status: string; readonly at: string | null };
  readonly erp: { readonly status: string; readonly at: string | null };
  readonly reason: string | null;
  /** False once the supporter was forgotten (the sealed data is gone). */
  readonly hasPersonalData: boolean;
}

/** A sealed row (for the admin data export). */
export interface SealedRow {
  readonly id: string;
  readonly kid: string | null;
  readonly identity: string | null;
  readonly events: string | null;
  readonly receivedAt: string | null;
}

/** Messages not yet delivered per step, by the log. */
export interface LogBacklog {
  readonly user: { readonly pending: number; readonly oldest: string | null };
  readonly erp: { readonly pending: number; readonly oldest: string | null };
}

/** What one client's rows of a supporter add up to (its share of the supporter's counters). */
export interface ClientLogSummary {
  readonly received: number;
  readonly userDelivered: number;
  readonly erpDelivered: number;
  /** Messages refused by a downstream or parked (at either step). */
  readonly parked: number;
  /** Messages with a step erased (the supporter was forgotten before it was done). */
  readonly erased: number;
  readonly firstAt: string | null;
  readonly lastAt: string | null;
}

/** The event log. */
export interface SupporterStore {
  /** Applies a batch of log records in one transaction. */
  writeBatch(records: readonly LogRecord[]): Promise<void>;
  /**
   * A supporter's messages in arrival order, after sequence `afterSeq`; with `client`, only the
   * rows that client owns, and only the forgets at or after its first message (those that
   * erased its data: earlier ones are another tenant's business).
   */
  events(
    hash: string,
    opts: { limit: number; afterSeq?: number; client?: string },
  ): Promise<{ items: EventLogEntry[]; forgottenAt: string[] }>;
  /** The rows of `hash` that `client` owns, summed up; `received` 0 when it owns none. */
  clientSummary(hash: string, client: string): Promise<ClientLogSummary>;
  /** The newest sealed rows of a supporter. */
  sealed(hash: string, limit: number): Promise<SealedRow[]>;
  /** Undelivered messages per step. */
  backlog(): Promise<LogBacklog>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

interface StepRow {
  hash: string;
  id: string;
  user_status: StepOutcome | null;
  user_at: number | null;
  erp_status: StepOutcome | null;
  erp_at: number | null;
  reason: string | null;
}

/** Merges step records per message (the newest per step wins). */
function mergeSteps(records: readonly Extract<LogRecord, { k: "step" }>[]): StepRow[] {
  const byKey = new Map<string, StepRow>();
  for (const r of records) {
    const key = `${r.hash}\u0000${r.id}`;
    const row = byKey.get(key) ?? {
      hash: r.hash,
      id: r.id,
      user_status: null,
      user_at: null,
      erp_status: null,
      erp_at: null,
      reason: null,
    };
    const s: Step = r.step;
    if (s === "user" && (row.user_at === null || r.at >= row.user_at)) {
      row.user_status = r.status;
      row.user_at = r.at;
    }
    if (s === "erp" && (row.erp_at === null || r.at >= row.erp_at)) {
      row.erp_status = r.status;
      row.erp_at = r.at;
    }
    if (r.reason) row.reason = r.reason;
    byKey.set(key, row);
  }
  return [...byKey.values()];
}

/** Creates the store over `pg` (the pool's search path is the namespace's schema). */
export function createSupporterStore(deps: { pg: Pool }): SupporterStore {
  const { pg } = deps;
  return {
    async writeBatch(records) {
      const msgs = new Map<string, Extract<LogRecord, { k: "msg" }>>();
      const steps: Extract<LogRecord, { k: "step" }>[] = [];
      const forgets: Extract<LogRecord, { k: "forget" }>[] = [];
      for (const r of records) {
        if (r.k === "msg") {
          const key = `${r.hash}\u0000${r.id}`;
          if (!msgs.has(key)) msgs.set(key, r);
        } else if (r.k === "step") steps.push(r);
        else forgets.push(r);
      }
      const client = await pg.connect();
      try {
        await client.query("BEGIN");
        // One batch at a time across nodes: upserts of overlapping rows in two transactions deadlock.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('switchyard:supporters:log'))");
        if (forgets.length > 0) {
          await client.query(
            `INSERT INTO supporter_forgets (hash, at, requested_by)
             SELECT f.hash, to_timestamp(f.at / 1000.0), f.by FROM jsonb_to_recordset($1::jsonb) AS f(hash text, at double precision, by text)
             ON CONFLICT DO NOTHING`,
            [JSON.stringify(forgets.map((f) => ({ hash: f.hash, at: f.at, by: f.by })))],
          );
        }
        if (msgs.size > 0) {
          await client.query(
            `INSERT INTO supporter_messages AS m (hash, id, source, client, seq, received_at, types, kid, identity_ct, events_ct, erp_status)
             SELECT x.hash, x.id, x.source, x.client, x.seq, to_timestamp(x.received_at / 1000.0), x.types, x.kid,
                    CASE WHEN f.hash IS NULL THEN x.identity END, CASE WHEN f.hash IS NULL THEN x.events END,
                    CASE WHEN x.events IS NULL THEN 'none' ELSE 'pending' END
             FROM jsonb_to_recordset($1::jsonb) AS x(hash text, id text, source text, client text, seq bigint, received_at double precision, types jsonb, kid text, identity text, events text)
             LEFT JOIN LATERAL (SELECT s.hash FROM supporter_forgets s WHERE s.hash = x.hash AND s.at >= to_timestamp(x.received_at / 1000.0) LIMIT 1) f ON true
             ON CONFLICT (hash, id) DO UPDATE SET
               source = COALESCE(m.source, EXCLUDED.source),
               client = COALESCE(m.client, EXCLUDED.client),
               seq = COALESCE(m.seq, EXCLUDED.seq),
               received_at = COALESCE(m.received_at, EXCLUDED.received_at),
               types = COALESCE(m.types, EXCLUDED.types),
               identity_ct = CASE WHEN m.kid IS NULL THEN EXCLUDED.identity_ct ELSE m.identity_ct END,
               events_ct = CASE WHEN m.kid IS NULL THEN EXCLUDED.events_ct ELSE m.events_ct END,
               kid = COALESCE(m.kid, EXCLUDED.kid),
               erp_status = CASE WHEN m.erp_at IS NULL AND EXCLUDED.erp_status = 'none' THEN 'none' ELSE m.erp_status END`,
            [
              JSON.stringify(
                [...msgs.values()].map((r) => ({
                  hash: r.hash,
                  id: r.id,
                  source: r.source,
                  client: r.client ?? null,
                  seq: r.seq,
                  received_at: r.receivedAt,
                  types: r.types,
                  kid: r.kid,
                  identity: r.identity,
                  events: r.events,
                })),
              ),
            ],
          );
        }
        const rows = mergeSteps(steps);
        if (rows.length > 0) {
          await client.query(
            `INSERT INTO supporter_messages AS m (hash, id, user_status, user_at, erp_status, erp_at, reason)
             SELECT x.hash, x.id, COALESCE(x.user_status, 'pending'), to_timestamp(x.user_at / 1000.0), COALESCE(x.erp_status, 'pending'), to_timestamp(x.erp_at / 1000.0), x.reason
             FROM jsonb_to_recordset($1::jsonb) AS x(hash text, id text, user_status text, user_at double precision, erp_status text, erp_at double precision, reason text)
             ON CONFLICT (hash, id) DO UPDATE SET
               user_status = CASE WHEN EXCLUDED.user_at IS NOT NULL AND (m.user_at IS NULL OR EXCLUDED.user_at >= m.user_at) THEN EXCLUDED.user_status ELSE m.user_status END,
               user_at = GREATEST(m.user_at, EXCLUDED.user_at),
               erp_status = CASE WHEN EXCLUDED.erp_at IS NOT NULL AND (m.erp_at IS NULL OR EXCLUDED.erp_at >= m.erp_at) THEN EXCLUDED.erp_status ELSE m.erp_status END,
               erp_at = GREATEST(m.erp_at, EXCLUDED.erp_at),
               reason = COALESCE(EXCLUDED.reason, m.reason)`,
            [JSON.stringify(rows)],
          );
        }
        if (forgets.length > 0) {
          await client.query(
            `UPDATE supporter_messages m SET identity_ct = NULL, events_ct = NULL,
               user_status = CASE WHEN m.user_status = 'pending' THEN 'erased' ELSE m.user_status END,
               user_at = CASE WHEN m.user_status = 'pending' THEN to_timestamp(f.at / 1000.0) ELSE m.user_at END,
               erp_status = CASE WHEN m.erp_status = 'pending' THEN 'erased' ELSE m.erp_status END,
               erp_at = CASE WHEN m.erp_status = 'pending' THEN to_timestamp(f.at / 1000.0) ELSE m.erp_at END
             FROM jsonb_to_recordset($1::jsonb) AS f(hash text, at double precision)
             WHERE m.hash = f.hash AND (m.received_at IS NULL OR m.received_at <= to_timestamp(f.at / 1000.0))`,
            [JSON.stringify(forgets.map((f) => ({ hash: f.hash, at: f.at })))],
          );
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    async events(hash, opts) {
      const mine = opts.client !== undefined;
      const r = await pg.query<{
        id: string;
        source: string | null;
        client: string | null;
        seq: string | null;
        received_at: Date | null;
        types: string[] | null;
        user_status: string;
        user_at: Date | null;
        erp_status: string;
        erp_at: Date | null;
        reason: string | null;
        has_data: boolean;
      }>(
        `SELECT id, source, client, seq, received_at, types, user_status, user_at, erp_status, erp_at, reason,
                (identity_ct IS NOT NULL OR events_ct IS NOT NULL) AS has_data
         FROM supporter_messages WHERE hash = $1 AND seq > $2 ${mine ? "AND client = $4" : ""} ORDER BY seq LIMIT $3`,
        mine ? [hash, opts.afterSeq ?? 0, opts.limit, opts.client] : [hash, opts.afterSeq ?? 0, opts.limit],
      );
      const f = mine
        ? await pg.query<{ at: Date }>(
            `SELECT at FROM supporter_forgets
             WHERE hash = $1 AND at >= (SELECT min(received_at) FROM supporter_messages WHERE hash = $1 AND client = $2) ORDER BY at`,
            [hash, opts.client],
          )
        : await pg.query<{ at: Date }>("SELECT at FROM supporter_forgets WHERE hash = $1 ORDER BY at", [hash]);
      return {
        items: r.rows.map((x) => ({
          id: x.id,
          source: x.source,
          client: x.client,
          seq: x.seq === null ? null : Number(x.seq),
          receivedAt: iso(x.received_at),
          types: x.types ?? [],
          user: { status: x.user_status, at: iso(x.user_at) },
          erp: { status: x.erp_status, at: iso(x.erp_at) },
          reason: x.reason,
          hasPersonalData: x.has_data,
        })),
        forgottenAt: f.rows.map((x) => x.at.toISOString()),
      };
    },

    async clientSummary(hash, client) {
      const r = await pg.query<{
        received: string;
        ud: string;
        ed: string;
        parked: string;
        erased: string;
        first: Date | null;
        last: Date | null;
      }>(
        `SELECT count(*) AS received,
                count(*) FILTER (WHERE user_status = 'delivered') AS ud,
                count(*) FILTER (WHERE erp_status = 'delivered') AS ed,
                count(*) FILTER (WHERE user_status IN ('refused', 'parked') OR erp_status IN ('refused', 'parked')) AS parked,
                count(*) FILTER (WHERE user_status = 'erased' OR erp_status = 'erased') AS erased,
                min(received_at) AS first, max(received_at) AS last
         FROM supporter_messages WHERE hash = $1 AND client = $2`,
        [hash, client],
      );
      const x = r.rows[0]!;
      return {
        received: Number(x.received),
        userDelivered: Number(x.ud),
        erpDelivered: Number(x.ed),
        parked: Number(x.parked),
        erased: Number(x.erased),
        firstAt: iso(x.first),
        lastAt: iso(x.last),
      };
    },

    async sealed(hash, limit) {
      const r = await pg.query<{
        id: string;
        kid: string | null;
        identity_ct: string | null;
        events_ct: string | null;
        received_at: Date | null;
      }>(
        "SELECT id, kid, identity_ct, events_ct, received_at FROM supporter_messages WHERE hash = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT $2",
        [hash, limit],
      );
      return r.rows.map((x) => ({
        id: x.id,
        kid: x.kid,
        identity: x.identity_ct,
        events: x.events_ct,
        receivedAt: iso(x.received_at),
      }));
    },

    async backlog() {
      const r = await pg.query<{ up: string; uo: Date | null; ep: string; eo: Date | null }>(
        `SELECT (SELECT count(*) FROM supporter_messages WHERE user_status = 'pending') AS up,
                (SELECT min(received_at) FROM supporter_messages WHERE user_status = 'pending') AS uo,
                (SELECT count(*) FROM supporter_messages WHERE erp_status = 'pending') AS ep,
                (SELECT min(received_at) FROM supporter_messages WHERE erp_status = 'pending') AS eo`,
      );
      const x = r.rows[0]!;
      return { user: { pending: Number(x.up), oldest: iso(x.uo) }, erp: { pending: Number(x.ep), oldest: iso(x.eo) } };
    },
  };
}
