/**
 * Notifications end to end: an order's confirmation goes to the buyer's preferred channel in
 * their locale; with the push provider down it falls back to email once push's outbox gives up;
 * a channel turned off is skipped unless the message is critical; with every channel down the
 * notification is dead-lettered.
 */
import { expect } from "chai";
import { cartWith, orderIn, sellOne, startShop, waitFor, type Shop } from "./harness";

describe("commerce: notifications", function () {
  this.timeout(90_000);
  let shop: Shop;

  before(async function () {
    shop = await startShop();
    const prefs = await shop.http(shop.buyer, "PUT", "/api/v1/notifications/preferences", {
      locale: "de",
      channels: {
        push: { address: "push-token-1", enabled: true },
        email: { address: "kim@example.org", enabled: true },
        sms: { address: "+447700900123", enabled: false },
      },
    });
    expect(prefs.status, prefs.text).to.equal(200);
  });
  after(async function () {
    await shop?.close();
  });

  async function paidOrder(title: string): Promise<string> {
    const v = await sellOne(shop, title, 1234, 2);
    const cartId = await cartWith(shop, shop.buyer, v);
    const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    await orderIn(shop, shop.buyer, co.json.orderId, ["paid"]);
    return co.json.orderId as string;
  }

  it("sends the confirmation by push, in the buyer's locale", async function () {
    const orderId = await paidOrder("Push ok");
    const m = await waitFor("a push", () => shop.push.delivered.find((x) => x.body.includes(orderId)));
    expect(m.to).to.equal("push-token-1");
    expect(m.subject).to.equal("Bestellung bestätigt");
    expect(shop.email.delivered.some((x) => x.body.includes(orderId))).to.equal(false);
  });

  it("falls back from push to email when push is down", async function () {
    shop.push.setConfig({ outage: true });
    try {
      const orderId = await paidOrder("Push down");
      const m = await waitFor("an email", () => shop.email.delivered.find((x) => x.subject.includes(orderId)), 20_000);
      expect(m.to).to.equal("kim@example.org");
      expect(m.subject).to.equal(`Bestellung ${orderId} bestätigt`);
      expect(m.body).to.contain("12.34 EUR");
      expect(shop.push.counters.outageRefusals).to.be.greaterThan(0);
      const n = await shop.http(shop.admin, "GET", `/api/v1/notifications/${orderId}-order_paid`);
      expect(n.status, n.text).to.equal(200);
      expect(n.json.status).to.equal("delivered");
      expect(n.json.deliveredVia).to.equal("email");
      expect(n.json.attempts.map((a: any) => [a.channel, a.ok])).to.deep.equal([
        ["push", false],
        ["email", true],
      ]);
      // SMS is turned off: not in the plan
      expect(n.json.plan.map((p: any) => p.channel)).to.deep.equal(["push", "email"]);
    } finally {
      shop.push.setConfig({ outage: false });
    }
  });

  it("critical messages reach turned-off channels; with every channel down the notification is dead-lettered", async function () {
    for (const s of [shop.push, shop.email, shop.sms]) s.setConfig({ outage: true });
    try {
      const r = await shop.node.node.broker.call("notifications.send", {
        event: "order.refunded",
        to: shop.buyerId,
        critical: true,
        data: { orderId: "x-1", total: "1.00", currency: "EUR" },
        id: "crit-1",
      });
      expect(r).to.deep.include({ id: "crit-1", channels: ["push", "email", "sms"] });
      const n = await waitFor(
        "all channels tried",
        async () => {
          const x = await shop.http(shop.admin, "GET", "/api/v1/notifications/crit-1");
          return x.json?.status === "failed" ? x.json : undefined;
        },
        30_000,
      );
      expect(n.attempts.map((a: any) => a.channel)).to.deep.equal(["push", "email", "sms"]);
      const dead = await shop.node.node.ctx.runtime.dlqList({ filter: `${shop.ns}.dlq.notifications.*` });
      expect(dead.map((d) => d.subject)).to.deep.equal([`${shop.ns}.dlq.notifications.crit-1`]);
    } finally {
      for (const s of [shop.push, shop.email, shop.sms]) s.setConfig({ outage: false });
    }
  });
});
