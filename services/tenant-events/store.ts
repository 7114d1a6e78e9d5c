/**
 * The event store in PostgreSQL.
 *
 *   event_keys  (client_id, event_id) PRIMARY KEY: the idempotency keys. A repeated event id
 *               inserts nothing, whatever its content or timestamp.
 *   events      one row per stored event, partitioned by month of `stored_at` (commit time), with
 *               `seq` from one sequence (the feed order) and `data_enc`: the AES-256-GCM blob of
 *               the data (events/crypto.ts) with its `key_id`. Primary key (client_id, seq,
 *               stored_at) serves the per-tenant feed in keyset order.
 *
 * A batch is one statement: the keys go in first (ON CONFLICT DO NOTHING), and only the rows
 * whose key was new go into `events`, in input order, so a batch is all-or-nothing and a replay
 * of it changes nothing.
 */
import type { Migration, Pool } from "../../db";
import { monthlyPartitionsFunctionSql } from "../../db/partitions";
import type { FeedPosition } from "./cursor";

/** Schema of the event store. */
export const eventMigrations: readonly Migration[] = [
  {
    id: "events-0001",
    sql: `
CREATE SEQUENCE events_seq AS bigint;

CREATE TABLE event_keys (
  client_id  text        NOT NULL,
  event_id   text        NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, event_id)
);

CREATE TABLE events (
  seq          bigint      NOT NULL,
  client_id    text        NOT NULL,
  event_id     text        NOT NULL,
  type         text        NOT NULL,
  type_version integer     NOT NULL,
  event_time   timestamptz NOT NULL,
  stored_at    timestamptz NOT NULL DEFAULT now(),
  key_id       text        NOT NULL,
  data_enc     bytea       NOT NULL,
  PRIMARY KEY (client_id, seq, stored_at)
) PARTITION BY RANGE (stored_at);

CREATE INDEX events_client_event ON events (client_id, event_id);

${monthlyPartitionsFunctionSql("events")}

SELECT events_ensure_partitions((date_trunc('month', now() AT TIME ZONE 'UTC'))::date, 3);
`,
  },
];

/** One event to store (data already encrypted). */
export interface EventRow {
  readonly clientId: string;
  readonly eventId: string;
  readonly type: string;
  readonly typeVersion: number;
  readonly eventTimeMs: number;
  readonly keyId: string;
  readonly blob: Buffer;
}

/** Where a stored event is in its tenant's feed. */
export interface StoredRef {
  readonly clientId: string;
  readonly eventId: string;
  readonly seq: number;
  readonly storedAtMs: number;
}

/** A stored row as the feed reads it. */
export interface StoredRow extends StoredRef {
  readonly type: string;
  readonly typeVersion: number;
  readonly eventTimeMs: number;
  readonly keyId: string;
  readonly blob: Buffer;
}

/** Postgres access of the events domain. */
export interface EventStore {
  /**
   * Stores the rows whose (clientId, eventId) is new, in input order, in one statement.
   * Returns the new ones with their sequence (rows not returned were already stored). The
   * input must not repeat a key.
   */
  insertBatch(rows: readonly EventRow[]): Promise<StoredRef[]>;
  /** These events of `clientId` as stored (those that exist), in sequence order. */
  stored(clientId: string, eventIds: readonly string[]): Promise<StoredRow[]>;
  /** Up to `limit` events of `clientId` after `after`, in sequence order. */
  feed(clientId: string, after: FeedPosition, limit: number): Promise<StoredRow[]>;
  /** Creates monthly partitions from `from`'s month for `months` months; returns how many were new. */
  ensurePartitions(from: Date, months: number): Promise<number>;
}

/** Slack below a cursor's commit time for partition pruning (commit times of one tenant only grow). */
const FEED_SLACK_MS = 10 * 60_000;

interface RowShape {
  seq: string;
  event_id: string;
  type: string;
  type_version: number;
  event_time: Date;
  stored_at: Date;
  key_id: string;
  data_enc: Buffer;
}

function toRow(clientId: string, r: RowShape): StoredRow {
  return {
    clientId,
    eventId: r.event_id,
    seq: Number(r.seq),
    storedAtMs: r.stored_at.getTime(),
    type: r.type,
    typeVersion: r.type_version,
    eventTimeMs: r.event_time.getTime(),
    keyId: r.key_id,
    blob: r.data_enc,
  };
}

const monthKey = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

/** The event store over `pg` (search_path: the namespace's schema). */
export function createEventStore({ pg }: { pg: Pool }): EventStore {
  const knownMonths = new Set<string>();

  async function ensureNow(): Promise<void> {
    const now = Date.now();
    // this month and the next (commit times come from the database clock, near ours)
    const months = [monthKey(now), monthKey(now + 32 * 86_400_000)];
    if (months.every((m) => knownMonths.has(m))) return;
    await pg.query("SELECT events_ensure_partitions($1::date, 2)", [`${months[0]}-01`]);
    for (const m of months) knownMonths.add(m);
  }

  return {
    async insertBatch(rows) {
      if (rows.length === 0) return [];
      await ensureNow();
      const res = await pg.query<{ client_id: string; event_id: string; seq: string; stored_at: Date }>(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::bytea[])
             WITH ORDINALITY AS u(client_id, event_id, type, type_version, event_time, key_id, data_enc, ord)
         ), fresh AS (
           INSERT INTO event_keys (client_id, event_id)
           SELECT client_id, event_id FROM input ORDER BY ord
           ON CONFLICT DO NOTHING
           RETURNING client_id, event_id
         )
         INSERT INTO events (seq, client_id, event_id, type, type_version, event_time, key_id, data_enc)
         SELECT nextval('events_seq'), i.client_id, i.event_id, i.type, i.type_version, i.event_time, i.key_id, i.data_enc
           FROM input i JOIN fresh f ON f.client_id = i.client_id AND f.event_id = i.event_id
          ORDER BY i.ord
         RETURNING client_id, event_id, seq, stored_at`,
        [
          rows.map((r) => r.clientId),
          rows.map((r) => r.eventId),
          rows.map((r) => r.type),
          rows.map((r) => r.typeVersion),
          rows.map((r) => new Date(r.eventTimeMs).toISOString()),
          rows.map((r) => r.keyId),
          rows.map((r) => r.blob),
        ],
      );
      return res.rows
        .map((r) => ({
          clientId: r.client_id,
          eventId: r.event_id,
          seq: Number(r.seq),
          storedAtMs: r.stored_at.getTime(),
        }))
        .sort((a, b) => a.seq - b.seq);
    },

    async stored(clientId, eventIds) {
      if (eventIds.length === 0) return [];
      const res = await pg.query<RowShape>(
        `SELECT e.seq, e.event_id, e.type, e.type_version, e.event_time, e.stored_at, e.key_id, e.data_enc
           FROM event_keys k JOIN events e ON e.client_id = k.client_id AND e.event_id = k.event_id AND e.stored_at = k.stored_at
          WHERE k.client_id = $1 AND k.event_id = ANY($2::text[])
          ORDER BY e.seq`,
        [clientId, [...eventIds]],
      );
      return res.rows.map((r) => toRow(clientId, r));
    },

    async feed(clientId, after, limit) {
      const res = await pg.query<RowShape>(
        `SELECT seq, event_id, type, type_version, event_time, stored_at, key_id, data_enc
           FROM events
          WHERE client_id = $1 AND seq > $2 AND stored_at >= $3
          ORDER BY seq
          LIMIT $4`,
        [clientId, after.seq, new Date(Math.max(0, after.storedAtMs - FEED_SLACK_MS)).toISOString(), limit],
      );
      return res.rows.map((r) => toRow(clientId, r));
    },

    async ensurePartitions(from, months) {
      const first = `${from.toISOString().slice(0, 7)}-01`;
      const res = await pg.query<{ n: number }>("SELECT events_ensure_partitions($1::date, $2) AS n", [first, months]);
      return res.rows[0]?.n ?? 0;
    },
  };
}
