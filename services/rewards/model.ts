/**
 * The rewards domain's vocabulary: party kinds, transaction kinds, the transaction a client
 * submits (one JSON Schema, one type), the plan the scorer makes of it, ledger postings and
 * outcomes. Pure: no I/O.
 */
import { int, obj, oneOf, str, type Infer } from "../../lib/json-schema";

/** The five entity kinds of the seed. */
export const PARTY_KINDS = ["civilian", "officer", "merchant", "charity", "family"] as const;
export type PartyKind = (typeof PARTY_KINDS)[number];

/** The transaction kinds the seed names. */
export const TX_KINDS = ["encounter", "donation", "giveaway", "exchange"] as const;
export type TxKind = (typeof TX_KINDS)[number];

/** System accounts: never actors, may go negative; their names cannot be user ids (`@`). */
export const ISSUANCE = "@issuance";
/** Points in flight between two account actors, or held by a pending transfer. */
export const TRANSIT = "@transit";

/** A user (account) id: one actor key. */
export const USER_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
/** A transaction id: the idempotency key of a submission. */
export const TX_ID_PATTERN = "^[A-Za-z0-9_-]{1,100}$";

const userId = str({ pattern: USER_ID_PATTERN, maxLength: 64, description: "User (account) id" });

/** The body of `POST /api/v1/rewards/transactions` and of `{ns}.rewards.score` requests. */
export const txRequestSchema = obj(
  {
    id: str({
      pattern: TX_ID_PATTERN,
      maxLength: 100,
      description: "Transaction id chosen by the sender: a resend with the same id changes nothing",
    }),
    kind: oneOf(TX_KINDS, {
      description:
        "encounter (civilian `from` meets officer `to`), donation (`from` gives `amount` to a charity or family `to`), giveaway (officer to officer), exchange (points of `from` for goods of merchant `to`, held pending until posted or voided)",
    }),
    from: userId,
    to: userId,
  },
  {
    amount: int({
      minimum: 1,
      maximum: 1_000_000_000,
      description: "Points moved from `from` to `to` (not for encounters)",
    }),
    memo: str({ maxLength: 200 }),
  },
);
export type TxRequest = Infer<typeof txRequestSchema>;

/** `POST /api/v1/rewards/accounts`: opens an account for a user of one kind. */
export const openAccountSchema = obj({ id: userId, kind: oneOf(PARTY_KINDS) }, { name: str({ maxLength: 200 }) });
export type OpenAccountRequest = Infer<typeof openAccountSchema>;

/** `POST /api/v1/rewards/signups`: one entity's signup. */
export const signupSchema = obj(
  {
    kind: oneOf(PARTY_KINDS),
    name: str({ minLength: 1, maxLength: 200 }),
    email: str({ maxLength: 200, pattern: "^[^@\\s]{1,64}@[^@\\s]{1,190}$" }),
    document: str({
      minLength: 1,
      maxLength: 100,
      pattern: "^[A-Za-z0-9_-]{1,100}$",
      description:
        "What the kind's ID validator checks: badge number (officer), ID document (civilian, family), business registration (merchant, charity); for a charity or family also its id in the user catalogs",
    }),
  },
  {
    id: str({
      pattern: "^[A-Za-z0-9_-]{8,64}$",
      maxLength: 64,
      description: "Signup id chosen by the client (idempotency key); default a new one",
    }),
  },
);
export type SignupBody = Infer<typeof signupSchema>;

/** The calendar periods caps are counted over (UTC). */
export const PERIODS = ["day", "week", "month"] as const;
export type Period = (typeof PERIODS)[number];

/** Points a rule gives one party, with the conditions only an account actor can check. */
export interface Award {
  readonly rule: string;
  readonly version: number;
  /** Which party: the sender (`from`) or the receiver (`to`). */
  readonly party: "from" | "to";
  readonly points: number;
  /** Only on the first encounter of this pair on this UTC day (checked by the `from` actor). */
  readonly firstOfPairPerDay?: boolean;
  /** At most `max` points from this rule per `period` for this party (checked by its own actor). */
  readonly cap?: { readonly period: Period; readonly max: number };
}

/** What the scorer hands the `from` account: the request, party kinds, time and the awards. */
export interface PlannedTx {
  readonly id: string;
  readonly kind: TxKind;
  readonly from: string;
  readonly to: string;
  readonly fromKind: PartyKind;
  readonly toKind: PartyKind;
  /** Points moved from `from` to `to` (0 for encounters). */
  readonly amount: number;
  readonly awards: readonly Award[];
  /** Submission time (ms since the epoch): day and period keys come from it. */
  readonly at: number;
  readonly memo?: string;
  /**
   * Core NATS subject of the node that waits for the outcome (`{ns}.rewards.outcome.<node>`);
   * absent: the outcome is broadcast to every node (Moleculer event `rewards.outcome`).
   */
  readonly notify?: string;
}

/** One line of the ledger: `amount` (signed) on `account`. */
export interface Posting {
  readonly account: string;
  readonly amount: number;
}

/**
 * A balanced group of postings of one transaction, written by one account actor: its postings
 * sum to zero. `leg` names the group within the transaction (`from`, `to`, `void`).
 */
export interface LedgerRecord {
  readonly tx: string;
  readonly leg: string;
  readonly kind: TxKind;
  readonly at: number;
  readonly postings: readonly Posting[];
}

/** Statuses of a transaction. */
export type TxStatus = "posted" | "pending" | "voided" | "refused";

/** The outcome of a transaction (or of its settlement), as the sender sees it. */
export interface TxOutcome {
  readonly id: string;
  readonly kind: TxKind;
  readonly status: TxStatus;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  /** Points credited to `from` by rules (its own caps applied). */
  readonly fromPoints: number;
  /** Points the rules give `to` (its own caps are applied by its actor). */
  readonly toPoints: number;
  /** Why it was refused (status refused). */
  readonly reason?: string;
  readonly code?: RefusalCode;
  readonly rules: readonly string[];
  readonly at: number;
  /** True when this answer is for a resend of an id already handled. */
  readonly duplicate?: boolean;
}

/** Stable codes of refusals. */
export const REFUSALS = {
  INSUFFICIENT_BALANCE: "the sender's balance does not cover the amount",
  ACCOUNT_NOT_OPEN: "the sender has no open account",
  NOT_PENDING: "the transaction is not pending (unknown, or already posted or voided)",
  WRONG_KIND: "the parties' kinds do not fit this transaction kind",
} as const;
export type RefusalCode = keyof typeof REFUSALS;

/** The record published on the transactions stream (`{ns}.transactions.<kind>`). */
export interface TxRecord extends TxOutcome {
  readonly fromKind: PartyKind;
  readonly toKind: PartyKind;
  readonly memo?: string;
  /**
   * The sender's ledger leg of this change (`from` when applied, `void` when voided), if it
   * posts anything: it rides on the transactions stream, so one durable message carries both the
   * record and the leg, and the ledger writer reads it from there (see {@link ledgerOfTx}).
   */
  readonly ledger?: { readonly leg: string; readonly at: number; readonly postings: readonly Posting[] };
}

/** The ledger record a transaction record carries, if any. */
export function ledgerOfTx(rec: TxRecord): LedgerRecord | undefined {
  if (!rec.ledger) return undefined;
  return { tx: rec.id, leg: rec.ledger.leg, kind: rec.kind, at: rec.ledger.at, postings: rec.ledger.postings };
}

/** Parties each transaction kind accepts: `from` kinds and `to` kinds. */
export const TX_PARTIES: Readonly<Record<TxKind, { from: readonly PartyKind[]; to: readonly PartyKind[] }>> = {
  encounter: { from: ["civilian"], to: ["officer"] },
  donation: { from: ["civilian", "officer"], to: ["charity", "family"] },
  giveaway: { from: ["officer"], to: ["officer"] },
  exchange: { from: ["civilian", "officer"], to: ["merchant"] },
};

/** Whether `kind` moves points from `from` to `to` (needs an amount). */
export function movesPoints(kind: TxKind): boolean {
  return kind !== "encounter";
}

/** `YYYY-MM-DD` (UTC) of `at`. */
export function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** The key of the calendar `period` (UTC) containing `at`: `2026-12-01`, `2026-W49`, `2026-12`. */
export function periodKey(period: Period, at: number): string {
  const d = new Date(at);
  if (period === "day") return dayOf(at);
  if (period === "month") return d.toISOString().slice(0, 7);
  // ISO week: the Thursday of this week decides the year
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - dow);
  const y0 = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - y0) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** True when `v` is a plain object (narrows unknown input before field checks). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
