/**
 * The cart and order actors as pure functions (no broker, no server): one order per checkout
 * however often it is submitted; a payment update in any order with the job answers and the
 * completion call yields one commit and one capture; a payment after a cancellation is voided;
 * updates never move a payment back.
 */
import { expect } from "chai";
import { applyCart, emptyCart, placeOrderJob, type CartState } from "../../services/cart/cart.actor";
import {
  ORDER_JOBS,
  applyOrder,
  mergePayment,
  newOrder,
  type OrderMessage,
  type OrderState,
} from "../../services/orders/order.actor";
import type { Effect } from "../../actors/types";
import { planFor } from "../../services/notifications/plan";

const ITEM = { variantId: "v1", productId: "p1", title: "Kettle", unitPrice: 2500, currency: "EUR" };

function result(job: string, ok: boolean, result?: unknown, terminal = false): OrderMessage {
  return { $job: { id: `j-${job}`, job, ok, ...(ok ? { result } : { error: "no", terminal }), attempts: 1 } };
}

function jobsOf(effects: readonly Effect[] | undefined): string[] {
  return (effects ?? []).flatMap((e) => (e.type === "job" ? [e.job] : []));
}

describe("commerce actors (pure)", function () {
  it("a cart checked out twice makes one order, with one placing job", function () {
    let s: CartState = emptyCart();
    let seq = 0;
    const step = (m: Parameters<typeof applyCart>[1]) => {
      const r = applyCart(s, m, { key: "c1", seq: ++seq, now: 1000 + seq });
      s = r.state;
      return r.effects ?? [];
    };
    step({ type: "open", owner: "buyer" });
    step({ type: "add", owner: "buyer", item: ITEM, qty: 2, list: "buying" });
    step({ type: "add", owner: "buyer", item: ITEM, qty: 1, list: "viewed" });
    expect(step({ type: "add", owner: "thief", item: ITEM, qty: 1, list: "buying" })).to.deep.equal([]);
    expect(s.lastError).to.equal("not your cart");
    const first = step({ type: "checkout", owner: "buyer" });
    const second = step({ type: "checkout", owner: "buyer" });
    expect(jobsOf(first)).to.deep.equal([placeOrderJob.name]);
    expect(second).to.deep.equal([]);
    expect(s.orderId).to.equal("c1-1");
    expect(s.likely.map((l) => l.reason)).to.deep.equal(["viewed"]);
    step({ type: "add", owner: "buyer", item: ITEM, qty: 1, list: "buying" });
    expect(s.lastError).to.equal("the cart is checked out");
  });

  /** An order placed and reserved, awaiting payment. */
  function awaiting(): { s: OrderState; seq: number } {
    const settings = { reservationTtlMs: 60_000 };
    let s = newOrder("c1-1");
    s = applyOrder(
      s,
      {
        type: "place",
        orderId: "c1-1",
        cartId: "c1",
        buyer: "b",
        items: [{ ...ITEM, qty: 1 }],
        total: 2500,
        currency: "EUR",
      },
      { seq: 1, now: 1 },
      settings,
    ).state;
    s = applyOrder(
      s,
      result(ORDER_JOBS.reserve.name, true, { ok: true, expiresAt: "x" }),
      { seq: 2, now: 2 },
      settings,
    ).state;
    expect(s.status).to.equal("awaiting_payment");
    return { s, seq: 2 };
  }

  const orders = [
    ["webhook", "answer", "complete"],
    ["answer", "webhook", "complete"],
    ["complete", "webhook", "answer"],
    ["complete", "answer", "webhook"],
    ["webhook", "complete", "answer"],
  ] as const;
  for (const order of orders) {
    it(`one commit and one capture whatever the order: ${order.join(", ")}`, function () {
      let { s, seq } = awaiting();
      const settings = { reservationTtlMs: 60_000 };
      const jobs: string[] = [];
      const msgs: Record<(typeof order)[number], OrderMessage> = {
        webhook: { type: "payment", paymentId: "c1-1", status: "authorized", provider: "card", providerRef: "a1" },
        answer: result(ORDER_JOBS.pay.name, true, {
          paymentId: "c1-1",
          status: "authorized",
          provider: "card",
          providerRef: "a1",
        }),
        complete: { type: "complete" },
      };
      for (const k of order) {
        const r = applyOrder(s, msgs[k], { seq: ++seq, now: seq }, settings);
        s = r.state;
        jobs.push(...jobsOf(r.effects));
      }
      expect(jobs.filter((j) => j === ORDER_JOBS.commit.name)).to.have.length(1);
      let r = applyOrder(s, result(ORDER_JOBS.commit.name, true, { ok: true }), { seq: ++seq, now: seq }, settings);
      expect(jobsOf(r.effects)).to.deep.equal([ORDER_JOBS.capture.name]);
      r = applyOrder(
        r.state,
        result(ORDER_JOBS.capture.name, true, { paymentId: "c1-1", status: "captured", provider: "card" }),
        { seq: ++seq, now: seq },
        settings,
      );
      expect(r.state.status).to.equal("paid");
      // a late duplicate webhook changes nothing and asks for nothing
      const late = applyOrder(r.state, msgs.webhook, { seq: ++seq, now: seq }, settings);
      expect(late.state.status).to.equal("paid");
      expect(jobsOf(late.effects)).to.deep.equal([]);
    });
  }

  it("a payment authorised after the order was cancelled is voided", function () {
    let { s, seq } = awaiting();
    const settings = { reservationTtlMs: 60_000 };
    let r = applyOrder(s, { type: "cancel", by: "b" }, { seq: ++seq, now: seq }, settings);
    expect(r.state.status).to.equal("cancelling");
    expect(jobsOf(r.effects).sort()).to.deep.equal([ORDER_JOBS.release.name, ORDER_JOBS.void.name].sort());
    r = applyOrder(r.state, result(ORDER_JOBS.release.name, true, { released: 1 }), { seq: ++seq, now: seq }, settings);
    r = applyOrder(
      r.state,
      result(ORDER_JOBS.void.name, true, { paymentId: "c1-1", status: "voided", provider: null }),
      { seq: ++seq, now: seq },
      settings,
    );
    expect(r.state.status).to.equal("cancelled");
    s = r.state;
    // no payment was at a provider yet when it was voided; a late authorisation is given back
    const late = applyOrder(
      { ...s, payment: { ...s.payment!, state: "requested" } },
      { type: "payment", paymentId: "c1-1", status: "authorized", provider: "card" },
      { seq: ++seq, now: seq },
      settings,
    );
    expect(jobsOf(late.effects)).to.deep.equal([ORDER_JOBS.void.name]);
  });

  it("payment updates never move back", function () {
    const p = {
      id: "x",
      state: "captured" as const,
      provider: "card",
      providerRef: "a",
      redirectUrl: null,
      lastError: null,
      updates: 0,
    };
    expect(mergePayment(p, { paymentId: "x", status: "authorized", provider: "card" }).state).to.equal("captured");
    expect(mergePayment(p, { paymentId: "x", status: "refunded", provider: "card" }).state).to.equal("refunded");
  });

  it("plans notification channels by preference; critical ones reach turned-off channels", function () {
    const prefs = {
      locale: "de",
      channels: { push: { address: "t", enabled: false }, email: { address: "e@x", enabled: true } },
    };
    expect(planFor(prefs, "order.paid", { orderId: "o1" }, false).map((p) => p.channel)).to.deep.equal(["email"]);
    const crit = planFor(prefs, "order.paid", { orderId: "o1" }, true);
    expect(crit.map((p) => p.channel)).to.deep.equal(["push", "email"]);
    expect(crit[1]!.subject).to.equal("Bestellung o1 bestätigt");
    expect(planFor(undefined, "order.paid", {}, true)).to.deep.equal([]);
  });
});
