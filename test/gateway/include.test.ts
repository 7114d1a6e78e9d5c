/**
 * `?include=` on real commerce resources (one node with the catalogue, cart, orders, payments
 * and sessions on NATS, Postgres and Redis): a cart with its products (read through the session
 * cache, which the follow-up reads then hit) and its order, an order with its cart, inside a
 * batch too; an unknown relation is a 400 and another client's related resource stays hidden.
 */
import { expect } from "chai";
import { cartWith, orderIn, startShop, type Shop } from "../commerce/harness";

describe("gateway: ?include= prefetching", function () {
  this.timeout(90_000);
  let shop: Shop;

  before(async function () {
    shop = await startShop();
  });
  after(async function () {
    await shop?.close();
  });

  it("answers a cart with its products and order, an order with its cart, and warms the session cache", async function () {
    const mk = async (title: string, sku: string) => {
      const p = await shop.http(shop.seller, "POST", "/api/v1/catalog/products", {
        title,
        variants: [{ sku, title, price: 1200, currency: "EUR", stock: 9 }],
      });
      expect(p.status, p.text).to.equal(201);
      return { productId: p.json.id as string, variantId: p.json.variants[0].id as string };
    };
    const lamp = await mk("Include lamp", "IL1");
    const mug = await mk("Include mug", "IM1");
    const cartId = await cartWith(shop, shop.buyer, lamp.variantId, 1);
    const added = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, {
      variantId: mug.variantId,
      qty: 2,
    });
    expect(added.status, added.text).to.equal(200);

    const plain = await shop.http(shop.buyer, "GET", `/api/v1/carts/${cartId}`);
    expect(plain.status).to.equal(200);
    expect(plain.json.included).to.equal(undefined);

    const withProducts = await shop.http(shop.buyer, "GET", `/api/v1/carts/${cartId}?include=products,order`);
    expect(withProducts.status, withProducts.text).to.equal(200);
    const products = withProducts.json.included.products as { id: string; status: number; body: any }[];
    expect(products.map((p) => p.id).sort()).to.deep.equal([lamp.productId, mug.productId].sort());
    expect(products.every((p) => p.status === 200)).to.equal(true);
    expect(products.find((p) => p.id === lamp.productId)!.body.title).to.equal("Include lamp");
    expect(withProducts.json.included.order).to.deep.equal([]);
    // the follow-up read the storefront makes next is served by the session cache
    const followUp = await shop.http(shop.buyer, "GET", `/api/v1/sessions/products/${mug.productId}`);
    expect(followUp.status).to.equal(200);
    expect(followUp.headers.get("x-cache")).to.equal("hit");

    const bad = await shop.http(shop.buyer, "GET", `/api/v1/carts/${cartId}?include=payments`);
    expect(bad.status).to.equal(400);
    expect(bad.json.error.code).to.equal("INVALID_PARAMETER");

    const co = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
    expect(co.status, co.text).to.equal(202);
    const orderId = co.json.orderId as string;
    await orderIn(shop, shop.buyer, orderId, ["paid", "awaiting_payment", "reserving", "committing"]);
    const order = await shop.http(shop.buyer, "GET", `/api/v1/orders/${orderId}?include=cart`);
    expect(order.status, order.text).to.equal(200);
    expect(order.json.included.cart).to.have.length(1);
    expect(order.json.included.cart[0]).to.deep.include({ id: cartId, status: 200 });
    expect(order.json.included.cart[0].body.orderId).to.equal(orderId);
    const cartNow = await shop.http(shop.buyer, "GET", `/api/v1/carts/${cartId}?include=order`);
    expect(cartNow.json.included.order[0]).to.deep.include({ id: orderId, status: 200 });

    // in a batch, with the caller's own scopes: the seller reads no carts, and no included ones
    const batch = await shop.http(shop.buyer, "POST", "/api/v1/batch", {
      items: [{ method: "GET", path: `/api/v1/orders/${orderId}?include=cart` }],
    });
    expect(batch.status, batch.text).to.equal(200);
    expect(batch.json.items[0].body.included.cart[0].status).to.equal(200);
    const other = await shop.http(shop.buyer2, "GET", `/api/v1/orders/${orderId}?include=cart`);
    expect(other.status).to.equal(404);

    const metrics = await shop.http(shop.admin, "GET", "/metrics");
    expect(metrics.text).to.match(/gateway_includes_total\{relation="products",outcome="ok"\} [1-9]/);
    expect(metrics.text).to.match(
      /gateway_cache_reads_total\{route="\/api\/v1\/sessions\/products\/\{id\}",outcome="hit"\} [1-9]/,
    );
  });
});
