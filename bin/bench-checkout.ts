/**
 * `npm run bench:checkout`: the commerce path end to end on the real servers. Starts a node
 * in this process (test/commerce/harness.ts: NATS, Postgres, Redis, the gateway, catalogue,
 * cart, orders, payment hub, notifications, sessions; the card, wallet and message provider
 * simulators), seeds BENCH_PRODUCTS products (default 100,000), then
 *
 *   1. add-to-cart: BENCH_CARTS carts (default 300), each adding BENCH_ADDS random products
 *      (default 3) over HTTP, BENCH_CONCURRENCY (16) requests in flight: latency p50/p99;
 *   2. checkout: every cart checked out over HTTP at once (BENCH_CONCURRENCY in flight), each
 *      followed until its order is paid (stock reserved and committed, card authorised and
 *      captured, webhooks received): orders/s from the first checkout to the last payment, and
 *      checkout-to-paid latency p50/p99;
 *   3. lost = orders not paid within BENCH_DRAIN_S (default 120 s) of the last checkout;
 *      doubled = authorisations or captures at the card processor beyond one per order, plus
 *      payments or ledger movements beyond one per order.
 *
 * Prints the figures and writes bench-results/checkout.json. The load generator shares the
 * process and the box with the node: figures are indicative.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../lib/logger";
import { createCatalogStore } from "../services/catalog/store";
import { createPool } from "../db";
import { startShop } from "../test/commerce/harness";
import { DATABASE_URL } from "../test/support/namespace";

const log = createLogger({ level: "info", name: "bench:checkout" });
const PRODUCTS = Number(process.env["BENCH_PRODUCTS"] ?? 100_000);
const CARTS = Number(process.env["BENCH_CARTS"] ?? 300);
const ADDS = Number(process.env["BENCH_ADDS"] ?? 3);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16);
const DRAIN_S = Number(process.env["BENCH_DRAIN_S"] ?? 120);

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
}

/** Runs `fn` over `items` with `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

async function main(): Promise<void> {
  const shop = await startShop({
    LOG_LEVEL: "warn",
    ACTOR_PARTITIONS: "16",
    // the bench checks out every cart once: a long hold, no expiry sweeps in the way
    ORDERS_RESERVATION_TTL_MS: String(30 * 60_000),
  });
  // the bench's own connections: its reads never wait behind the node's pool
  const pg = createPool(DATABASE_URL, shop.ns, 2);
  const started = Date.now();
  try {
    const store = createCatalogStore({ pg });
    const seedAt = Date.now();
    await store.seedProducts("bench-seller", PRODUCTS, 1_000_000);
    log.info({ products: PRODUCTS, ms: Date.now() - seedAt }, "catalogue seeded");

    // 1. carts and add-to-cart
    const carts: string[] = [];
    await pool(Array.from({ length: CARTS }), CONCURRENCY, async () => {
      const r = await shop.http(shop.buyer, "POST", "/api/v1/carts");
      if (r.status !== 201) throw new Error(`cart: ${r.status} ${r.text}`);
      carts.push(r.json.id as string);
    });
    const addMs: number[] = [];
    let addErrors = 0;
    // one add per cart at a time: a cart is one buyer's
    const addAt = Date.now();
    await pool(carts, CONCURRENCY, async (cartId) => {
      for (let k = 0; k < ADDS; k++) {
        const i = Math.floor(Math.random() * PRODUCTS);
        const variantId = `benchv-${String(i).padStart(7, "0")}`;
        const t0 = performance.now();
        const r = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, { variantId, qty: 1 });
        addMs.push(performance.now() - t0);
        if (r.status !== 200) addErrors++;
      }
    });
    const addSeconds = (Date.now() - addAt) / 1000;
    log.info({ adds: addMs.length, p50: pct(addMs, 50), p99: pct(addMs, 99), errors: addErrors }, "add-to-cart done");

    // 2. checkout, followed to paid
    const card0 = { ...shop.card.counters };
    const orderOf = new Map<string, string>();
    const checkoutAt = new Map<string, number>();
    const paidAt = new Map<string, number>();
    const coMs: number[] = [];
    let coErrors = 0;
    const t0 = Date.now();
    const runtime = shop.node.node.ctx.runtime;
    let watching = true;
    let lastCheckout = Date.now();
    const watcher = (async () => {
      while (watching || paidAt.size < orderOf.size) {
        const open = [...orderOf.values()].filter((o) => !paidAt.has(o));
        await pool(open, 32, async (o) => {
          const s = await runtime.getState<{ status: string }>("order", o);
          if (s?.status === "paid") paidAt.set(o, Date.now());
        });
        if (!watching && Date.now() - lastCheckout > DRAIN_S * 1000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await pool(carts, CONCURRENCY, async (cartId) => {
      const a = performance.now();
      const r = await shop.http(shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
      coMs.push(performance.now() - a);
      if (r.status !== 202) {
        coErrors++;
        return;
      }
      orderOf.set(cartId, r.json.orderId as string);
      checkoutAt.set(r.json.orderId as string, Date.now());
      lastCheckout = Date.now();
    });
    watching = false;
    await watcher;
    const lastPaid = Math.max(...paidAt.values(), t0);
    const seconds = (lastPaid - t0) / 1000;
    const paidMs = [...paidAt].map(([o, at]) => at - checkoutAt.get(o)!);
    const orders = orderOf.size;
    const lost = orders - paidAt.size;

    // 3. doubles: at the processor and in the hub
    await new Promise((r) => setTimeout(r, 1000)); // late webhooks land
    const auths = shop.card.counters.authorizations - card0.authorizations;
    const captures = shop.card.counters.captures - card0.captures;
    const pays = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pay_payments WHERE kind = 'order'");
    const ledgerDup = await pg.query<{ n: string }>(
      "SELECT count(*) AS n FROM (SELECT payment_id, entry FROM pay_ledger GROUP BY payment_id, entry HAVING count(*) > 1) d",
    );
    const negative = await pg.query<{ n: string }>(
      "SELECT count(*) AS n FROM cat_variants WHERE stock < 0 OR reserved > stock",
    );
    const doubled =
      Math.max(0, auths - orders) +
      Math.max(0, captures - orders) +
      Math.max(0, Number(pays.rows[0]!.n) - orders) +
      Number(ledgerDup.rows[0]!.n);

    const result = {
      at: new Date().toISOString(),
      box: "shared 2-core box, load generator in the node's process: indicative figures",
      products: PRODUCTS,
      addToCart: {
        requests: addMs.length,
        perSec: Math.round(addMs.length / addSeconds),
        p50Ms: pct(addMs, 50),
        p99Ms: pct(addMs, 99),
        errors: addErrors,
        targetP99Ms: 50,
      },
      checkout: {
        orders,
        paid: paidAt.size,
        ordersPerSec: Math.round((paidAt.size / Math.max(seconds, 0.001)) * 10) / 10,
        requestP50Ms: pct(coMs, 50),
        requestP99Ms: pct(coMs, 99),
        toPaidP50Ms: pct(paidMs, 50),
        toPaidP99Ms: pct(paidMs, 99),
        errors: coErrors,
        targetOrdersPerSec: 300,
      },
      lost,
      doubled,
      cardAuthorizations: auths,
      cardCaptures: captures,
      negativeStockVariants: Number(negative.rows[0]!.n),
      concurrency: CONCURRENCY,
      totalSeconds: Math.round((Date.now() - started) / 1000),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const dir = path.resolve(__dirname, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "checkout.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await pg.end();
    await shop.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log.error({ err: String(err) }, "bench:checkout failed");
    process.exit(1);
  },
);
