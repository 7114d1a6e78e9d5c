/**
 * The order actor, one per order (pure): an explicit state machine from checkout through stock
 * reservation, payment, fulfilment and delivery, with cancellation and refunds. Each step that
 * touches another domain is a job (catalogue: reserve, commit, release; payment hub: authorise,
 * status, capture, refund, void) whose result comes back to this mailbox, and each later step
 * that fails compensates the earlier ones (a refused capture restocks and voids; a commit that
 * finds the stock gone voids the authorisation; a payment authorised after a cancellation is
 * voided).
 *
 * The storefront's completion call and the payment hub's webhook events arrive in this one
 * mailbox, handled one at a time: whichever comes first, later ones find the payment already
 * known, so there is always one order and one payment (the payment id is the order id) and
 * one capture. The completion call also asks the hub for the payment's status, so a lost
 * webhook does not leave the order waiting.
 *
 *   new ─place→ reserving ─reserved→ awaiting_payment ─authorised→ committing ─→ capturing ─→ paid
 *                  │out of stock           │declined/failed            │stock gone  │refused
 *                  ▼                       ▼                           ▼            ▼
 *              cancelled  ←──────────  cancelling (release, void)  ←───┴────────────┘
 *   paid → fulfilling → shipped → delivered;  paid|fulfilling|shipped|delivered ─refund→ refunding → refunded
 */
import { defineJob, defineKind } from "../../actors/refs";
import type { Effect, HandlerResult, JobResult } from "../../actors/types";
import { TerminalError } from "../../lib/errors";

/** A line of an order (a price snapshot from the cart). */
export interface OrderLine {
  readonly variantId: string;
  readonly productId: string;
  readonly title: string;
  readonly unitPrice: number;
  readonly currency: string;
  readonly qty: number;
}

/** Every status of an order. */
export const ORDER_STATUSES = [
  "new",
  "reserving",
  "awaiting_payment",
  "committing",
  "capturing",
  "paid",
  "fulfilling",
  "shipped",
  "delivered",
  "cancelling",
  "cancelled",
  "refunding",
  "refunded",
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** What the payment hub reports of a payment. */
export type PaymentStatus =
  "requested" | "pending" | "authorized" | "captured" | "declined" | "voided" | "refunded" | "failed";

/** A payment as the order knows it. */
export interface OrderPayment {
  readonly id: string;
  readonly state: PaymentStatus;
  readonly provider: string | null;
  readonly providerRef: string | null;
  /** Where the buyer approves a redirect/wallet payment. */
  readonly redirectUrl: string | null;
  readonly lastError: string | null;
  /** Payment updates received (job answers and webhook events). */
  readonly updates: number;
}

/** One step of an order's history. */
export interface OrderHistoryEntry {
  readonly at: number;
  readonly status: OrderStatus;
  readonly note: string;
}

/** An order's state. */
export interface OrderState {
  readonly id: string;
  readonly cartId: string;
  readonly buyer: string;
  readonly items: readonly OrderLine[];
  readonly total: number;
  readonly currency: string;
  readonly status: OrderStatus;
  readonly payment: OrderPayment | null;
  /** The storefront's completion call arrived. */
  readonly completed: boolean;
  readonly reason: string | null;
  /** Compensations still to finish before `cancelled`. */
  readonly undo: { readonly release: boolean; readonly void: boolean };
  readonly refundedAmount: number;
  readonly history: readonly OrderHistoryEntry[];
  readonly seq: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A payment update as the hub reports it (job answers and webhook events alike). */
export interface PaymentUpdate {
  readonly paymentId: string;
  readonly status: PaymentStatus;
  readonly provider: string | null;
  readonly providerRef?: string | null;
  readonly redirectUrl?: string | null;
  readonly error?: string | null;
}

/** The catalogue's answer to a reservation. */
export type ReserveAnswer =
  { readonly ok: true; readonly expiresAt: string } | { readonly ok: false; readonly reason: string };

/**
 * Every job of the order runs as a local job on the order's node (actors/local-jobs.ts): its
 * outcome is journaled in the order's next state write, with no job message, no result message
 * and no second delivery; a run that fails retryably goes to the jobs stream, whose worker
 * retries it with backoff and sends the result to this mailbox as before. Each job is
 * idempotent by the order (or payment) id, so a re-issue after a crash repeats nothing.
 */
const LOCAL = { local: true } as const;

/** Jobs of the order (each calls one action of another domain, see jobs.ts). */
export const ORDER_JOBS = {
  reserve: defineJob<{ orderId: string; lines: { variantId: string; qty: number }[]; ttlMs: number }, ReserveAnswer>(
    "ordreserve",
  ),
  commit: defineJob<{ orderId: string }, { ok: boolean; reason?: string }>("ordcommit"),
  release: defineJob<{ orderId: string }, { released: number }>("ordrelease"),
  pay: defineJob<
    { paymentId: string; orderId: string; amount: number; currency: string; buyer: string },
    PaymentUpdate
  >("ordpay"),
  sync: defineJob<{ paymentId: string }, PaymentUpdate | null>("ordsync"),
  capture: defineJob<{ paymentId: string }, PaymentUpdate>("ordcapture"),
  refund: defineJob<{ paymentId: string; refundId: string; amount: number }, PaymentUpdate>("ordrefund"),
  void: defineJob<{ paymentId: string }, PaymentUpdate>("ordvoid"),
  notify: defineJob<
    { id: string; event: string; to: string; critical: boolean; data: Record<string, string | number> },
    unknown
  >("ordnotify"),
} as const;

/** A message to an order. */
export type OrderMessage =
  | {
      readonly type: "place";
      readonly orderId: string;
      readonly cartId: string;
      readonly buyer: string;
      readonly items: readonly OrderLine[];
      readonly total: number;
      readonly currency: string;
    }
  | { readonly type: "complete" }
  | ({ readonly type: "payment" } & PaymentUpdate)
  | { readonly type: "fulfil"; readonly step: "fulfilling" | "shipped" | "delivered" }
  | { readonly type: "refund"; readonly by: string }
  | { readonly type: "cancel"; readonly by: string }
  | JobResult<unknown>;

/** The order kind's typed reference. */
export const order = defineKind<OrderState, OrderMessage>("order");

/** Settings the handler is built with. */
export interface OrderSettings {
  /** How long stock is held for an order awaiting payment. */
  readonly reservationTtlMs: number;
}

/** An order that was never placed. */
export function newOrder(key: string): OrderState {
  return {
    id: key,
    cartId: "",
    buyer: "",
    items: [],
    total: 0,
    currency: "",
    status: "new",
    payment: null,
    completed: false,
    reason: null,
    undo: { release: false, void: false },
    refundedAmount: 0,
    history: [],
    seq: 0,
    createdAt: 0,
    updatedAt: 0,
  };
}

const PAY_RANK: Readonly<Record<PaymentStatus, number>> = {
  requested: 0,
  pending: 1,
  authorized: 2,
  captured: 3,
  refunded: 4,
  declined: 5,
  voided: 5,
  failed: 5,
};

const FINAL_PAY = new Set<PaymentStatus>(["declined", "voided", "failed", "refunded"]);

/** The payment after `u` (updates never go backwards: a late "pending" after "authorized" changes nothing). */
export function mergePayment(p: OrderPayment, u: PaymentUpdate): OrderPayment {
  const updates = p.updates + 1;
  if (FINAL_PAY.has(p.state) || PAY_RANK[u.status] <= PAY_RANK[p.state])
    return { ...p, updates, redirectUrl: p.redirectUrl ?? u.redirectUrl ?? null };
  return {
    ...p,
    state: u.status,
    provider: u.provider ?? p.provider,
    providerRef: u.providerRef ?? p.providerRef,
    redirectUrl: u.redirectUrl ?? p.redirectUrl,
    lastError: u.error ?? null,
    updates,
  };
}

interface Step {
  s: OrderState;
  effects: Effect[];
}

function to(st: Step, status: OrderStatus, note: string, now: number): void {
  st.s = { ...st.s, status, history: [...st.s.history, { at: now, status, note }].slice(-100) };
}

function notify(st: Step, event: string, critical = false): void {
  const s = st.s;
  st.effects.push(
    ORDER_JOBS.notify.effect(
      {
        id: `${s.id}-${event.replace(/\W/g, "_")}`,
        event,
        to: s.buyer,
        critical,
        data: { orderId: s.id, total: (s.total / 100).toFixed(2), currency: s.currency },
      },
      { replyTo: null, id: `ordnotify:${s.id}:${event}`, deadlineMs: 3600_000, local: true },
    ),
  );
}

/** Starts cancelling: compensations for what was done; `cancelled` once they are done. */
function cancel(st: Step, reason: string, now: number, opts: { release: boolean; void: boolean }): void {
  const s = st.s;
  const p = s.payment;
  const needVoid =
    opts.void &&
    p !== null &&
    (p.state === "authorized" || p.state === "captured" || p.state === "pending" || p.state === "requested");
  st.s = { ...s, reason, undo: { release: opts.release, void: needVoid } };
  if (opts.release) st.effects.push(ORDER_JOBS.release.effect({ orderId: s.id }, LOCAL));
  if (needVoid && p) st.effects.push(ORDER_JOBS.void.effect({ paymentId: p.id }, LOCAL));
  if (!opts.release && !needVoid) {
    to(st, "cancelled", reason, now);
    notify(st, "order.cancelled");
  } else to(st, "cancelling", reason, now);
}

function finishCancel(st: Step, now: number): void {
  if (st.s.status === "cancelling" && !st.s.undo.release && !st.s.undo.void) {
    to(st, "cancelled", st.s.reason ?? "cancelled", now);
    notify(st, "order.cancelled");
  }
}

/** Moves the order on after its payment changed. */
function afterPayment(st: Step, now: number): void {
  const s = st.s;
  const p = s.payment;
  if (!p) return;
  if (s.status === "awaiting_payment") {
    if (p.state === "authorized" || p.state === "captured") {
      to(st, "committing", `payment ${p.state} (${p.provider ?? "?"})`, now);
      st.effects.push(ORDER_JOBS.commit.effect({ orderId: s.id }, LOCAL));
    } else if (p.state === "declined" || p.state === "failed" || p.state === "voided") {
      cancel(st, `payment ${p.state}${p.lastError ? `: ${p.lastError}` : ""}`, now, { release: true, void: false });
    }
  } else if ((s.status === "cancelled" || s.status === "cancelling") && !s.undo.void) {
    // a payment that went through after the order was given up: give it back
    if (p.state === "authorized" || p.state === "captured") {
      st.s = { ...s, undo: { ...s.undo, void: true } };
      if (s.status === "cancelled") to(st, "cancelling", "late payment is voided", now);
      st.effects.push(ORDER_JOBS.void.effect({ paymentId: p.id }, LOCAL));
    }
  }
}

function onJob(st: Step, m: JobResult<unknown>, now: number, settings: OrderSettings): void {
  const s = st.s;
  const r = m.$job;
  const failed = r.ok ? null : (r.error ?? "failed");
  if (ORDER_JOBS.reserve.isResult(m)) {
    if (s.status !== "reserving") return;
    const a = m.$job.result;
    if (failed || !a || !a.ok) {
      cancel(st, failed ?? (a && !a.ok ? a.reason : "reservation failed"), now, { release: false, void: false });
      return;
    }
    st.s = {
      ...s,
      payment: {
        id: s.id,
        state: "requested",
        provider: null,
        providerRef: null,
        redirectUrl: null,
        lastError: null,
        updates: 0,
      },
    };
    to(st, "awaiting_payment", `stock held until ${a.expiresAt}`, now);
    st.effects.push(
      ORDER_JOBS.pay.effect(
        { paymentId: s.id, orderId: s.id, amount: s.total, currency: s.currency, buyer: s.buyer },
        LOCAL,
      ),
    );
    return;
  }
  if (ORDER_JOBS.pay.isResult(m) || ORDER_JOBS.sync.isResult(m)) {
    if (!s.payment) return;
    const u = m.$job.result;
    if (failed) {
      if (r.terminal)
        st.s = {
          ...s,
          payment: mergePayment(s.payment, {
            paymentId: s.payment.id,
            status: "failed",
            provider: null,
            error: failed,
          }),
        };
      else st.s = { ...s, payment: { ...s.payment, lastError: failed } };
    } else if (u) st.s = { ...s, payment: mergePayment(s.payment, u) };
    afterPayment(st, now);
    return;
  }
  if (ORDER_JOBS.commit.isResult(m)) {
    if (s.status !== "committing") return;
    const a = m.$job.result;
    if (failed || !a || !a.ok) {
      cancel(st, `stock gone before payment: ${failed ?? a?.reason ?? "?"}`, now, { release: true, void: true });
      return;
    }
    if (s.payment?.state === "captured") {
      to(st, "paid", "stock taken; payment captured", now);
      notify(st, "order.paid");
    } else {
      to(st, "capturing", "stock taken", now);
      st.effects.push(ORDER_JOBS.capture.effect({ paymentId: s.id }, LOCAL));
    }
    return;
  }
  if (ORDER_JOBS.capture.isResult(m)) {
    if (s.status !== "capturing" || !s.payment) return;
    const u = m.$job.result;
    if (failed || !u || u.status !== "captured") {
      if (u) st.s = { ...s, payment: mergePayment(s.payment, u) };
      cancel(st, `capture refused: ${failed ?? u?.error ?? u?.status ?? "?"}`, now, { release: true, void: true });
      return;
    }
    st.s = { ...s, payment: mergePayment(s.payment, u) };
    to(st, "paid", `captured (${u.provider ?? "?"})`, now);
    notify(st, "order.paid");
    return;
  }
  if (ORDER_JOBS.refund.isResult(m)) {
    if (s.status !== "refunding" || !s.payment) return;
    const u = m.$job.result;
    if (failed || !u || u.status !== "refunded") {
      const back = [...s.history].reverse().find((h) => h.status !== "refunding")?.status ?? "paid";
      st.s = { ...s, reason: `refund failed: ${failed ?? u?.error ?? "?"}` };
      to(st, back, "refund failed", now);
      return;
    }
    const wasShipped = s.history.some((h) => h.status === "shipped");
    st.s = { ...s, payment: mergePayment(s.payment, u), refundedAmount: s.total };
    to(st, "refunded", `refunded ${s.total} ${s.currency}`, now);
    notify(st, "order.refunded", true);
    // nothing left the warehouse: the stock goes back on sale
    if (!wasShipped) st.effects.push(ORDER_JOBS.release.effect({ orderId: s.id }, LOCAL));
    return;
  }
  if (ORDER_JOBS.void.isResult(m)) {
    const u = m.$job.result;
    st.s = {
      ...s,
      undo: { ...s.undo, void: false },
      ...(s.payment && u ? { payment: mergePayment(s.payment, u) } : {}),
    };
    finishCancel(st, now);
    return;
  }
  if (ORDER_JOBS.release.isResult(m)) {
    st.s = { ...s, undo: { ...s.undo, release: false } };
    finishCancel(st, now);
    return;
  }
  void settings;
}

const FULFIL_FROM: Readonly<Record<"fulfilling" | "shipped" | "delivered", OrderStatus>> = {
  fulfilling: "paid",
  shipped: "fulfilling",
  delivered: "shipped",
};

const REFUNDABLE = new Set<OrderStatus>(["paid", "fulfilling", "shipped", "delivered"]);

/** Applies one message (pure). Refusals (a step not allowed now) leave the order as it is and set `reason`. */
export function applyOrder(
  s0: OrderState,
  m: OrderMessage,
  at: { readonly seq: number; readonly now: number },
  settings: OrderSettings,
): HandlerResult<OrderState> {
  const now = at.now;
  const st: Step = { s: { ...s0, seq: at.seq, updatedAt: now }, effects: [] };
  if ("$job" in m) {
    onJob(st, m, now, settings);
    return { state: st.s, effects: st.effects };
  }
  const s = st.s;
  switch (m.type) {
    case "place": {
      if (s.status !== "new") break; // placed already: a repeat changes nothing
      st.s = {
        ...s,
        cartId: m.cartId,
        buyer: m.buyer,
        items: m.items,
        total: m.total,
        currency: m.currency,
        createdAt: now,
      };
      to(st, "reserving", `placed from cart ${m.cartId}`, now);
      st.effects.push(
        ORDER_JOBS.reserve.effect(
          {
            orderId: s.id,
            lines: m.items.map((l) => ({ variantId: l.variantId, qty: l.qty })),
            ttlMs: settings.reservationTtlMs,
          },
          LOCAL,
        ),
      );
      break;
    }
    case "complete": {
      if (s.status === "new") throw new TerminalError("completion of an order never placed");
      const first = !s.completed;
      st.s = { ...s, completed: true };
      if (s.payment && (s.payment.state === "requested" || s.payment.state === "pending") && first)
        st.effects.push(ORDER_JOBS.sync.effect({ paymentId: s.payment.id }, LOCAL));
      break;
    }
    case "payment": {
      if (!s.payment) break; // a payment event for an order that asked for none
      const { type: _t, ...u } = m;
      st.s = { ...s, payment: mergePayment(s.payment, u) };
      afterPayment(st, now);
      break;
    }
    case "fulfil": {
      if (s.status !== FULFIL_FROM[m.step]) {
        st.s = { ...s, reason: `cannot mark ${m.step} while ${s.status}` };
        break;
      }
      to(st, m.step, m.step, now);
      if (m.step === "shipped") notify(st, "order.shipped");
      break;
    }
    case "refund": {
      if (!REFUNDABLE.has(s.status) || !s.payment) {
        st.s = { ...s, reason: `cannot refund while ${s.status}` };
        break;
      }
      to(st, "refunding", `refund asked by ${m.by}`, now);
      st.effects.push(
        ORDER_JOBS.refund.effect({ paymentId: s.payment.id, refundId: `${s.id}-r1`, amount: s.total }, LOCAL),
      );
      break;
    }
    case "cancel": {
      if (s.status !== "reserving" && s.status !== "awaiting_payment") {
        st.s = { ...s, reason: `cannot cancel while ${s.status}` };
        break;
      }
      cancel(st, `cancelled by ${m.by}`, now, { release: true, void: s.status === "awaiting_payment" });
      break;
    }
  }
  return { state: st.s, effects: st.effects };
}

/** The order kind with `settings`. */
export function orderKind(settings: OrderSettings) {
  return order.implement({
    // The happy path is one chain of local jobs (reserve, pay, commit, capture, notify): written
    // when placed and when the chain ends, not after every step (each job is idempotent by the
    // order id). Readers see "reserving" until then; every mailbox message writes the state.
    chainLocalJobs: true,
    initialState: newOrder,
    handle: (state, msg, ctx) => applyOrder(state, msg.data, { seq: msg.seq, now: ctx.now }, settings),
    retry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 2000 },
  });
}
