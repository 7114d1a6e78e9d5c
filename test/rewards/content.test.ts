/**
 * The content manager end to end (one node, real HTTP, NATS, Postgres and object store):
 * merchants act as themselves through their linked clients, products with stock and images
 * served with cache headers, and redemptions: the last unit bought by two users at once (one
 * wins, the other gets a clear 409, no oversell), a buyer who cannot pay, a confirmed voucher
 * posting the points to the merchant, and a refund voiding the reservation.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { cleanupRewards, freePort, json, makeClientIn, rewardsEnv, startChild, type ChildNode } from "./harness";

// a 1x1 PNG
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

describe("rewards content manager and redemptions (real servers)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("trwc");
  let node: ChildNode;
  let app: string;
  let admin: string;
  let shopKey: string;
  let otherShopKey: string;
  let u: string;

  before(async () => {
    node = await startChild(rewardsEnv(ns, "c1", await freePort()));
    u = `${node.url}/api/v1`;
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    admin = (await makeClientIn(ns, ["admin"])).apiKey;
    const shop = await makeClientIn(ns, ["rewards:write"]);
    const other = await makeClientIn(ns, ["rewards:write"]);
    shopKey = shop.apiKey;
    otherShopKey = other.apiKey;
    for (const [id, kind] of [
      ["buyer1", "civilian"],
      ["buyer2", "civilian"],
      ["poor", "civilian"],
      ["cop", "officer"],
      ["shopA", "merchant"],
      ["shopB", "merchant"],
    ] as const)
      expect((await json(`${u}/rewards/accounts`, app, "POST", { id, kind })).status).to.equal(201);
    expect(
      (await json(`${u}/admin/rewards/merchants/shopA/clients`, admin, "POST", { client: shop.client.id })).status,
    ).to.equal(200);
    expect(
      (await json(`${u}/admin/rewards/merchants/shopB/clients`, admin, "POST", { client: other.client.id })).status,
    ).to.equal(200);
    const rule = await json(`${u}/admin/rewards/rules`, admin, "POST", {
      name: "meet",
      txKind: "encounter",
      points: { from: 50 },
    });
    expect(rule.status).to.equal(201);
    await waitFor(
      "rule in force",
      async () => (await json(`${u}/rewards/rules/${rule.json.id}`, app, "GET")).status === 200,
      5000,
      20,
    );
    for (const b of ["buyer1", "buyer2"]) {
      const r = await json(`${u}/rewards/transactions`, app, "POST", {
        id: `meet-${b}`,
        kind: "encounter",
        from: b,
        to: "cop",
      });
      expect(r.json.status, r.text).to.equal("posted");
    }
  });

  after(async () => {
    await node?.stop("SIGKILL");
    await cleanupRewards(ns);
  });

  let product: string;
  /** The buyer who lost the race for the last unit (still holds 50 points). */
  let loser = "";
  it("lets a merchant manage only its own products, with an image served with cache headers", async function () {
    const p = await json(`${u}/rewards/merchants/shopA/products`, shopKey, "POST", {
      name: "Coffee",
      price: 30,
      stock: 1,
    });
    expect(p.status, p.text).to.equal(201);
    product = p.json.id as string;
    expect(
      (await json(`${u}/rewards/merchants/shopA/products`, otherShopKey, "POST", { name: "X", price: 1, stock: 1 }))
        .status,
    ).to.equal(404);
    expect((await json(`${u}/rewards/merchants/shopA/products`, otherShopKey, "GET")).status).to.equal(404);
    const img = await json(`${u}/rewards/merchants/shopA/products/${product}/image`, shopKey, "PUT", {
      contentType: "image/png",
      dataBase64: PNG,
    });
    expect(img.status, img.text).to.equal(200);
    const got = await fetch(`${node.url}${img.json.imageUrl as string}`);
    expect(got.status).to.equal(200);
    expect(got.headers.get("content-type")).to.match(/image\/png/);
    expect(got.headers.get("cache-control")).to.equal("public, max-age=86400");
    expect(got.headers.get("etag")).to.match(/^"p-/);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(PNG, "base64"))).to.equal(true);
    const market = await json(`${u}/rewards/marketplace`, app, "GET");
    expect(market.json.items.map((x: { id: string }) => x.id)).to.include(product);
  });

  it("sells the last unit to exactly one of two concurrent buyers; the other gets a clear 409", async function () {
    const [r1, r2] = await Promise.all(
      ["buyer1", "buyer2"].map((buyer) => json(`${u}/rewards/redemptions`, app, "POST", { product, buyer })),
    );
    const answers = [r1!, r2!].sort((x, y) => x.status - y.status);
    expect(answers.map((x) => x.status)).to.deep.equal([201, 409]);
    expect(answers[0]!.json).to.include({ status: "pending", price: 30 });
    expect(answers[0]!.json.voucher).to.match(/^[0-9A-F]{12}$/);
    expect(answers[1]!.json.error.details[0].message).to.equal("OUT_OF_STOCK");
    const products = await json(`${u}/rewards/merchants/shopA/products`, shopKey, "GET");
    expect(products.json.items[0].stock).to.equal(0);
    const winner = answers[0]!.json as { id: string; buyer: string };
    loser = winner.buyer === "buyer1" ? "buyer2" : "buyer1";
    const acct = await json(`${u}/rewards/accounts/${winner.buyer}`, app, "GET");
    expect(acct.json).to.include({ balance: 20, held: 30 });

    const confirmed = await json(`${u}/rewards/merchants/shopA/redemptions/${winner.id}/confirm`, shopKey, "POST");
    expect(confirmed.status, confirmed.text).to.equal(200);
    expect(confirmed.json.status).to.equal("posted");
    await waitFor(
      "merchant paid",
      async () => (await json(`${u}/rewards/accounts/shopA`, app, "GET")).json.balance === 30,
      5000,
      20,
    );
    const sales = await json(`${u}/rewards/merchants/shopA/sales`, shopKey, "GET");
    expect(sales.json.items.map((x: { id: string }) => x.id)).to.deep.equal([winner.id]);
    expect((await json(`${u}/rewards/merchants/shopA/sales`, otherShopKey, "GET")).status).to.equal(404);
  });

  it("refuses a buyer who cannot pay (stock unchanged), and a refund voids the reservation and restocks", async function () {
    const p = await json(`${u}/rewards/merchants/shopB/products`, otherShopKey, "POST", {
      name: "Tea",
      price: 40,
      stock: 2,
    });
    const tea = p.json.id as string;
    const poor = await json(`${u}/rewards/redemptions`, app, "POST", { product: tea, buyer: "poor" });
    expect(poor.status).to.equal(409);
    expect(poor.json.error.message).to.match(/insufficient balance/);
    let items = (await json(`${u}/rewards/merchants/shopB/products`, otherShopKey, "GET")).json.items;
    expect(items[0].stock).to.equal(2);
    const ok = await json(`${u}/rewards/redemptions`, app, "POST", { product: tea, buyer: loser });
    expect(ok.status, ok.text).to.equal(201);
    expect(
      (await json(`${u}/rewards/merchants/shopA/redemptions/${ok.json.id}/refund`, shopKey, "POST")).status,
    ).to.equal(404);
    const refunded = await json(`${u}/rewards/merchants/shopB/redemptions/${ok.json.id}/refund`, otherShopKey, "POST");
    expect(refunded.json.status, refunded.text).to.equal("voided");
    expect(
      (await json(`${u}/rewards/merchants/shopB/redemptions/${ok.json.id}/refund`, otherShopKey, "POST")).status,
    ).to.equal(409);
    items = (await json(`${u}/rewards/merchants/shopB/products`, otherShopKey, "GET")).json.items;
    expect(items[0].stock).to.equal(2);
    const acct = await json(`${u}/rewards/accounts/${loser}`, app, "GET");
    expect(acct.json).to.include({ balance: 50, held: 0 });
    await waitFor(
      "ledger agrees",
      async () => (await json(`${u}/admin/rewards/check`, admin, "GET")).json.ok === true,
      20_000,
      100,
    );
  });
});
