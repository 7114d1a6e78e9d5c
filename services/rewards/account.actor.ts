/**
 * The account actor: one per user, the single writer of that user's balance. Its state (in KV
 * `{ns}_state_account`) is the hot balance; every change to it is published, in the same
 * handler result, as a balanced ledger record that the ledger writer puts in Postgres, so the
 * balance in KV always equals the sum of the account's ledger postings once the writer caught
 * up (checked by `rewards.check`). The sender's leg rides on the transaction record (field
 * `ledger`, on the transactions stream); a receiver's leg is a ledger record of its own.
 *
 * A transaction goes to its sender (`from`) first. The sender refuses it (insufficient
 * balance, wrong kinds, not open), or applies its own leg: its awards from the issuance
 * account, and the amount moved to the transit account. It then sends the receiver (`to`) a
 * credit: the amount from transit and the receiver's awards. Each leg is balanced on its own,
 * so the ledger balances at every moment; transit holds what is between two actors or pending.
 * An exchange is held pending (the amount stays in transit) until `settle` posts it to the
 * merchant or voids it back to the sender.
 *
 * Never double-counted: the runtime applies a redelivered message once (stored sequence), the
 * mailbox dedupes a resend within the duplicate window (`Nats-Msg-Id` = transaction id), and the
 * state remembers the last `recentMax` transaction ids, so a later resend changes nothing either.
 */
import { defineKind } from "../../actors/refs";
import type { Effect } from "../../actors/types";
import {
  ISSUANCE,
  REFUSALS,
  TRANSIT,
  TX_PARTIES,
  dayOf,
  periodKey,
  type Award,
  type LedgerRecord,
  type PartyKind,
  type PlannedTx,
  type Posting,
  type RefusalCode,
  type TxKind,
  type TxOutcome,
  type TxRecord,
} from "./model";

/** A transfer held pending (an exchange not yet posted or voided). */
export interface PendingTransfer {
  readonly to: string;
  readonly toKind: PartyKind;
  readonly amount: number;
  readonly kind: TxKind;
  readonly toAwards: readonly Award[];
  readonly at: number;
}

/** An account's state. */
export interface AccountState {
  /** Null until the account is opened. */
  readonly kind: PartyKind | null;
  readonly name?: string;
  /** Points: equals the sum of this account's ledger postings. Never negative. */
  readonly balance: number;
  /** Points of pending transfers this account sent (already off `balance`, in transit). */
  readonly held: number;
  readonly pending: Readonly<Record<string, PendingTransfer>>;
  /** Outcomes of the last transactions this account handled, by id (resends answer from here). */
  readonly recent: Readonly<Record<string, TxOutcome>>;
  /** Ids of `recent`, oldest first. */
  readonly order: readonly string[];
  /**
   * Transactions whose receiver leg this account applied, oldest first (the last `recentMax`):
   * a credit needs only its id remembered, not an outcome, so a busy receiver's state stays
   * small. Absent in states written before it (their credits are in `recent` as `C:<tx>`).
   */
  readonly credited?: readonly string[];
  /** The UTC day of `met`. */
  readonly day: string;
  /** Parties this account had an encounter with on `day`. */
  readonly met: readonly string[];
  /** Points per `rule|periodKey` (for caps); entries of past periods are dropped. */
  readonly capped: Readonly<Record<string, number>>;
  /** Ledger legs written. */
  readonly legs: number;
}

/** A message to an account. */
export type AccountMessage =
  /** Opens the account (the users directory already holds its kind). */
  | { readonly op: "open"; readonly kind: PartyKind; readonly name?: string }
  /** A transaction this account sends (see the module doc). */
  | { readonly op: "tx"; readonly tx: PlannedTx }
  /** The receiver's leg of a transaction (from the sender's actor). */
  | {
      readonly op: "credit";
      readonly tx: string;
      readonly kind: TxKind;
      readonly from: string;
      readonly amount: number;
      readonly awards: readonly Award[];
      readonly at: number;
    }
  /** Posts or voids a pending transfer this account sent. */
  | {
      readonly op: "settle";
      readonly tx: string;
      readonly action: "post" | "void";
      readonly at: number;
      /** Where the waiting node listens (see {@link PlannedTx.notify}). */
      readonly notify?: string;
    };

/** The account kind's typed reference. */
export const account = defineKind<AccountState, AccountMessage>("account");

/** Where the account actor publishes (names of the namespace). */
export interface AccountNames {
  /** Ledger records of `account`'s legs (stream {NS}_RW_LEDGER). */
  ledgerSubject(account: string): string;
  /** The transactions stream subject of `kind`. */
  txSubject(kind: TxKind): string;
  /**
   * Moleculer event broadcast with an outcome whose message names no waiting node (live plane:
   * waiting requests); an outcome whose message names one (`notify`) goes only there, by core NATS.
   */
  readonly outcomeEvent: string;
}

/** An account that never handled a message. */
export function initialAccount(): AccountState {
  return {
    kind: null,
    balance: 0,
    held: 0,
    pending: {},
    recent: {},
    order: [],
    credited: [],
    day: "",
    met: [],
    capped: {},
    legs: 0,
  };
}

/** `state` with `outcome` remembered (oldest forgotten beyond `max`). */
function remember(state: AccountState, outcome: TxOutcome, max: number): AccountState {
  const key = outcome.id;
  const recent: Record<string, TxOutcome> = { ...state.recent, [key]: outcome };
  const order = state.order.includes(key) ? [...state.order] : [...state.order, key];
  while (order.length > max) delete recent[order.shift()!];
  return { ...state, recent, order };
}

/** Cap counters with entries of past periods dropped. */
function currentCaps(capped: Readonly<Record<string, number>>, at: number): Record<string, number> {
  const out: Record<string, number> = {};
  const keys = new Set(["day", "week", "month"].map((p) => periodKey(p as "day", at)));
  for (const [k, v] of Object.entries(capped)) if (keys.has(k.slice(k.indexOf("|") + 1))) out[k] = v;
  return out;
}

/** The points of `awards` this account may take under their caps; `capped` is updated in place. */
function applyCaps(awards: readonly Award[], capped: Record<string, number>, at: number): number {
  let total = 0;
  for (const a of awards) {
    if (!a.cap) {
      total += a.points;
      continue;
    }
    const k = `${a.rule}|${periodKey(a.cap.period, at)}`;
    const used = capped[k] ?? 0;
    const take = Math.max(0, Math.min(a.points, a.cap.max - used));
    if (take > 0) capped[k] = used + take;
    total += take;
  }
  return total;
}

function ledger(names: AccountNames, self: string, rec: LedgerRecord): Effect {
  return { type: "publish", subject: names.ledgerSubject(self), id: `L:${rec.tx}:${rec.leg}`, data: rec };
}

function txRecord(names: AccountNames, rec: TxRecord): Effect {
  return { type: "publish", subject: names.txSubject(rec.kind), id: `T:${rec.id}:${rec.status}`, data: rec };
}

/** Options of the account kind. */
export interface AccountKindOptions {
  readonly names: AccountNames;
  /** Transaction ids remembered per account (resends beyond the mailbox's duplicate window). */
  readonly recentMax: number;
  readonly partitions?: number;
}

/** The account kind. */
export function accountKind(o: AccountKindOptions) {
  const { names, recentMax } = o;
  const outcomeEmit = (outcome: TxOutcome, notify: string | undefined): Effect =>
    notify !== undefined
      ? { type: "notify", subject: notify, data: outcome }
      : { type: "emit", event: names.outcomeEvent, payload: outcome };

  function refuse(state: AccountState, tx: PlannedTx, code: RefusalCode, detail?: string) {
    const outcome: TxOutcome = {
      id: tx.id,
      kind: tx.kind,
      status: "refused",
      from: tx.from,
      to: tx.to,
      amount: tx.amount,
      fromPoints: 0,
      toPoints: 0,
      code,
      reason: detail ?? REFUSALS[code],
      rules: [],
      at: tx.at,
    };
    return { state: remember(state, outcome, recentMax), effects: [outcomeEmit(outcome, tx.notify)] };
  }

  function send(state: AccountState, self: string, tx: PlannedTx) {
    const seen = state.recent[tx.id];
    if (seen) return { state, effects: [outcomeEmit({ ...seen, duplicate: true }, tx.notify)] };
    if (state.kind === null || tx.from !== self) return refuse(state, tx, "ACCOUNT_NOT_OPEN");
    const parties = TX_PARTIES[tx.kind];
    if (
      state.kind !== tx.fromKind ||
      !parties.from.includes(tx.fromKind) ||
      !parties.to.includes(tx.toKind) ||
      tx.from === tx.to
    )
      return refuse(
        state,
        tx,
        "WRONG_KIND",
        `a ${tx.kind} goes from ${parties.from.join("/")} to ${parties.to.join("/")} (another party)`,
      );
    if (tx.amount > state.balance)
      return refuse(state, tx, "INSUFFICIENT_BALANCE", `balance ${state.balance} does not cover ${tx.amount}`);

    let day = state.day;
    let met = state.met;
    const today = dayOf(tx.at);
    if (day !== today) {
      day = today;
      met = [];
    }
    // First encounter of the pair today: decided here, for both parties' awards.
    const first = !met.includes(tx.to);
    const eligible = tx.awards.filter((a) => !a.firstOfPairPerDay || first);
    if (tx.kind === "encounter" && first) met = [...met, tx.to];

    const capped = currentCaps(state.capped, tx.at);
    const fromPoints = applyCaps(
      eligible.filter((a) => a.party === "from"),
      capped,
      tx.at,
    );
    const toAwards = eligible.filter((a) => a.party === "to");
    const toPoints = toAwards.reduce((s, a) => s + a.points, 0);
    const postings: Posting[] = [];
    if (fromPoints > 0)
      postings.push({ account: ISSUANCE, amount: -fromPoints }, { account: self, amount: fromPoints });
    if (tx.amount > 0) postings.push({ account: self, amount: -tx.amount }, { account: TRANSIT, amount: tx.amount });
    const isPending = tx.kind === "exchange";
    const outcome: TxOutcome = {
      id: tx.id,
      kind: tx.kind,
      status: isPending ? "pending" : "posted",
      from: tx.from,
      to: tx.to,
      amount: tx.amount,
      fromPoints,
      toPoints,
      rules: [...new Set(eligible.map((a) => `${a.rule}@${a.version}`))],
      at: tx.at,
    };
    const effects: Effect[] = [];
    const credit = account.send(
      tx.to,
      { op: "credit", tx: tx.id, kind: tx.kind, from: self, amount: tx.amount, awards: toAwards, at: tx.at },
      { id: `C:${tx.id}` },
    );
    if (!isPending && (tx.amount > 0 || toAwards.length > 0)) effects.push(credit);
    effects.push(
      txRecord(names, {
        ...outcome,
        fromKind: tx.fromKind,
        toKind: tx.toKind,
        ...(tx.memo !== undefined ? { memo: tx.memo } : {}),
        // the sender's leg rides on the record (one message instead of two)
        ...(postings.length > 0 ? { ledger: { leg: "from", at: tx.at, postings } } : {}),
      }),
      outcomeEmit(outcome, tx.notify),
    );
    const pending = isPending
      ? {
          ...state.pending,
          [tx.id]: { to: tx.to, toKind: tx.toKind, amount: tx.amount, kind: tx.kind, toAwards, at: tx.at },
        }
      : state.pending;
    const next: AccountState = {
      ...state,
      balance: state.balance - tx.amount + fromPoints,
      held: state.held + (isPending ? tx.amount : 0),
      pending,
      day,
      met,
      capped,
      legs: state.legs + (postings.length > 0 ? 1 : 0),
    };
    return { state: remember(next, outcome, recentMax), effects };
  }

  function receive(state: AccountState, self: string, m: Extract<AccountMessage, { op: "credit" }>) {
    const credited = state.credited ?? [];
    if (credited.includes(m.tx) || state.recent[`C:${m.tx}`]) return { state };
    const capped = currentCaps(state.capped, m.at);
    const points = applyCaps(m.awards, capped, m.at);
    const postings: Posting[] = [];
    if (m.amount > 0) postings.push({ account: TRANSIT, amount: -m.amount }, { account: self, amount: m.amount });
    if (points > 0) postings.push({ account: ISSUANCE, amount: -points }, { account: self, amount: points });
    const next: AccountState = {
      ...state,
      balance: state.balance + m.amount + points,
      capped,
      credited: [...credited.slice(Math.max(0, credited.length + 1 - recentMax)), m.tx],
      legs: state.legs + (postings.length > 0 ? 1 : 0),
    };
    return {
      state: next,
      effects:
        postings.length > 0 ? [ledger(names, self, { tx: m.tx, leg: "to", kind: m.kind, at: m.at, postings })] : [],
    };
  }

  function settle(state: AccountState, self: string, m: Extract<AccountMessage, { op: "settle" }>) {
    const p = state.pending[m.tx];
    const done = state.recent[m.tx];
    if (!p) {
      const base: TxOutcome = done ?? {
        id: m.tx,
        kind: "exchange",
        status: "refused",
        from: self,
        to: "",
        amount: 0,
        fromPoints: 0,
        toPoints: 0,
        rules: [],
        at: m.at,
      };
      const already =
        (m.action === "post" && done?.status === "posted") || (m.action === "void" && done?.status === "voided");
      const outcome: TxOutcome = already
        ? { ...base, duplicate: true }
        : {
            ...base,
            status: "refused",
            code: "NOT_PENDING",
            reason: `${REFUSALS.NOT_PENDING}: ${done?.status ?? "unknown"}`,
          };
      return { state, effects: [outcomeEmit(outcome, m.notify)] };
    }
    const pending = { ...state.pending };
    delete pending[m.tx];
    const prev = state.recent[m.tx];
    const status = m.action === "post" ? "posted" : "voided";
    const outcome: TxOutcome = {
      ...(prev ?? {
        id: m.tx,
        kind: p.kind,
        from: self,
        to: p.to,
        amount: p.amount,
        fromPoints: 0,
        toPoints: 0,
        rules: [],
        at: p.at,
      }),
      status,
    };
    const effects: Effect[] = [];
    let balance = state.balance;
    let voidLeg: TxRecord["ledger"];
    if (m.action === "post") {
      effects.push(
        account.send(
          p.to,
          { op: "credit", tx: m.tx, kind: p.kind, from: self, amount: p.amount, awards: p.toAwards, at: m.at },
          { id: `C:${m.tx}` },
        ),
      );
    } else {
      balance += p.amount;
      voidLeg = {
        leg: "void",
        at: m.at,
        postings: [
          { account: TRANSIT, amount: -p.amount },
          { account: self, amount: p.amount },
        ],
      };
    }
    effects.push(
      txRecord(names, {
        ...outcome,
        fromKind: state.kind ?? "civilian",
        toKind: p.toKind,
        ...(voidLeg ? { ledger: voidLeg } : {}),
      }),
      outcomeEmit(outcome, m.notify),
    );
    const next: AccountState = {
      ...state,
      balance,
      held: state.held - p.amount,
      pending,
      legs: state.legs + (m.action === "void" ? 1 : 0),
    };
    return { state: remember(next, outcome, recentMax), effects };
  }

  return account.implement({
    ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
    initialState: initialAccount,
    handle(state, msg) {
      const m = msg.data;
      switch (m.op) {
        case "open":
          if (state.kind !== null) return { state };
          return { state: { ...state, kind: m.kind, ...(m.name !== undefined ? { name: m.name } : {}) } };
        case "tx":
          return send(state, msg.key, m.tx);
        case "credit":
          return receive(state, msg.key, m);
        case "settle":
          return settle(state, msg.key, m);
      }
    },
    retry: { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 2000 },
  });
}
