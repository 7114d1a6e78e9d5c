/**
 * Commerce end to end on the real servers: browse, cart, checkout, card payment, delivery;
 * the card webhook before, during and after the storefront's completion call; a double submit
 * of checkout. Each case counts what the card processor did: one authorisation and one capture
 * per order, never two.
 */
import { expect } from "chai";
import { cartWith, orderIn, sellOne, startShop, variantNow, type Shop } from "./harness";
import { orderRepl } from "../../services/orders/repl";
import { cartRepl } from "../../services/cart/repl";

/** What a REPL command printed. */
async function printed(run: () => Promise<void>): Promise<string> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array): boolean => {
    out.push(String(chunk));
    return true;
  };
  try {
    await run();
  } finally {
    process.stdout.write = write;
  }
  return out.join("");
}

describe("commerce: browse to delivery", function () {
  this.timeout(90_000);
  let shop: Shop;

  before(async function () {
    shop = await startShop();
  });
  after(async function () {
    await shop?.close();
  });

  it("browses with keyset pagination and search, carts, checks out, pays by card and delivers", async function () {
    const v = await sellOne(shop, "Blue kettle", 2599, 5);
    await sellOne(shop, "Red kettle", 2899, 5);
    await sellOne(shop, "Green teapot", 1999, 5);
    const page1 = await shop.http(shop.buyer, "GET", "/api/v1/shop/products?limit=2");
    expect(page1.status).to.equal(200);
    expect(page1.json.items).to.have.length(2);
    expect(page1.json.nextCursor).to.be.a("string");
    const page2 = await shop.http(shop.buyer, "GET", `/api/v1/shop/products?limit=2&cursor=${page1.json.nextCursor}`);
    expect(page2.json.items).to.have.length(1);
    expect(page2.json.nextCursor).to.equal(null);
    const found = await shop.http(shop.buyer, "GET", "/api/v1/shop/products?q=kettle");
    expect(found.json.items.map((p: any) => p.title).sort()).to.deep.equal(["Blue kettle", "Red kettle"]);

    const cartId = await cartWith(shop, shop.buyer, v, 2);
    // likely to buy: a viewed item lives beside the ones being bought
    const viewed = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, {
      variantId: v,
      list: "viewed",
    });
    expect(viewed.json.likely.map((l: any) => l.reason)).to.deep.equal(["viewed"]);
    expect(viewed.json.total).to.equal(2 * 2599);
    // another buyer cannot see or touch it
    expect((await shop.http(shop.buyer2, "GET", `/api/v1/carts/${cartId}`)).status).to.equal(404);

    const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    expect(co.status).to.equal(202);
    const orderId = co.json.orderId as string;
    const paid = await orderIn(shop, shop.buyer, orderId, ["paid"]);
    expect(paid.total).to.equal(5198);
    expect(paid.payment.provider).to.equal("card");
    expect(await variantNow(shop, v)).to.deep.equal({ stock: 3, reserved: 0, available: 3 });

    for (const step of ["fulfilling", "shipped", "delivered"]) {
      const r = await shop.http(shop.admin, "POST", `/api/v1/orders/${orderId}/fulfilment`, { step });
      expect(r.status, r.text).to.equal(200);
    }
    const done = await orderIn(shop, shop.buyer, orderId, ["delivered"]);
    expect(done.history.map((h: any) => h.status)).to.deep.equal([
      "reserving",
      "awaiting_payment",
      "committing",
      "capturing",
      "paid",
      "fulfilling",
      "shipped",
      "delivered",
    ]);
    expect(shop.card.counters.authorizations).to.equal(1);
    expect(shop.card.counters.captures).to.equal(1);
    // a wrong step is a clear 409 that changes nothing
    const again = await shop.http(shop.admin, "POST", `/api/v1/orders/${orderId}/fulfilment`, { step: "shipped" });
    expect(again.status).to.equal(409);
    expect(again.json.error.code).to.equal("CONFLICT");
  });

  for (const timing of ["before", "during", "after"] as const) {
    it(`one order, one payment when the card webhook arrives ${timing} the completion call`, async function () {
      const v = await sellOne(shop, `Race ${timing}`, 1500, 3);
      const cartId = await cartWith(shop, shop.buyer, v);
      const before = { ...shop.card.counters };
      // before: the processor settles and sends the webhook before it answers the authorisation
      // during: the result comes by webhook only, delayed, while completion calls are in flight
      // after: the webhook is held back until after the completion call
      if (timing === "before") shop.card.setConfig({ webhook: "before", async: false });
      if (timing === "during") shop.card.setConfig({ webhook: "after", async: true, webhookDelayMs: 150 });
      if (timing === "after") shop.card.setConfig({ webhook: "after", async: true, webhookDelayMs: 1500 });
      try {
        const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
        const orderId = co.json.orderId as string;
        await orderIn(shop, shop.buyer, orderId, ["awaiting_payment", "committing", "capturing", "paid"]);
        const completes = await Promise.all(
          [0, 1, 2].map(() => shop.http(shop.buyer, "POST", `/api/v1/orders/${orderId}/complete`)),
        );
        for (const r of completes) expect(r.status, r.text).to.equal(202);
        const paid = await orderIn(shop, shop.buyer, orderId, ["paid"]);
        expect(paid.completed).to.equal(true);
        await new Promise((r) => setTimeout(r, timing === "after" ? 1800 : 300)); // late webhooks land
        const after = await shop.http(shop.buyer, "GET", `/api/v1/orders/${orderId}`);
        expect(after.json.status).to.equal("paid");
        expect(shop.card.counters.authorizations - before.authorizations).to.equal(1);
        expect(shop.card.counters.captures - before.captures).to.equal(1);
        const pay = await shop.http(shop.admin, "GET", `/api/v1/payments/${orderId}`);
        expect(pay.json.status).to.equal("captured");
        expect(pay.json.ledger.map((e: any) => e.entry)).to.deep.equal(["authorize", "capture"]);
        expect((await variantNow(shop, v)).stock).to.equal(2);
      } finally {
        shop.card.setConfig({ webhook: "after", async: false, webhookDelayMs: 0 });
      }
    });
  }

  it("refuses bad input with a clear 4xx in the one error shape, changing nothing", async function () {
    const v = await sellOne(shop, "Strict", 500, 1);
    const bad = await shop.http(shop.seller, "POST", "/api/v1/catalog/products", { title: "", variants: [] });
    expect(bad.status).to.equal(422);
    expect(bad.json.error.code).to.equal("VALIDATION_ERROR");
    expect(
      (await shop.http(shop.buyer, "POST", "/api/v1/catalog/products", { title: "x", variants: [] })).status,
    ).to.equal(403);
    const c = await shop.http(shop.buyer, "POST", "/api/v1/carts");
    const cartId = c.json.id as string;
    const unknown = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, { variantId: "nope" });
    expect(unknown.status).to.equal(404);
    const tooMany = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, { variantId: v, qty: 5 });
    expect(tooMany.status).to.equal(409);
    const empty = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    expect(empty.status).to.equal(409);
    expect(empty.json.error.message).to.equal("the cart is empty");
    const cart = await shop.http(shop.buyer, "GET", `/api/v1/carts/${cartId}`);
    expect(cart.json.items).to.deep.equal([]);
    expect((await shop.http(shop.buyer, "GET", "/api/v1/orders/nope-1")).status).to.equal(404);
    expect(await variantNow(shop, v)).to.deep.equal({ stock: 1, reserved: 0, available: 1 });
  });

  it("the REPL shows an order's history and a cart", async function () {
    const v = await sellOne(shop, "Repl lamp", 1100, 2);
    const cartId = await cartWith(shop, shop.buyer, v);
    const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    const orderId = co.json.orderId as string;
    await orderIn(shop, shop.buyer, orderId, ["paid"]);
    const helpers = { table: (rows: unknown[][]) => rows.map((r) => r.join(" | ")).join("\n") };
    const broker = shop.node.node.broker;
    const history = await printed(() => orderRepl[0]!.action(broker, { id: orderId, options: {} }, helpers));
    for (const status of ["reserving", "awaiting_payment", "committing", "capturing", "paid"])
      expect(history).to.contain(status);
    const cart = await printed(() => cartRepl[0]!.action(broker, { id: cartId, options: {} }, helpers));
    expect(cart).to.contain(v);
    expect(cart).to.contain(orderId);
  });

  it("a double submit of checkout makes one order", async function () {
    const v = await sellOne(shop, "Double tap", 900, 4);
    const cartId = await cartWith(shop, shop.buyer, v);
    const before = shop.card.counters.authorizations;
    const answers = await Promise.all(
      [0, 1, 2, 3].map(() => shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`)),
    );
    const ids = new Set(answers.map((a) => a.json.orderId));
    expect(answers.map((a) => a.status)).to.deep.equal([202, 202, 202, 202]);
    expect(ids.size).to.equal(1);
    const [orderId] = [...ids];
    await orderIn(shop, shop.buyer, orderId, ["paid"]);
    expect(shop.card.counters.authorizations - before).to.equal(1);
    expect((await variantNow(shop, v)).stock).to.equal(3);
    // the cart is checked out: adding to it is a clear 409
    const late = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, { variantId: v });
    expect(late.status).to.equal(409);
  });
});
