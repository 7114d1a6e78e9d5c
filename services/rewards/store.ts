/**
 * The rewards domain in PostgreSQL: the ledger (double entry: one row per posting, each
 * transaction leg balanced), and the business rules with every version.
 *
 * Ledger rows are keyed by (tx, leg, n), n the posting's place in its leg: the writer inserts a leg's rows in one statement
 * with ON CONFLICT DO NOTHING, so a ledger record delivered twice is stored once, and a leg is
 * stored whole or not at all.
 */
import type { Migration, Pool } from "../../db";
import type { LedgerRecord, TxKind } from "./model";
import type { Rule } from "./rules";

/** Tables and indexes of the ledger and the rules. */
export const rewardMigrations: readonly Migration[] = [
  {
    id: "rewards-0001",
    sql: `
      CREATE TABLE rw_postings (
        tx       text NOT NULL,
        leg      text NOT NULL,
        n        smallint NOT NULL,
        account  text NOT NULL,
        amount   bigint NOT NULL,
        kind     text NOT NULL,
        at       timestamptz NOT NULL,
        id       bigserial,
        PRIMARY KEY (tx, leg, n)
      );
      CREATE INDEX rw_postings_by_account ON rw_postings (account, id);
      CREATE TABLE rw_rule_versions (
        id         text NOT NULL,
        version    integer NOT NULL,
        body       jsonb,
        deleted    boolean NOT NULL DEFAULT false,
        at         timestamptz NOT NULL DEFAULT now(),
        by_client  text NOT NULL,
        PRIMARY KEY (id, version)
      );
    `,
  },
];

/** One posting as read back. */
export interface PostingRow {
  readonly id: number;
  readonly tx: string;
  readonly leg: string;
  readonly amount: number;
  readonly kind: TxKind;
  readonly at: string;
}

/** One stored version of a rule (null body when the version deleted it). */
export interface RuleVersionRow {
  readonly id: string;
  readonly version: number;
  readonly body: Rule | null;
  readonly deleted: boolean;
  readonly at: string;
  readonly by: string;
}

/** What the invariant check reads from the ledger. */
export interface LedgerSums {
  /** Sum per account (system accounts included). */
  readonly sums: Map<string, number>;
  /** Legs whose postings do not sum to zero (must be none). */
  readonly unbalanced: number;
  readonly postings: number;
  readonly transactions: number;
}

/** The ledger and rules store over `pg`. */
export interface RewardStore {
  writeLedger(records: readonly LedgerRecord[]): Promise<number>;
  postings(account: string, opts: { limit: number; before?: number }): Promise<PostingRow[]>;
  ledgerSum(account: string): Promise<number>;
  sums(): Promise<LedgerSums>;
  /** Whether a transaction has any posting (resends of old ids). */
  hasTx(tx: string): Promise<boolean>;
  addRuleVersion(row: Omit<RuleVersionRow, "at">): Promise<void>;
  ruleVersions(id: string): Promise<RuleVersionRow[]>;
}

/** Creates the store. */
export function createRewardStore(deps: { pg: Pool }): RewardStore {
  const { pg } = deps;
  return {
    async writeLedger(records) {
      if (records.length === 0) return 0;
      const tx: string[] = [];
      const leg: string[] = [];
      const n: number[] = [];
      const acct: string[] = [];
      const amount: string[] = [];
      const kind: string[] = [];
      const at: string[] = [];
      for (const r of records) {
        const when = new Date(r.at).toISOString();
        for (const [i, p] of r.postings.entries()) {
          tx.push(r.tx);
          leg.push(r.leg);
          n.push(i);
          acct.push(p.account);
          amount.push(String(p.amount));
          kind.push(r.kind);
          at.push(when);
        }
      }
      const res = await pg.query(
        `INSERT INTO rw_postings (tx, leg, n, account, amount, kind, at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[])
         ON CONFLICT DO NOTHING`,
        [tx, leg, n, acct, amount, kind, at],
      );
      return res.rowCount ?? 0;
    },

    async postings(account, { limit, before }) {
      const r = await pg.query<{ id: string; tx: string; leg: string; amount: string; kind: TxKind; at: Date }>(
        `SELECT id, tx, leg, amount, kind, at FROM rw_postings
          WHERE account = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [account, before ?? null, limit],
      );
      return r.rows.map((x) => ({
        id: Number(x.id),
        tx: x.tx,
        leg: x.leg,
        amount: Number(x.amount),
        kind: x.kind,
        at: x.at.toISOString(),
      }));
    },

    async ledgerSum(account) {
      const r = await pg.query<{ s: string | null }>("SELECT sum(amount) AS s FROM rw_postings WHERE account = $1", [
        account,
      ]);
      return Number(r.rows[0]?.s ?? 0);
    },

    async sums() {
      const [per, unb, counts] = await Promise.all([
        pg.query<{ account: string; s: string }>("SELECT account, sum(amount) AS s FROM rw_postings GROUP BY account"),
        pg.query<{ n: string }>(
          "SELECT count(*) AS n FROM (SELECT 1 FROM rw_postings GROUP BY tx, leg HAVING sum(amount) <> 0) u",
        ),
        pg.query<{ p: string; t: string }>("SELECT count(*) AS p, count(DISTINCT tx) AS t FROM rw_postings"),
      ]);
      return {
        sums: new Map(per.rows.map((r) => [r.account, Number(r.s)])),
        unbalanced: Number(unb.rows[0]?.n ?? 0),
        postings: Number(counts.rows[0]?.p ?? 0),
        transactions: Number(counts.rows[0]?.t ?? 0),
      };
    },

    async hasTx(tx) {
      const r = await pg.query("SELECT 1 FROM rw_postings WHERE tx = $1 LIMIT 1", [tx]);
      return (r.rowCount ?? 0) > 0;
    },

    async addRuleVersion(row) {
      await pg.query(
        "INSERT INTO rw_rule_versions (id, version, body, deleted, by_client) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [row.id, row.version, row.body === null ? null : JSON.stringify(row.body), row.deleted, row.by],
      );
    },

    async ruleVersions(id) {
      const r = await pg.query<{
        id: string;
        version: number;
        body: Rule | null;
        deleted: boolean;
        at: Date;
        by_client: string;
      }>("SELECT id, version, body, deleted, at, by_client FROM rw_rule_versions WHERE id = $1 ORDER BY version", [id]);
      return r.rows.map((x) => ({
        id: x.id,
        version: x.version,
        body: x.body,
        deleted: x.deleted,
        at: x.at.toISOString(),
        by: x.by_client,
      }));
    },
  };
}
