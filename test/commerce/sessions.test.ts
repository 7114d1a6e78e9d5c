/**
 * The session cache on real Redis: a product view is cached (hit on the second read) and
 * invalidated by a price change; a cart summary in the session follows the cart's changes; the
 * hit rate and size are reported.
 */
import { expect } from "chai";
import { cartWith, startShop, waitFor, type Shop } from "./harness";

describe("commerce: session cache", function () {
  this.timeout(60_000);
  let shop: Shop;

  before(async function () {
    shop = await startShop();
  });
  after(async function () {
    await shop?.close();
  });

  it("caches a product view and invalidates it on a price change", async function () {
    const p = await shop.http(shop.seller, "POST", "/api/v1/catalog/products", {
      title: "Cached lamp",
      variants: [{ sku: "L1", title: "Lamp", price: 1000, currency: "EUR", stock: 9 }],
    });
    const productId = p.json.id as string;
    const variantId = p.json.variants[0].id as string;
    const first = await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${productId}`);
    expect(first.status, first.text).to.equal(200);
    expect(first.headers.get("x-cache")).to.equal("miss");
    expect(first.json.variants[0].price).to.equal(1000);
    const second = await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${productId}`);
    expect(second.headers.get("x-cache")).to.equal("hit");

    const patched = await shop.http(shop.seller, "PATCH", `/api/v1/catalog/variants/${variantId}`, { price: 1500 });
    expect(patched.status, patched.text).to.equal(200);
    const fresh = await waitFor("the new price through the cache", async () => {
      const r = await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${productId}`);
      return r.json.variants[0].price === 1500 ? r : undefined;
    });
    expect(fresh.headers.get("x-cache")).to.equal("miss");
    const hitAgain = await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${productId}`);
    expect(hitAgain.headers.get("x-cache")).to.equal("hit");
    expect(hitAgain.json.variants[0].price).to.equal(1500);
    // a stock change is not a price change: the cached view stays
    await shop.http(shop.seller, "PATCH", `/api/v1/catalog/variants/${variantId}`, { stock: 8 });
    expect(
      (await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${productId}`)).headers.get("x-cache"),
    ).to.equal("hit");
    // an unknown product is a 404
    expect((await shop.http(shop.buyer, "GET", "/api/v1/sessions/products/nope")).status).to.equal(404);
  });

  it("keeps the session's cart summaries in step with the carts", async function () {
    const p = await shop.http(shop.seller, "POST", "/api/v1/catalog/products", {
      title: "Session mug",
      variants: [{ sku: "M1", title: "Mug", price: 800, currency: "EUR", stock: 9 }],
    });
    const variantId = p.json.variants[0].id as string;
    const cartId = await cartWith(shop, shop.buyer, variantId, 1);
    const me = await waitFor("the cart in the session", async () => {
      const r = await shop.http(shop.buyer, "GET", "/api/v1/sessions/me");
      return r.json.carts.find((c: any) => c.cartId === cartId) ? r.json : undefined;
    });
    expect(me.carts.find((c: any) => c.cartId === cartId).total).to.equal(800);
    await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, { variantId, qty: 2 });
    await waitFor("the new total", async () => {
      const r = await shop.http(shop.buyer, "GET", "/api/v1/sessions/me");
      return r.json.carts.find((c: any) => c.cartId === cartId)?.total === 2400;
    });
    const stats = await shop.http(shop.admin, "GET", "/api/v1/admin/sessions/stats");
    expect(stats.status, stats.text).to.equal(200);
    expect(stats.json.hits).to.be.greaterThan(0);
    expect(stats.json.invalidations).to.be.greaterThan(0);
    expect(stats.json.hitRate).to.be.within(0, 1);
    expect(stats.json.keys).to.be.greaterThan(0);
  });
});
