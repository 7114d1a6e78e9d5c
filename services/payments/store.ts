/**
 * The payment hub's Postgres store: payments (one row per payment id: the idempotency key of
 * every call about it), the ledger (one row per money movement, unique per movement key so a
 * repeat records nothing), received webhook events (deduplicated per provider and event id),
 * reconciliation runs and their mismatches, and subscriptions.
 */
import type { Migration, Pool } from "../../db";
import type { PayStatus, ProviderName } from "./providers";

/** Migrations of the hub's tables. */
export const paymentMigrations: readonly Migration[] = [
  {
    id: "payments-0001",
    sql: `
      CREATE TABLE pay_payments (
        id text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('order', 'subscription')),
        reference text NOT NULL,
        customer text NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        provider text,
        provider_ref text,
        status text NOT NULL,
        notify text,
        redirect_url text,
        last_error text,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX pay_payments_reference ON pay_payments (reference);
      CREATE TABLE pay_ledger (
        id bigserial PRIMARY KEY,
        payment_id text NOT NULL REFERENCES pay_payments (id),
        entry text NOT NULL CHECK (entry IN ('authorize', 'capture', 'refund', 'void')),
        amount bigint NOT NULL,
        currency text NOT NULL,
        provider text NOT NULL,
        key text NOT NULL UNIQUE,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX pay_ledger_payment ON pay_ledger (payment_id);
      CREATE TABLE pay_webhooks (
        provider text NOT NULL,
        event_id text NOT NULL,
        payment_id text NOT NULL,
        status text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (provider, event_id)
      );
      CREATE TABLE pay_reconciliations (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        checked integer NOT NULL,
        mismatches integer NOT NULL
      );
      CREATE TABLE pay_mismatches (
        id bigserial PRIMARY KEY,
        run_id bigint NOT NULL REFERENCES pay_reconciliations (id),
        provider text NOT NULL,
        payment_id text NOT NULL,
        kind text NOT NULL,
        problem text NOT NULL,
        ledger_amount bigint NOT NULL,
        provider_amount bigint NOT NULL
      );
      CREATE TABLE pay_subscriptions (
        id text PRIMARY KEY,
        customer text NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        interval_sec integer NOT NULL CHECK (interval_sec > 0),
        next_charge_at timestamptz NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'past_due', 'cancelled')),
        charges integer NOT NULL DEFAULT 0,
        last_payment text,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX pay_subscriptions_due ON pay_subscriptions (next_charge_at) WHERE status = 'active';
    `,
  },
];

/** A payment row. */
export interface Payment {
  readonly id: string;
  readonly kind: "order" | "subscription";
  readonly reference: string;
  readonly customer: string;
  readonly amount: number;
  readonly currency: string;
  readonly provider: ProviderName | null;
  readonly providerRef: string | null;
  readonly status: PayStatus;
  readonly notify: string | null;
  readonly redirectUrl: string | null;
  readonly lastError: string | null;
  readonly attempts: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A ledger row. */
export interface LedgerEntry {
  readonly paymentId: string;
  readonly entry: "authorize" | "capture" | "refund" | "void";
  readonly amount: number;
  readonly currency: string;
  readonly provider: string;
  readonly key: string;
  readonly at: string;
}

/** A subscription row. */
export interface Subscription {
  readonly id: string;
  readonly customer: string;
  readonly amount: number;
  readonly currency: string;
  readonly intervalSec: number;
  readonly nextChargeAt: string;
  readonly status: "active" | "past_due" | "cancelled";
  readonly charges: number;
  readonly lastPayment: string | null;
  readonly lastError: string | null;
}

/** A reconciliation mismatch. */
export interface Mismatch {
  readonly provider: string;
  readonly paymentId: string;
  readonly kind: "capture" | "refund";
  readonly problem: "missing_in_ledger" | "missing_at_provider" | "amount_differs";
  readonly ledgerAmount: number;
  readonly providerAmount: number;
}

/** Status order: a payment only moves forward (a late "pending" after "authorized" changes nothing). */
export const PAY_RANK: Readonly<Record<PayStatus, number>> = {
  requested: 0,
  pending: 1,
  authorized: 2,
  captured: 3,
  refunded: 4,
  declined: 5,
  voided: 5,
  failed: 5,
};

const FINAL = new Set<PayStatus>(["declined", "voided", "failed", "refunded"]);

/** {@link PAY_RANK} of the SQL expression `e`. */
function RANK(e: string): string {
  return `(CASE ${e} WHEN 'requested' THEN 0 WHEN 'pending' THEN 1 WHEN 'authorized' THEN 2 WHEN 'captured' THEN 3 WHEN 'refunded' THEN 4 ELSE 5 END)`;
}

/** True when a payment in `from` may move to `to`. */
export function canAdvance(from: PayStatus, to: PayStatus): boolean {
  return !FINAL.has(from) && PAY_RANK[to] > PAY_RANK[from];
}

/**
 * The CTEs that move payment $1 forward to $2 (never back; provider ref $3 kept once set,
 * redirect URL $4) and book the ledger entries $5 (each once per payment: key `<id>:<entry>`);
 * `upd` is the row after, with `moved`.
 */
const ADVANCE = `WITH old AS (SELECT id, status, ${RANK("status")} AS rank FROM pay_payments WHERE id = $1 FOR UPDATE),
              step AS (SELECT id, (old.status NOT IN ('declined', 'voided', 'failed', 'refunded') AND ${RANK("$2::text")} > old.rank) AS moved FROM old),
              upd AS (UPDATE pay_payments p SET status = CASE WHEN step.moved THEN $2 ELSE p.status END,
                  provider_ref = COALESCE(p.provider_ref, $3), redirect_url = COALESCE($4, p.redirect_url),
                  last_error = CASE WHEN step.moved THEN NULL ELSE p.last_error END, updated_at = now()
                FROM step WHERE p.id = step.id RETURNING p.*, step.moved),
              booked AS (INSERT INTO pay_ledger (payment_id, entry, amount, currency, provider, key)
                SELECT upd.id, e, upd.amount, upd.currency, COALESCE(upd.provider, 'unknown'), upd.id || ':' || e
                  FROM upd, unnest($5::text[]) AS e
                ON CONFLICT (key) DO NOTHING)`;

interface PaymentRow {
  id: string;
  kind: "order" | "subscription";
  reference: string;
  customer: string;
  amount: string;
  currency: string;
  provider: ProviderName | null;
  provider_ref: string | null;
  status: PayStatus;
  notify: string | null;
  redirect_url: string | null;
  last_error: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
}

function paymentOf(r: PaymentRow): Payment {
  return {
    id: r.id,
    kind: r.kind,
    reference: r.reference,
    customer: r.customer,
    amount: Number(r.amount),
    currency: r.currency,
    provider: r.provider,
    providerRef: r.provider_ref,
    status: r.status,
    notify: r.notify,
    redirectUrl: r.redirect_url,
    lastError: r.last_error,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const SUB_COLS =
  "id, customer, amount, currency, interval_sec, next_charge_at, status, charges, last_payment, last_error";
interface SubRow {
  id: string;
  customer: string;
  amount: string;
  currency: string;
  interval_sec: number;
  next_charge_at: Date;
  status: Subscription["status"];
  charges: number;
  last_payment: string | null;
  last_error: string | null;
}
function subOf(r: SubRow): Subscription {
  return {
    id: r.id,
    customer: r.customer,
    amount: Number(r.amount),
    currency: r.currency,
    intervalSec: r.interval_sec,
    nextChargeAt: r.next_charge_at.toISOString(),
    status: r.status,
    charges: r.charges,
    lastPayment: r.last_payment,
    lastError: r.last_error,
  };
}

/** The hub's store over `pg`. */
export function createPaymentStore({ pg }: { pg: Pool }) {
  return {
    /**
     * Inserts the payment unless it exists, claimed for `claim` when given (the provider a new
     * payment goes to first: one statement instead of an insert and a claim); answers the row
     * either way (and whether it was new).
     */
    async open(
      p: {
        id: string;
        kind: "order" | "subscription";
        reference: string;
        customer: string;
        amount: number;
        currency: string;
        notify: string | null;
      },
      claim: ProviderName | null = null,
    ): Promise<{ payment: Payment; created: boolean }> {
      const ins = await pg.query<PaymentRow>(
        `INSERT INTO pay_payments (id, kind, reference, customer, amount, currency, status, notify, provider, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8::text, CASE WHEN $8::text IS NULL THEN 0 ELSE 1 END)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [p.id, p.kind, p.reference, p.customer, p.amount, p.currency, p.notify, claim],
      );
      if (ins.rows[0]) return { payment: paymentOf(ins.rows[0]), created: true };
      const got = await this.get(p.id);
      if (!got) throw new Error(`payment ${p.id} neither inserted nor found`);
      return { payment: got, created: false };
    },

    async get(id: string): Promise<Payment | undefined> {
      const r = await pg.query<PaymentRow>("SELECT * FROM pay_payments WHERE id = $1", [id]);
      return r.rows[0] ? paymentOf(r.rows[0]) : undefined;
    },

    /** Claims `provider` for a payment with none (or the same one); false when another has it. */
    async claim(id: string, provider: ProviderName): Promise<boolean> {
      const r = await pg.query(
        "UPDATE pay_payments SET provider = $2, attempts = attempts + 1, updated_at = now() WHERE id = $1 AND (provider IS NULL OR provider = $2)",
        [id, provider],
      );
      return r.rowCount === 1;
    },

    /** Gives up the claim of `provider` (its call did nothing), noting why. */
    async unclaim(id: string, provider: ProviderName, why: string): Promise<void> {
      await pg.query(
        "UPDATE pay_payments SET provider = NULL, provider_ref = NULL, last_error = $3, updated_at = now() WHERE id = $1 AND provider = $2 AND status = 'requested'",
        [id, provider, why],
      );
    },

    async noteError(id: string, why: string): Promise<void> {
      await pg.query("UPDATE pay_payments SET last_error = $2, updated_at = now() WHERE id = $1", [id, why]);
    },

    /**
     * Moves the payment forward to `status` (never back) and books the ledger `entries` for it
     * (each once per payment: key `<id>:<entry>`, amount and currency of the payment, its
     * provider); answers the row after and whether the status moved. One statement, one round trip.
     */
    async advance(
      id: string,
      status: PayStatus,
      f: { providerRef?: string | null; redirectUrl?: string | null },
      entries: readonly LedgerEntry["entry"][] = [],
    ): Promise<{ payment: Payment; moved: boolean }> {
      const r = await pg.query<PaymentRow & { moved: boolean }>(`${ADVANCE} SELECT * FROM upd`, [
        id,
        status,
        f.providerRef ?? null,
        f.redirectUrl ?? null,
        entries,
      ]);
      const row = r.rows[0];
      if (!row) throw new Error(`no payment ${id}`);
      return { payment: paymentOf(row), moved: row.moved };
    },

    /**
     * A provider's event: records it once per (provider, event id) and moves the payment forward
     * as {@link advance} does, in one statement. Answers undefined for an unknown payment (nothing
     * recorded); `duplicate` when the event was recorded before.
     */
    async event(
      e: { provider: string; eventId: string; paymentId: string },
      status: PayStatus,
      f: { providerRef?: string | null; redirectUrl?: string | null },
      entries: readonly LedgerEntry["entry"][] = [],
    ): Promise<{ payment: Payment; moved: boolean; duplicate: boolean } | undefined> {
      const r = await pg.query<PaymentRow & { moved: boolean; fresh: boolean }>(
        `${ADVANCE},
              seen AS (INSERT INTO pay_webhooks (provider, event_id, payment_id, status)
                SELECT $6, $7, old.id, $2 FROM old ON CONFLICT DO NOTHING RETURNING 1)
         SELECT upd.*, EXISTS (SELECT 1 FROM seen) AS fresh FROM upd`,
        [e.paymentId, status, f.providerRef ?? null, f.redirectUrl ?? null, entries, e.provider, e.eventId],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      return { payment: paymentOf(row), moved: row.moved, duplicate: !row.fresh };
    },

    /** Records a money movement once per `key`. */
    async book(e: {
      paymentId: string;
      entry: LedgerEntry["entry"];
      amount: number;
      currency: string;
      provider: string;
      key: string;
    }): Promise<void> {
      await pg.query(
        "INSERT INTO pay_ledger (payment_id, entry, amount, currency, provider, key) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
        [e.paymentId, e.entry, e.amount, e.currency, e.provider, e.key],
      );
    },

    async ledger(paymentId: string): Promise<LedgerEntry[]> {
      const r = await pg.query<{
        payment_id: string;
        entry: LedgerEntry["entry"];
        amount: string;
        currency: string;
        provider: string;
        key: string;
        at: Date;
      }>(
        "SELECT payment_id, entry, amount, currency, provider, key, at FROM pay_ledger WHERE payment_id = $1 ORDER BY id",
        [paymentId],
      );
      return r.rows.map((x) => ({
        paymentId: x.payment_id,
        entry: x.entry,
        amount: Number(x.amount),
        currency: x.currency,
        provider: x.provider,
        key: x.key,
        at: x.at.toISOString(),
      }));
    },

    /** Settled captures and refunds per payment of `provider`, from the ledger. */
    async settled(provider: string): Promise<Map<string, { capture: number; refund: number }>> {
      const r = await pg.query<{ payment_id: string; entry: string; total: string }>(
        "SELECT payment_id, entry, sum(amount) AS total FROM pay_ledger WHERE provider = $1 AND entry IN ('capture', 'refund') GROUP BY payment_id, entry",
        [provider],
      );
      const out = new Map<string, { capture: number; refund: number }>();
      for (const x of r.rows) {
        const cur = out.get(x.payment_id) ?? { capture: 0, refund: 0 };
        if (x.entry === "capture") cur.capture = Number(x.total);
        else cur.refund = Number(x.total);
        out.set(x.payment_id, cur);
      }
      return out;
    },

    /** Stores a reconciliation run and its mismatches; answers the run id. */
    async recordRun(checked: number, mismatches: readonly Mismatch[]): Promise<number> {
      const c = await pg.connect();
      try {
        await c.query("BEGIN");
        const run = await c.query<{ id: string }>(
          "INSERT INTO pay_reconciliations (checked, mismatches) VALUES ($1, $2) RETURNING id",
          [checked, mismatches.length],
        );
        const id = Number(run.rows[0]!.id);
        for (const m of mismatches)
          await c.query(
            "INSERT INTO pay_mismatches (run_id, provider, payment_id, kind, problem, ledger_amount, provider_amount) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [id, m.provider, m.paymentId, m.kind, m.problem, m.ledgerAmount, m.providerAmount],
          );
        await c.query("COMMIT");
        return id;
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },

    async createSubscription(s: {
      id: string;
      customer: string;
      amount: number;
      currency: string;
      intervalSec: number;
      startAt: Date;
    }): Promise<Subscription> {
      const r = await pg.query<SubRow>(
        `INSERT INTO pay_subscriptions (id, customer, amount, currency, interval_sec, next_charge_at, status) VALUES ($1, $2, $3, $4, $5, $6, 'active') RETURNING ${SUB_COLS}`,
        [s.id, s.customer, s.amount, s.currency, s.intervalSec, s.startAt],
      );
      return subOf(r.rows[0]!);
    },

    async subscription(id: string): Promise<Subscription | undefined> {
      const r = await pg.query<SubRow>(`SELECT ${SUB_COLS} FROM pay_subscriptions WHERE id = $1`, [id]);
      return r.rows[0] ? subOf(r.rows[0]) : undefined;
    },

    async dueSubscriptions(at: Date, limit: number): Promise<Subscription[]> {
      const r = await pg.query<SubRow>(
        `SELECT ${SUB_COLS} FROM pay_subscriptions WHERE status = 'active' AND next_charge_at <= $1 ORDER BY next_charge_at LIMIT $2`,
        [at, limit],
      );
      return r.rows.map(subOf);
    },

    /** Records period `charges + 1` as charged by `paymentId` (only once: the count must still be `charges`). */
    async charged(id: string, charges: number, paymentId: string): Promise<boolean> {
      const r = await pg.query(
        "UPDATE pay_subscriptions SET charges = charges + 1, next_charge_at = next_charge_at + make_interval(secs => interval_sec), last_payment = $3, last_error = NULL WHERE id = $1 AND charges = $2",
        [id, charges, paymentId],
      );
      return r.rowCount === 1;
    },

    async pastDue(id: string, charges: number, why: string): Promise<void> {
      await pg.query(
        "UPDATE pay_subscriptions SET status = 'past_due', last_error = $3 WHERE id = $1 AND charges = $2",
        [id, charges, why],
      );
    },
  };
}

/** The hub's store. */
export type PaymentStore = ReturnType<typeof createPaymentStore>;
