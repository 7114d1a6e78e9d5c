/**
 * The agents' findings in PostgreSQL (namespace schema): one row per finding, at most one open
 * row per (agent, kind, subject) (a partial unique index), so agents on several nodes that
 * observe the same thing keep one finding, and only the node whose write raised or resolved it
 * announces it. `createFindingStore({ pg })` is the only code that touches the table.
 */
import type { Migration, Pool } from "../../db";
import type { AgentName, Finding, FindingChanges, Observation, Severity } from "./findings";
import { foldObservations, observationKey } from "./findings";

/** The table of findings. */
export const findingMigrations: readonly Migration[] = [
  {
    id: "agents-0001",
    sql: `
CREATE TABLE agent_findings (
  seq         bigserial PRIMARY KEY,
  agent       text NOT NULL,
  kind        text NOT NULL,
  severity    text NOT NULL,
  subject     text NOT NULL,
  detail      jsonb NOT NULL,
  first_seen  timestamptz NOT NULL,
  last_seen   timestamptz NOT NULL,
  resolved_at timestamptz
);
CREATE UNIQUE INDEX agent_findings_open ON agent_findings (agent, kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX agent_findings_agent ON agent_findings (agent, seq);
`,
  },
];

interface Row {
  seq: string;
  agent: AgentName;
  kind: string;
  severity: Severity;
  subject: string;
  detail: Finding["detail"];
  first_seen: Date;
  last_seen: Date;
  resolved_at: Date | null;
  inserted?: boolean;
}

const COLUMNS = "seq, agent, kind, severity, subject, detail, first_seen, last_seen, resolved_at";

/** The public id of the row with sequence `seq`: af_ and 19 digits, so ids sort as they were raised. */
export function findingId(seq: string | number): string {
  return `af_${String(seq).padStart(19, "0")}`;
}

const MAX_SEQ = 9_223_372_036_854_775_807n;

/** The sequence of a finding id, or undefined when `id` is not one (a bigint's range included). */
export function findingSeq(id: string): string | undefined {
  const m = /^af_([0-9]{19})$/.exec(id);
  if (!m) return undefined;
  const n = BigInt(m[1]!);
  return n <= MAX_SEQ ? String(n) : undefined;
}

function toFinding(r: Row): Finding {
  return {
    id: findingId(r.seq),
    agent: r.agent,
    kind: r.kind,
    severity: r.severity,
    subject: r.subject,
    detail: r.detail,
    firstSeen: r.first_seen.toISOString(),
    lastSeen: r.last_seen.toISOString(),
    ...(r.resolved_at ? { resolvedAt: r.resolved_at.toISOString() } : {}),
  };
}

/** Which findings a list asks for. */
export interface FindingQuery {
  readonly agent?: AgentName;
  readonly state?: "open" | "resolved" | "all";
  readonly kind?: string;
  readonly severity?: Severity;
  readonly limit: number;
  /** The `nextCursor` of the previous page: findings raised before it (newest first). */
  readonly before?: string;
}

/** The findings' operations. */
export interface FindingStore {
  /**
   * Records what `agent` observes now among the findings of `kinds`: each observation raises a
   * finding or moves an open one's `lastSeen` (severity and detail as now); open findings of
   * those kinds not observed any more are resolved. What changed, by this call.
   */
  sync(agent: AgentName, kinds: readonly string[], observations: readonly Observation[]): Promise<FindingChanges>;
  /** A page of findings, newest first, and the cursor of the next (null on the last). */
  list(q: FindingQuery): Promise<{ items: Finding[]; nextCursor: string | null }>;
  get(id: string): Promise<Finding | undefined>;
  /** Open findings per agent and severity. */
  openCounts(): Promise<Array<{ agent: AgentName; severity: Severity; n: number }>>;
}

/** The store over `pg` (whose search_path is the namespace schema). */
export function createFindingStore({ pg }: { pg: Pool }): FindingStore {
  return {
    async sync(agent, kinds, observations) {
      const obs = foldObservations(observations).filter((o) => kinds.includes(o.kind));
      const c = await pg.connect();
      try {
        await c.query("BEGIN");
        const up = await c.query<Row>(
          `INSERT INTO agent_findings (agent, kind, severity, subject, detail, first_seen, last_seen)
           SELECT $1, u.kind, u.severity, u.subject, u.detail, clock_timestamp(), clock_timestamp()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[]) AS u(kind, severity, subject, detail)
           ON CONFLICT (agent, kind, subject) WHERE resolved_at IS NULL
           DO UPDATE SET severity = EXCLUDED.severity, detail = EXCLUDED.detail, last_seen = clock_timestamp()
           RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
          [
            agent,
            obs.map((o) => o.kind),
            obs.map((o) => o.severity),
            obs.map((o) => o.subject),
            obs.map((o) => JSON.stringify(o.detail)),
          ],
        );
        const seen = new Set(obs.map(observationKey));
        const open = await c.query<Row>(
          `SELECT ${COLUMNS} FROM agent_findings WHERE agent = $1 AND resolved_at IS NULL AND kind = ANY($2::text[])`,
          [agent, [...kinds]],
        );
        const gone = open.rows.filter((r) => !seen.has(observationKey(r))).map((r) => r.seq);
        const res =
          gone.length === 0
            ? { rows: [] as Row[] }
            : await c.query<Row>(
                `UPDATE agent_findings SET resolved_at = clock_timestamp()
                 WHERE seq = ANY($1::bigint[]) AND resolved_at IS NULL RETURNING ${COLUMNS}`,
                [gone],
              );
        await c.query("COMMIT");
        return {
          raised: up.rows.filter((r) => r.inserted).map(toFinding),
          updated: up.rows.filter((r) => !r.inserted).map(toFinding),
          resolved: res.rows.map(toFinding),
        };
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
    async list(q) {
      const limit = Math.min(Math.max(q.limit, 1), 500);
      const res = await pg.query<Row>(
        `SELECT ${COLUMNS} FROM agent_findings
         WHERE ($1::text IS NULL OR agent = $1)
           AND ($2::text = 'all' OR ($2 = 'open' AND resolved_at IS NULL) OR ($2 = 'resolved' AND resolved_at IS NOT NULL))
           AND ($3::text IS NULL OR kind = $3)
           AND ($4::text IS NULL OR severity = $4)
           AND ($5::bigint IS NULL OR seq < $5)
         ORDER BY seq DESC LIMIT $6`,
        [q.agent ?? null, q.state ?? "all", q.kind ?? null, q.severity ?? null, q.before ?? null, limit + 1],
      );
      const items = res.rows.slice(0, limit).map(toFinding);
      return { items, nextCursor: res.rows.length > limit ? items.at(-1)!.id : null };
    },
    async get(id) {
      const seq = findingSeq(id);
      if (seq === undefined) return undefined;
      const res = await pg.query<Row>(`SELECT ${COLUMNS} FROM agent_findings WHERE seq = $1`, [seq]);
      return res.rows[0] ? toFinding(res.rows[0]) : undefined;
    },
    async openCounts() {
      const res = await pg.query<{ agent: AgentName; severity: Severity; n: string }>(
        `SELECT agent, severity, count(*) AS n FROM agent_findings WHERE resolved_at IS NULL GROUP BY agent, severity`,
      );
      return res.rows.map((r) => ({ agent: r.agent, severity: r.severity, n: Number(r.n) }));
    },
  };
}
