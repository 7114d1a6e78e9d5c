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
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import pg from "pg";
import { createLogger } from "../lib/logger";
import { createCatalogStore } from "../services/catalog/store";
import { createPool } from "../db";
import { startShop, type Shop } from "../test/commerce/harness";
import { DATABASE_URL, NATS_URL } from "../test/support/namespace";
import { connectNats } from "../nats";
import { httpRequest } from "../lib/http-client";

// the bench measures the node, not the suite's OpenAPI answer checks (they run in this process)
process.env["OPENAPI_RESPONSE_CHECK"] = "off";

const log = createLogger({ level: "info", name: "bench:checkout" });
const PRODUCTS = Number(process.env["BENCH_PRODUCTS"] ?? 100_000);
const CARTS = Number(process.env["BENCH_CARTS"] ?? 300);
const ADDS = Number(process.env["BENCH_ADDS"] ?? 3);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16);
const DRAIN_S = Number(process.env["BENCH_DRAIN_S"] ?? 120);
const SERIAL_ADDS = Number(process.env["BENCH_SERIAL_ADDS"] ?? 100);

/**
 * The load generator's HTTP client: undici's `request` through lib/http-client.ts, not the
 * tests' `fetch` with its OpenAPI recorder (WHATWG streams and a cloned body per answer, several
 * times the CPU of a call), so that the process's CPU per operation is mostly the node's.
 */
async function benchHttp(
  shop: Shop,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await httpRequest(`${shop.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  let json: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(res.text);
    if (typeof v === "object" && v !== null) json = { ...v };
  } catch {
    // not JSON: the status and text say what went wrong
  }
  return { status: res.status, text: res.text, json };
}

/** The event loop's delay over a phase (ms): how long ready work waited behind other work. */
function loopDelay(h: IntervalHistogram): { p50Ms: number; p99Ms: number; maxMs: number } {
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  const out = { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
  h.reset();
  return out;
}

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

/** Postgres statements sent by every client of this process (node and bench), counted at the protocol client. */
let pgStatements = 0;
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  pgStatements++;
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

/** What the node did so far: the counters a phase's cost per operation is computed from. */
interface Probe {
  /** CPU of this process (node, load generator and simulators), ms. */
  readonly cpuMs: number;
  /** Messages stored per stream of the namespace (mailboxes, jobs, KV buckets). */
  readonly streams: Record<string, number>;
  /** Messages sent and received on the node's JetStream connection (publishes, acks, KV and API requests, deliveries). */
  readonly natsOut: number;
  readonly natsIn: number;
  readonly pg: number;
  readonly redis: number;
  /** Actor turns (messages handled) and state writes per kind. */
  readonly actors: Record<string, { handled: number; writes: number }>;
  /** Job runs (stream and local) per job. */
  readonly jobs: Record<string, number>;
  readonly cardCalls: number;
  readonly webhooks: number;
}

async function probe(shop: Shop, redisCalls: () => number): Promise<Probe> {
  const ctx = shop.node.node.ctx;
  const streams: Record<string, number> = {};
  for await (const si of ctx.nats.jsm.streams.list()) {
    const name = si.config.name;
    if (!name.toLowerCase().includes(shop.ns.toLowerCase())) continue;
    streams[name.replace(new RegExp(shop.ns, "ig"), "")] = si.state.last_seq;
  }
  const st = ctx.nats.nc.stats();
  const actors: Record<string, { handled: number; writes: number }> = {};
  for (const [k, v] of Object.entries(ctx.runtime.hostStats()))
    actors[k] = { handled: v.handled ?? 0, writes: v.writes ?? 0 };
  const jobs: Record<string, number> = {};
  for (const [k, v] of Object.entries(ctx.runtime.jobStats())) {
    const n = (key: string) => (typeof v[key] === "number" ? (v[key] as number) : 0);
    jobs[k] = n("succeeded") + n("failed") + n("retried") + n("localSucceeded") + n("localFailed");
  }
  const cpu = process.cpuUsage();
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    streams,
    natsOut: st.outMsgs,
    natsIn: st.inMsgs,
    pg: pgStatements,
    redis: redisCalls(),
    actors,
    jobs,
    cardCalls: shop.card.counters.requests,
    webhooks: shop.card.counters.webhooksSent + shop.wallet.counters.webhooksSent,
  };
}

/** Per-operation cost of a phase of `ops` operations between two probes (rounded to 0.1). */
function perOp(a: Probe, b: Probe, ops: number) {
  const r = (x: number) => Math.round((x / Math.max(1, ops)) * 10) / 10;
  const delta = (x: Record<string, number>, y: Record<string, number>) =>
    Object.fromEntries(
      Object.keys(y)
        .map((k) => [k, r((y[k] ?? 0) - (x[k] ?? 0))] as const)
        .filter(([, v]) => v > 0),
    );
  const streams = delta(a.streams, b.streams);
  return {
    ops,
    cpuMs: r(b.cpuMs - a.cpuMs),
    jetstreamStored: Math.round(Object.values(streams).reduce((t, v) => t + v, 0) * 10) / 10,
    streams,
    natsMsgs: r(b.natsOut - a.natsOut + b.natsIn - a.natsIn),
    pgStatements: r(b.pg - a.pg),
    redisCommands: r(b.redis - a.redis),
    actorTurns: Object.fromEntries(
      Object.keys(b.actors)
        .map((k) => [k, r(b.actors[k]!.handled - (a.actors[k]?.handled ?? 0))] as const)
        .filter(([, v]) => v > 0),
    ),
    stateWrites: Object.fromEntries(
      Object.keys(b.actors)
        .map((k) => [k, r(b.actors[k]!.writes - (a.actors[k]?.writes ?? 0))] as const)
        .filter(([, v]) => v > 0),
    ),
    jobRuns: delta(a.jobs, b.jobs),
    providerCalls: r(b.cardCalls - a.cardCalls),
    webhooks: r(b.webhooks - a.webhooks),
  };
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

    const ctx = shop.node.node.ctx;
    let redisCalls = 0;
    const sendCommand = ctx.redis.sendCommand.bind(ctx.redis);
    ctx.redis.sendCommand = ((...args: Parameters<typeof sendCommand>) => {
      redisCalls++;
      return sendCommand(...args);
    }) as typeof ctx.redis.sendCommand;
    const snap = () => probe(shop, () => redisCalls);

    // 1. carts and add-to-cart
    const carts: string[] = [];
    await pool(Array.from({ length: CARTS }), CONCURRENCY, async () => {
      const r = await benchHttp(shop, shop.buyer, "POST", "/api/v1/carts");
      if (r.status !== 201) throw new Error(`cart: ${r.status} ${r.text}`);
      carts.push(r.json.id as string);
    });
    const variant = () => `benchv-${String(Math.floor(Math.random() * PRODUCTS)).padStart(7, "0")}`;
    // one request in flight: the latency of one add with nothing queued in front of it
    const serialMs: number[] = [];
    const s0 = await snap();
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    for (let k = 0; k < SERIAL_ADDS; k++) {
      const t = performance.now();
      const r = await benchHttp(shop, shop.buyer, "POST", `/api/v1/carts/${carts[k % carts.length]}/items`, {
        variantId: variant(),
        qty: 1,
      });
      serialMs.push(performance.now() - t);
      if (r.status !== 200) throw new Error(`add: ${r.status} ${r.text}`);
    }
    const s1 = await snap();
    const serialLoop = loopDelay(loop);
    const addMs: number[] = [];
    let addErrors = 0;
    // one add per cart at a time: a cart is one buyer's
    const addAt = Date.now();
    await pool(carts, CONCURRENCY, async (cartId) => {
      for (let k = 0; k < ADDS; k++) {
        const t = performance.now();
        const r = await benchHttp(shop, shop.buyer, "POST", `/api/v1/carts/${cartId}/items`, {
          variantId: variant(),
          qty: 1,
        });
        addMs.push(performance.now() - t);
        if (r.status !== 200) addErrors++;
      }
    });
    const addSeconds = (Date.now() - addAt) / 1000;
    const s2 = await snap();
    const addLoop = loopDelay(loop);
    log.info({ adds: addMs.length, p50: pct(addMs, 50), p99: pct(addMs, 99), errors: addErrors }, "add-to-cart done");

    // 2. checkout, followed to paid: the order states as they are written (a KV watch, no polling)
    const card0 = { ...shop.card.counters };
    const orderOf = new Map<string, string>();
    const checkoutAt = new Map<string, number>();
    const paidAt = new Map<string, number>();
    const coMs: number[] = [];
    let coErrors = 0;
    // on a connection of the bench's own, so that the node's counters do not count the watch
    const own = await connectNats(NATS_URL, "bench-checkout");
    const orderKv = await own.kvm.open(ctx.topology.actors.stateBucket("order"));
    const watch = await orderKv.watch();
    const watcher = (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT" || paidAt.has(e.key)) continue;
        if (e.json<{ s: { status: string } }>().s.status === "paid") paidAt.set(e.key, Date.now());
      }
    })();
    const t0 = Date.now();
    await pool(carts, CONCURRENCY, async (cartId) => {
      const a = performance.now();
      const r = await benchHttp(shop, shop.buyer, "POST", `/api/v1/carts/${cartId}/checkout`);
      coMs.push(performance.now() - a);
      // a 503 (the checkout queued, not applied within CART_WAIT_MS) still makes the cart's one
      // order, `{cart}-1`: it is followed like the others, and counted as a request error
      if (r.status !== 202) coErrors++;
      if (r.status !== 202 && r.status !== 503) return;
      const orderId = r.status === 202 ? (r.json.orderId as string) : `${cartId}-1`;
      orderOf.set(cartId, orderId);
      checkoutAt.set(orderId, Date.now());
    });
    const lastCheckout = Date.now();
    while (Date.now() - lastCheckout < DRAIN_S * 1000 && [...orderOf.values()].some((o) => !paidAt.has(o)))
      await new Promise((r) => setTimeout(r, 50));
    const s3 = await snap();
    const checkoutLoop = loopDelay(loop);
    loop.disable();
    watch.stop();
    await watcher;
    await own.nc.close();
    const lastPaid = Math.max(...paidAt.values(), t0);
    const seconds = (lastPaid - t0) / 1000;
    const paidMs = [...orderOf.values()].filter((o) => paidAt.has(o)).map((o) => paidAt.get(o)! - checkoutAt.get(o)!);
    const orders = orderOf.size;
    const lost = [...orderOf.values()].filter((o) => !paidAt.has(o)).length;

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
      addToCartSerial: {
        requests: serialMs.length,
        p50Ms: pct(serialMs, 50),
        p99Ms: pct(serialMs, 99),
        eventLoopDelay: serialLoop,
        perOp: perOp(s0, s1, serialMs.length),
      },
      addToCart: {
        requests: addMs.length,
        perSec: Math.round(addMs.length / addSeconds),
        p50Ms: pct(addMs, 50),
        p99Ms: pct(addMs, 99),
        errors: addErrors,
        targetP99Ms: 50,
        eventLoopDelay: addLoop,
        perOp: perOp(s1, s2, addMs.length),
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
        eventLoopDelay: checkoutLoop,
        perOp: perOp(s2, s3, orders),
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
