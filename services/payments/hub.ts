/**
 * The payment hub: coordinates payments done by external providers, and keeps the ledger.
 *
 * - Every call is idempotent per payment id: the row is created once, and every provider call
 *   carries a key made from it (authorise: the payment id; capture `<id>:capture`; refund the
 *   refund id; void `<id>:void`), so a retried job, a double tap or a redelivered message is one
 *   payment and one movement at the provider and in the ledger.
 * - Failover, for new payments only: a payment not yet at any provider goes to the first
 *   healthy one in PAYMENTS_PROVIDERS order; when that provider is down (503, connection
 *   refused: nothing was done there) the claim is given up and the next one is tried. A
 *   provider that may have done it (timeout, other 5xx) keeps the payment, and the call is
 *   retried there with the same key. Captures, refunds and voids go to the payment's provider only.
 * - Webhooks are verified, recorded once per event, applied (a payment only moves forward) and,
 *   when they moved the payment (or are a redelivery), handed to the payment's owner (`notify`,
 *   a Moleculer action) before the provider gets its 200: a failure answers 503 and the provider
 *   sends it again. A webhook of a status the hub already had (the call's own answer came first,
 *   and went to the caller) is not handed over: no second message for the same news. Nothing
 *   slow happens in the request: no provider call, a read and two writes, at most one enqueue.
 */
import { randomBytes } from "node:crypto";
import { AppError, errorMessage } from "../../lib/errors";
import type { Logger } from "../../lib/logger";
import {
  ProviderDown,
  ProviderRefused,
  type PayStatus,
  type Provider,
  type ProviderAnswer,
  type ProviderName,
} from "./providers";
import type { Mismatch, Payment, PaymentStore, Subscription } from "./store";

/** What the hub answers about a payment (and sends to its owner). */
export interface PaymentUpdate {
  readonly paymentId: string;
  readonly reference: string;
  readonly status: PayStatus;
  readonly provider: ProviderName | null;
  readonly providerRef: string | null;
  readonly redirectUrl: string | null;
  readonly error: string | null;
  readonly eventId?: string;
}

/** A request to authorise. */
export interface AuthorizeRequest {
  readonly paymentId: string;
  readonly kind: "order" | "subscription";
  readonly reference: string;
  readonly customer: string;
  readonly amount: number;
  readonly currency: string;
  /** The Moleculer action that gets this payment's webhook events, or null. */
  readonly notify: string | null;
}

/** What the hub needs. */
export interface HubDeps {
  readonly store: PaymentStore;
  readonly providers: ReadonlyMap<ProviderName, Provider>;
  /** Order of preference for new payments. */
  readonly order: readonly ProviderName[];
  /** Hands an update to its owner's action; rejects when it was not taken. */
  notify(action: string, update: PaymentUpdate): Promise<void>;
  readonly logger: Logger;
  /** How long a provider found down is skipped for new payments. */
  readonly downForMs: number;
}

/** A provider failure as the action's caller sees it: 409 for refusals (final), 503 otherwise (retry). */
function callerError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ProviderRefused) return new AppError("CONFLICT", `${what} refused: ${err.message}`);
  return new AppError("UNAVAILABLE", `${what} not done yet: ${errorMessage(err)}`, undefined, { "Retry-After": "1" });
}

/** The update of `p`. */
export function updateOf(p: Payment, eventId?: string): PaymentUpdate {
  return {
    paymentId: p.id,
    reference: p.reference,
    status: p.status,
    provider: p.provider,
    providerRef: p.providerRef,
    redirectUrl: p.redirectUrl,
    error: p.lastError,
    ...(eventId !== undefined ? { eventId } : {}),
  };
}

/** The hub over `deps` (see module doc). */
export function createHub(deps: HubDeps) {
  const { store, providers, logger } = deps;
  const downUntil = new Map<ProviderName, number>();

  const providerOf = (p: Payment): Provider => {
    const pr = p.provider ? providers.get(p.provider) : undefined;
    if (!pr) throw new AppError("CONFLICT", `payment ${p.id} is at no provider`);
    return pr;
  };

  /** The ledger entries a provider's answer books. */
  function entriesOf(a: ProviderAnswer): ("authorize" | "capture" | "void")[] {
    const entries: ("authorize" | "capture" | "void")[] = [];
    if (a.status === "authorized" || a.status === "captured") entries.push("authorize");
    if (a.status === "captured") entries.push("capture");
    if (a.status === "voided") entries.push("void");
    return entries;
  }

  /** Applies a provider's answer: status and ledger in one statement; `moved` when the status changed. */
  async function applyMoved(p: Payment, a: ProviderAnswer): Promise<{ payment: Payment; moved: boolean }> {
    return store.advance(p.id, a.status, { providerRef: a.providerRef, redirectUrl: a.redirectUrl }, entriesOf(a));
  }

  /** Applies a provider's answer: status, ledger. */
  async function apply(p: Payment, a: ProviderAnswer): Promise<Payment> {
    return (await applyMoved(p, a)).payment;
  }

  /** The providers a new payment tries, in order: the healthy ones first (all of them when none is). */
  function newPaymentTries(candidates: readonly ProviderName[], now: number): ProviderName[] {
    const healthy = candidates.filter((n) => (downUntil.get(n) ?? 0) <= now);
    return healthy.length > 0 ? healthy : [...candidates];
  }

  async function authorize(req: AuthorizeRequest): Promise<PaymentUpdate> {
    const now = Date.now();
    // a new payment is created already claimed for its first provider (one statement, not two)
    const first = newPaymentTries(deps.order, now).find((n) => providers.has(n)) ?? null;
    const { payment, created } = await store.open(
      {
        id: req.paymentId,
        kind: req.kind,
        reference: req.reference,
        customer: req.customer,
        amount: req.amount,
        currency: req.currency,
        notify: req.notify,
      },
      first,
    );
    if (payment.amount !== req.amount || payment.currency !== req.currency)
      throw new AppError("CONFLICT", "this payment id was used for another amount");
    if (payment.status !== "requested") return updateOf(payment);
    // a payment already at a provider stays there (it may have been done): not a new payment
    const candidates: ProviderName[] = payment.provider && !created ? [payment.provider] : [...deps.order];
    const tries = newPaymentTries(candidates, now);
    let claimed = created ? payment.provider : null;
    let last = "no provider configured";
    for (const name of tries) {
      const pr = providers.get(name);
      if (!pr) continue;
      if (name !== claimed && !(await store.claim(payment.id, name))) {
        // another node's call claimed another provider meanwhile: answer what it did
        const cur = await store.get(payment.id);
        if (cur) return updateOf(cur);
      }
      claimed = null;
      try {
        const a = await pr.authorize({ paymentId: payment.id, amount: payment.amount, currency: payment.currency });
        downUntil.delete(name);
        const after = await apply({ ...payment, provider: name }, a);
        if (after.status === "voided" && (a.status === "authorized" || a.status === "pending")) {
          // cancelled while this call was out: give the provider's authorisation back
          await pr
            .void(a.providerRef, `${payment.id}:void`)
            .catch((err: unknown) =>
              logger.warn({ payment: payment.id, err: errorMessage(err) }, "late authorisation not voided"),
            );
        }
        return updateOf(after);
      } catch (err) {
        last = `${name}: ${errorMessage(err)}`;
        if (err instanceof ProviderDown) {
          downUntil.set(name, Date.now() + deps.downForMs);
          await store.unclaim(payment.id, name, last);
          logger.warn({ payment: payment.id, provider: name }, "payment provider down: trying the next one");
          continue;
        }
        await store.noteError(payment.id, last);
        throw callerError(err, "authorisation");
      }
    }
    await store.noteError(payment.id, `every provider is down (${last})`);
    throw new AppError("UNAVAILABLE", `no payment provider available: ${last}`, undefined, { "Retry-After": "1" });
  }

  async function mustGet(id: string): Promise<Payment> {
    const p = await store.get(id);
    if (!p) throw new AppError("NOT_FOUND", "payment not found");
    return p;
  }

  return {
    authorize,

    async status(paymentId: string): Promise<PaymentUpdate> {
      const p = await mustGet(paymentId);
      if (!p.provider) return updateOf(p);
      try {
        const a = await providerOf(p).lookup(p.id);
        return updateOf(a ? await apply(p, a) : p);
      } catch (err) {
        throw callerError(err, "status query");
      }
    },

    async capture(paymentId: string): Promise<PaymentUpdate> {
      const p = await mustGet(paymentId);
      if (p.status === "captured" || p.status === "refunded") return updateOf(p);
      if (p.status !== "authorized" || !p.providerRef)
        throw new AppError("CONFLICT", `cannot capture while ${p.status}`);
      try {
        return updateOf(
          await apply(p, await providerOf(p).capture(p.providerRef, `${p.id}:capture`, p.amount, p.currency)),
        );
      } catch (err) {
        await store.noteError(p.id, `capture: ${errorMessage(err)}`);
        throw callerError(err, "capture");
      }
    },

    async refund(paymentId: string, refundId: string, amount: number): Promise<PaymentUpdate> {
      const p = await mustGet(paymentId);
      if (p.status === "refunded") return updateOf(p);
      if (p.status !== "captured" || !p.providerRef) throw new AppError("CONFLICT", `cannot refund while ${p.status}`);
      if (amount <= 0 || amount > p.amount) throw new AppError("VALIDATION_ERROR", "refund amount out of range");
      try {
        const a = await providerOf(p).refund(p.providerRef, refundId, amount, p.currency);
        await store.book({
          paymentId: p.id,
          entry: "refund",
          amount,
          currency: p.currency,
          provider: p.provider ?? "unknown",
          key: `${p.id}:refund:${refundId}`,
        });
        return updateOf(await apply(p, amount === p.amount ? { ...a, status: "refunded" } : a));
      } catch (err) {
        await store.noteError(p.id, `refund: ${errorMessage(err)}`);
        throw callerError(err, "refund");
      }
    },

    /** Gives the money back whatever the payment's state: void an authorisation, refund a capture. */
    async cancel(paymentId: string): Promise<PaymentUpdate> {
      const p = await store.get(paymentId);
      if (!p)
        return {
          paymentId,
          reference: "",
          status: "voided",
          provider: null,
          providerRef: null,
          redirectUrl: null,
          error: null,
        };
      if (p.status === "captured") return this.refund(p.id, `${p.id}-void`, p.amount);
      if (p.status === "voided" || p.status === "refunded" || p.status === "declined" || p.status === "failed")
        return updateOf(p);
      if (!p.provider || !p.providerRef) {
        // nothing at any provider: the payment ends here
        return updateOf((await store.advance(p.id, "voided", {})).payment);
      }
      try {
        return updateOf(await apply(p, await providerOf(p).void(p.providerRef, `${p.id}:void`)));
      } catch (err) {
        throw callerError(err, "void");
      }
    },

    /** A provider's webhook: verify, record once, apply, hand to the owner (see module doc). */
    async webhook(
      name: ProviderName,
      headers: Readonly<Record<string, string>>,
      raw: string,
    ): Promise<{ received: true; duplicate: boolean }> {
      const pr = providers.get(name);
      if (!pr) throw new AppError("NOT_FOUND", "unknown provider");
      const ev = pr.webhook(headers, raw, Date.now());
      if (typeof ev === "string") throw new AppError("INVALID_SIGNATURE", ev);
      // recorded once and applied in one statement
      const got = await store.event(
        { provider: name, eventId: ev.eventId, paymentId: ev.paymentId },
        ev.answer.status,
        { providerRef: ev.answer.providerRef, redirectUrl: ev.answer.redirectUrl },
        entriesOf(ev.answer),
      );
      if (!got) throw new AppError("NOT_FOUND", "unknown payment");
      const { payment: after, moved, duplicate } = got;
      // Only news is handed over: a status the hub had already (from the call's own answer, which
      // its caller gets) is no message for the owner. A redelivered event is handed over again,
      // since its first hand-over may be the one that failed.
      if (after.notify && (moved || duplicate)) {
        try {
          await deps.notify(after.notify, updateOf(after, `${name}:${ev.eventId}`));
        } catch (err) {
          logger.warn(
            { payment: after.id, err: errorMessage(err) },
            "payment event not handed over: the provider will send it again",
          );
          throw new AppError("UNAVAILABLE", "not handed over yet", undefined, { "Retry-After": "1" });
        }
      }
      return { received: true, duplicate };
    },

    get: mustGet,
    ledger: (id: string) => store.ledger(id),

    /** Compares the ledger with every provider's report; records and answers the mismatches. */
    async reconcile(): Promise<{ runId: number; checked: number; mismatches: Mismatch[] }> {
      const mismatches: Mismatch[] = [];
      let checked = 0;
      for (const [name, pr] of providers) {
        let lines;
        try {
          lines = await pr.report();
        } catch (err) {
          throw callerError(err, `${name} report`);
        }
        const theirs = new Map<string, { capture: number; refund: number }>();
        for (const l of lines) {
          const cur = theirs.get(l.paymentId) ?? { capture: 0, refund: 0 };
          cur[l.kind] += l.amount;
          theirs.set(l.paymentId, cur);
        }
        const ours = await store.settled(name);
        for (const id of new Set([...theirs.keys(), ...ours.keys()])) {
          checked++;
          const t = theirs.get(id) ?? { capture: 0, refund: 0 };
          const o = ours.get(id) ?? { capture: 0, refund: 0 };
          for (const kind of ["capture", "refund"] as const) {
            if (t[kind] === o[kind]) continue;
            const problem =
              o[kind] === 0 ? "missing_in_ledger" : t[kind] === 0 ? "missing_at_provider" : "amount_differs";
            mismatches.push({
              provider: name,
              paymentId: id,
              kind,
              problem,
              ledgerAmount: o[kind],
              providerAmount: t[kind],
            });
          }
        }
      }
      const runId = await store.recordRun(checked, mismatches);
      if (mismatches.length > 0)
        logger.warn({ runId, mismatches: mismatches.length }, "reconciliation found mismatches");
      return { runId, checked, mismatches };
    },

    async subscribe(s: {
      customer: string;
      amount: number;
      currency: string;
      intervalSec: number;
      startAt: Date;
    }): Promise<Subscription> {
      return store.createSubscription({ id: `sub${Date.now().toString(36)}${randomBytes(6).toString("hex")}`, ...s });
    },

    /**
     * Charges every subscription due at `at`: period n is paid by payment `<sub>-<n>`
     * (authorised and captured; the same payment if the run is repeated or runs on two nodes at
     * once), and the subscription moves to its next date once. A decline makes it past_due;
     * a provider that is down leaves it due for the next run.
     */
    async chargeRun(at: Date, limit = 500): Promise<{ due: number; charged: number; failed: number; retry: number }> {
      const due = await store.dueSubscriptions(at, limit);
      let charged = 0;
      let failed = 0;
      let retry = 0;
      for (const s of due) {
        const paymentId = `${s.id}-${s.charges + 1}`;
        try {
          const a = await authorize({
            paymentId,
            kind: "subscription",
            reference: s.id,
            customer: s.customer,
            amount: s.amount,
            currency: s.currency,
            notify: null,
          });
          let status = a.status;
          if (status === "authorized") status = (await this.capture(paymentId)).status;
          if (status === "captured") {
            if (await store.charged(s.id, s.charges, paymentId)) charged++;
          } else if (status === "declined" || status === "failed") {
            await store.pastDue(s.id, s.charges, `payment ${status}`);
            failed++;
          } else retry++;
        } catch (err) {
          if (err instanceof AppError && err.status === 409) {
            await store.pastDue(s.id, s.charges, err.message);
            failed++;
          } else retry++;
          logger.warn({ subscription: s.id, err: errorMessage(err) }, "subscription charge not done");
        }
      }
      return { due: due.length, charged, failed, retry };
    },

    subscription: (id: string) => store.subscription(id),
  };
}

/** The hub. */
export type Hub = ReturnType<typeof createHub>;
