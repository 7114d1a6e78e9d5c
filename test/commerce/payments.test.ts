/**
 * Stock under contention and the payment hub on the real servers: 50 buyers for the last 10
 * items, a declined card, the card processor down at checkout (failover to the wallet, with
 * the buyer's redirect), every provider down (a clear retryable state, then paid once one is
 * back), a refund, a subscription charge run repeated and run twice at once, and a
 * reconciliation that finds a movement the ledger does not have.
 */
import { expect } from "chai";
import { httpRequest } from "../../lib/http-client";
import { cartWith, orderIn, sellOne, startShop, variantNow, waitFor, type Shop } from "./harness";

describe("commerce: stock, providers, refunds, subscriptions, reconciliation", function () {
  this.timeout(120_000);
  let shop: Shop;

  before(async function () {
    shop = await startShop();
  });
  after(async function () {
    await shop?.close();
  });

  it("50 concurrent buyers for the last 10 items: exactly 10 paid, no negative stock", async function () {
    const v = await sellOne(shop, "Last ten", 1200, 10);
    const carts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => cartWith(shop, i % 2 ? shop.buyer : shop.buyer2, v)),
    );
    const outs = await Promise.all(
      carts.map((c, i) => shop.http(i % 2 ? shop.buyer : shop.buyer2, "POST", `/api/v1/carts/${c}/checkout`)),
    );
    expect(outs.every((o) => o.status === 202)).to.equal(true);
    const final = await Promise.all(
      outs.map((o, i) =>
        orderIn(shop, i % 2 ? shop.buyer : shop.buyer2, o.json.orderId, ["paid", "cancelled"], 60_000),
      ),
    );
    const paid = final.filter((o) => o.status === "paid");
    expect(paid).to.have.length(10);
    for (const o of final.filter((x) => x.status === "cancelled")) {
      expect(o.reason).to.match(/out_of_stock/);
      expect(o.payment).to.equal(null);
    }
    expect(await variantNow(shop, v)).to.deep.equal({ stock: 0, reserved: 0, available: 0 });
  });

  it("a declined card cancels the order and gives the stock back", async function () {
    const v = await sellOne(shop, "Declined", 666, 2);
    shop.card.setConfig({ declineAmounts: [666] });
    try {
      const cartId = await cartWith(shop, shop.buyer, v);
      const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
      const o = await orderIn(shop, shop.buyer, co.json.orderId, ["cancelled"]);
      expect(o.payment.state).to.equal("declined");
      expect(await variantNow(shop, v)).to.deep.equal({ stock: 2, reserved: 0, available: 2 });
    } finally {
      shop.card.setConfig({ declineAmounts: [] });
    }
  });

  it("the card processor down at checkout: the payment fails over to the wallet and the buyer approves there", async function () {
    const v = await sellOne(shop, "Failover", 4250, 3);
    const cartId = await cartWith(shop, shop.buyer, v);
    shop.card.setConfig({ outage: true });
    const refusedBefore = shop.card.counters.outageRefusals;
    try {
      const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
      const orderId = co.json.orderId as string;
      const waiting = await waitFor("a redirect URL", async () => {
        const r = await shop.http(shop.buyer, "GET", `/api/v1/orders/${orderId}`);
        return r.json?.payment?.redirectUrl ? r.json : undefined;
      });
      expect(waiting.status).to.equal("awaiting_payment");
      expect(waiting.payment.provider).to.equal("wallet");
      expect(shop.card.counters.outageRefusals).to.be.greaterThan(refusedBefore);
      // the buyer is redirected to the wallet and approves
      const approved = await httpRequest(waiting.payment.redirectUrl, { method: "POST" });
      expect(approved.status).to.equal(200);
      const paid = await orderIn(shop, shop.buyer, orderId, ["paid"]);
      expect(paid.payment.provider).to.equal("wallet");
      const pay = await shop.http(shop.admin, "GET", `/api/v1/payments/${orderId}`);
      expect(pay.json.ledger.map((e: any) => [e.entry, e.provider])).to.deep.equal([
        ["authorize", "wallet"],
        ["capture", "wallet"],
      ]);
    } finally {
      shop.card.setConfig({ outage: false });
    }
  });

  it("every provider down: the order waits in a clear retryable state, then pays once one is back", async function () {
    const v = await sellOne(shop, "All down", 3100, 3);
    const cartId = await cartWith(shop, shop.buyer, v);
    shop.card.setConfig({ outage: true });
    shop.wallet.setConfig({ outage: true });
    let orderId = "";
    try {
      const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
      orderId = co.json.orderId as string;
      const pay = await waitFor("the hub to note the outage", async () => {
        const r = await shop.http(shop.admin, "GET", `/api/v1/payments/${orderId}`);
        return r.status === 200 && /every provider is down/.test(r.json.lastError ?? "") ? r.json : undefined;
      });
      expect(pay.status).to.equal("requested");
      expect(pay.provider).to.equal(null);
      expect(pay.lastError).to.match(/card: .*503.*wallet: .*503|wallet: .*503/);
      const o = await shop.http(shop.buyer, "GET", `/api/v1/orders/${orderId}`);
      expect(o.json.status).to.equal("awaiting_payment");
      expect(o.json.payment.state).to.equal("requested");
    } finally {
      // the card comes back first: a retry in flight at this moment fails over to nothing else
      shop.card.setConfig({ outage: false });
    }
    try {
      const paid = await orderIn(shop, shop.buyer, orderId, ["paid"], 40_000);
      expect(paid.payment.provider).to.equal("card");
      expect((await variantNow(shop, v)).stock).to.equal(2);
    } finally {
      shop.wallet.setConfig({ outage: false });
    }
  });

  it("refunds a paid order: money back at the provider, in the ledger, stock back on sale", async function () {
    const v = await sellOne(shop, "Refundable", 7700, 2);
    const cartId = await cartWith(shop, shop.buyer, v);
    const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    const orderId = co.json.orderId as string;
    await orderIn(shop, shop.buyer, orderId, ["paid"]);
    expect((await variantNow(shop, v)).stock).to.equal(1);
    const refundsBefore = shop.card.counters.refunds;
    // someone else's order is not found, and a refund while not paid is refused
    expect((await shop.http(shop.buyer2, "POST", `/api/v1/orders/${orderId}/refund`)).status).to.equal(404);
    const r = await shop.http(shop.buyer, "POST", `/api/v1/orders/${orderId}/refund`);
    expect(r.status, r.text).to.equal(202);
    const done = await orderIn(shop, shop.buyer, orderId, ["refunded"]);
    expect(done.refundedAmount).to.equal(7700);
    expect(shop.card.counters.refunds - refundsBefore).to.equal(1);
    const pay = await shop.http(shop.admin, "GET", `/api/v1/payments/${orderId}`);
    expect(pay.json.status).to.equal("refunded");
    expect(pay.json.ledger.map((e: any) => e.entry)).to.deep.equal(["authorize", "capture", "refund"]);
    await waitFor("stock back", async () => (await variantNow(shop, v)).stock === 2);
    const twice = await shop.http(shop.buyer, "POST", `/api/v1/orders/${orderId}/refund`);
    expect(twice.status).to.equal(409);
  });

  it("a subscription charge run charges each due period once, however often and wherever it runs", async function () {
    const s = await shop.http(shop.buyer, "POST", "/api/v1/payments/subscriptions", {
      amount: 499,
      currency: "EUR",
      intervalSec: 3600,
    });
    expect(s.status, s.text).to.equal(201);
    const authBefore = shop.card.counters.authorizations;
    const runs = await Promise.all(
      [0, 1].map(() => shop.http(shop.admin, "POST", "/api/v1/admin/payments/subscriptions/run", {})),
    );
    for (const r of runs) expect(r.status, r.text).to.equal(200);
    expect(runs.reduce((n, r) => n + r.json.charged, 0)).to.equal(1);
    const again = await shop.http(shop.admin, "POST", "/api/v1/admin/payments/subscriptions/run", {});
    expect(again.json.due).to.equal(0);
    let sub = await shop.http(shop.buyer, "GET", `/api/v1/payments/subscriptions/${s.json.id}`);
    expect(sub.json.charges).to.equal(1);
    expect(sub.json.lastPayment).to.equal(`${s.json.id}-1`);
    // an hour later: the next period
    const later = new Date(Date.now() + 3600_000 + 1000).toISOString();
    const next = await shop.http(shop.admin, "POST", "/api/v1/admin/payments/subscriptions/run", { at: later });
    expect(next.json.charged).to.equal(1);
    sub = await shop.http(shop.buyer, "GET", `/api/v1/payments/subscriptions/${s.json.id}`);
    expect(sub.json.charges).to.equal(2);
    expect(shop.card.counters.authorizations - authBefore).to.equal(2);
    expect((await shop.http(shop.buyer2, "GET", `/api/v1/payments/subscriptions/${s.json.id}`)).status).to.equal(404);
  });

  it("reconciliation agrees with the providers, then finds a movement the ledger lacks", async function () {
    const clean = await shop.http(shop.admin, "POST", "/api/v1/admin/payments/reconcile");
    expect(clean.status, clean.text).to.equal(200);
    expect(clean.json.checked).to.be.greaterThan(10);
    expect(clean.json.mismatches).to.deep.equal([]);
    await httpRequest(`${shop.card.url}/admin/phantom`, {
      method: "POST",
      body: JSON.stringify({ reference: "ghost-1", type: "capture", amount: 1234 }),
    });
    const found = await shop.http(shop.admin, "POST", "/api/v1/admin/payments/reconcile");
    expect(found.json.mismatches).to.deep.equal([
      {
        provider: "card",
        paymentId: "ghost-1",
        kind: "capture",
        problem: "missing_in_ledger",
        ledgerAmount: 0,
        providerAmount: 1234,
      },
    ]);
    // and a forged webhook is refused without changing anything
    const forged = await shop.http(shop.admin, "POST", "/api/v1/payments/webhooks/card", { id: "evt_x" });
    expect(forged.status).to.equal(401);
    expect(forged.json.error.code).to.equal("INVALID_SIGNATURE");
  });
});
