/**
 * Gateway benchmark (loopback only, bounded in time): one node with the gateway and 10,000
 * registered clients; the same GET action through the gateway without auth, with an API key
 * (random one of the 10,000 per request: credential cache + Redis rate limit included) and
 * with an OAuth access token. Load comes from a worker thread (keep-alive connections) so the
 * gateway has the main thread to itself. Prints progress and figures; writes
 * bench-results/gateway.json.
 *
 * BENCH_SECONDS (default 10) per phase, BENCH_CONNECTIONS (default 32), BENCH_CLIENTS (10000).
 *
 * Then the edge functions (issue 19), one client, BENCH_ROUNDS rounds (default 40) each:
 *   - batch: 50 single calls one after the other, 50 single calls at once (8 keep-alive
 *     connections), and one POST /api/v1/batch of the same 50 calls;
 *   - prefetch: a page that reads a basket and its 10 items, without prefetch (the basket, then
 *     its 10 items at once) and with it (`?include=items`: one request).
 * Loopback has no network delay, so what a batch saves per round trip (the RTT of a real
 * client) is not in these figures; BENCH_EDGE_ONLY=1 runs only these phases.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import http from "node:http";
import type { ServiceSchema } from "moleculer";
import { freshNamespace } from "../test/support/namespace";
import { startGatewayNode, cleanupAll, request, type GatewayNode } from "../test/gateway/harness";
import { createClientStore } from "../services/gateway/clients";
import { createKeyring } from "../lib/sealed";
import type { RouteSpec } from "../gateway";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 10);
const CONNECTIONS = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const CLIENTS = Number(process.env["BENCH_CLIENTS"] ?? 10_000);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 40);
const EDGE_ONLY = process.env["BENCH_EDGE_ONLY"] === "1";

const benchRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/bench/ping",
    action: "bench.ping",
    access: "bench:read",
    summary: "Benchmark GET (authenticated)",
    tags: ["bench"],
    responses: { 200: { description: "pong" } },
  },
  {
    method: "GET",
    path: "/bench/ping",
    action: "bench.ping",
    access: "public",
    summary: "Benchmark GET (no auth)",
    tags: ["bench"],
    responses: { 200: { description: "pong" } },
  },
  {
    method: "GET",
    path: "/api/v1/bench/baskets/{id}",
    action: "bench.basket",
    access: "bench:read",
    summary: "Benchmark resource with related ones (?include=items)",
    tags: ["bench"],
    params: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
    responses: { 200: { description: "a basket", schema: { type: "object" } } },
    includes: { items: { route: "GET /api/v1/bench/items/{id}", from: "/itemIds/*", description: "its items" } },
  },
  {
    method: "GET",
    path: "/api/v1/bench/items/{id}",
    action: "bench.item",
    access: "bench:read",
    summary: "Benchmark related resource",
    tags: ["bench"],
    params: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
    responses: { 200: { description: "an item", schema: { type: "object" } } },
  },
];

const benchService = (): ServiceSchema => ({
  name: "bench",
  actions: {
    ping: () => ({ pong: true }),
    basket: (ctx: { params: { params: { id: string } } }) => ({
      id: ctx.params.params.id,
      itemIds: Array.from({ length: 10 }, (_, i) => `${ctx.params.params.id}-i${i}`),
    }),
    item: (ctx: { params: { params: { id: string } } }) => ({ id: ctx.params.params.id, title: "item", price: 1200 }),
  },
});

/** Load generator: `connections` keep-alive loops for `durationMs`, latencies in µs. */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const { port, path, tokens, durationMs, connections, maxRequests } = workerData;
let issued = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const lat = [];
const statuses = {};
let errors = 0, sinceLast = 0;
const end = Date.now() + durationMs;
function one() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    // Sequential (every token once) when maxRequests is set, else a random token per request.
    const i = maxRequests ? issued % tokens.length : Math.floor(Math.random() * tokens.length);
    issued++;
    const headers = tokens.length ? { authorization: "Bearer " + tokens[i] } : {};
    const req = http.request({ host: "127.0.0.1", port, path, agent, headers }, (res) => {
      res.resume();
      res.on("end", () => {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        sinceLast++;
        resolve();
      });
    });
    req.on("error", () => { errors++; resolve(); });
    req.end();
  });
}
async function loop() { while (Date.now() < end && (!maxRequests || issued < maxRequests)) await one(); }
const timer = setInterval(() => { parentPort.postMessage({ type: "progress", n: sinceLast }); sinceLast = 0; }, 1000);
const started = Date.now();
Promise.all(Array.from({ length: connections }, loop)).then(() => {
  clearInterval(timer);
  agent.destroy();
  const lats = Float64Array.from(lat);
  parentPort.postMessage({ type: "done", lat: lats, statuses, errors, seconds: (Date.now() - started) / 1000 }, [lats.buffer]);
});
`;

interface Phase {
  readonly name: string;
  readonly path: string;
  readonly seconds: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1000;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function runPhase(
  name: string,
  port: number,
  urlPath: string,
  tokens: readonly string[],
  seconds: number,
  maxRequests = 0,
): Promise<Phase> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, {
      eval: true,
      workerData: { port, path: urlPath, tokens, durationMs: seconds * 1000, connections: CONNECTIONS, maxRequests },
    });
    let tick = 0;
    w.on(
      "message",
      (m: {
        type: string;
        n?: number;
        lat?: Float64Array;
        statuses?: Record<string, number>;
        errors?: number;
        seconds?: number;
      }) => {
        if (m.type === "progress") {
          tick++;
          log(`  ${name.padEnd(22)} ${String(tick).padStart(3)} s  ${String(m.n).padStart(7)} req/s`);
          return;
        }
        const lat = m.lat!.sort();
        let sum = 0;
        for (const v of lat) sum += v;
        const secs = m.seconds!;
        resolve({
          name,
          path: urlPath,
          seconds: secs,
          requests: lat.length,
          rps: Math.round(lat.length / secs),
          p50Ms: pct(lat, 50),
          p90Ms: pct(lat, 90),
          p99Ms: pct(lat, 99),
          meanMs: lat.length ? sum / lat.length / 1000 : 0,
          statuses: m.statuses!,
          errors: m.errors!,
        });
        void w.terminate();
      },
    );
    w.on("error", reject);
  });
}

/** Mean, p50 and p99 of `ms`, milliseconds. */
function summary(ms: number[]): { meanMs: number; p50Ms: number; p99Ms: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return { meanMs: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** `ROUNDS` timed runs of `round` (after 3 untimed ones), milliseconds each. */
async function rounds(
  name: string,
  round: () => Promise<void>,
): Promise<{ name: string; rounds: number } & ReturnType<typeof summary>> {
  for (let i = 0; i < 3; i++) await round();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    await round();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const s = summary(ms);
  log(
    `  ${name.padEnd(40)} mean ${s.meanMs.toFixed(2).padStart(8)} ms  p50 ${s.p50Ms.toFixed(2).padStart(8)}  p99 ${s.p99Ms.toFixed(2).padStart(8)}`,
  );
  return { name, rounds: ROUNDS, ...s };
}

/** The batch and prefetch phases (see the module doc) against `gw` with the API key `key`. */
async function edgePhases(gw: GatewayNode, key: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const get = (p: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port: gw.port, path: p, agent, headers: { authorization: `Bearer ${key}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  const post = (p: string, body: unknown): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = http.request(
        {
          host: "127.0.0.1",
          port: gw.port,
          path: p,
          method: "POST",
          agent,
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(text),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on("error", reject);
      req.end(text);
    });
  const must = (r: { status: number; body: string }, what: string) => {
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
    return r;
  };
  const items = Array.from({ length: 50 }, () => ({ method: "GET", path: "/api/v1/bench/ping" }));
  log("");
  log(`edge: ${ROUNDS} rounds each (one client, loopback)`);
  const batch = [
    await rounds("50 single calls, one after the other", async () => {
      for (let i = 0; i < 50; i++) must(await get("/api/v1/bench/ping"), "single");
    }),
    await rounds("50 single calls at once (8 connections)", async () => {
      await Promise.all(Array.from({ length: 50 }, async () => must(await get("/api/v1/bench/ping"), "single")));
    }),
    await rounds("one batch of the same 50 calls", async () => {
      const r = must(await post("/api/v1/batch", { items }), "batch");
      const out = JSON.parse(r.body) as { items: { status: number }[] };
      if (out.items.length !== 50 || out.items.some((i) => i.status !== 200)) throw new Error("a batch item failed");
    }),
  ];
  let n = 0;
  const prefetch = [
    await rounds("page without prefetch (basket, then 10 items)", async () => {
      const id = `b${++n}`;
      const basket = JSON.parse(must(await get(`/api/v1/bench/baskets/${id}`), "basket").body) as { itemIds: string[] };
      await Promise.all(basket.itemIds.map(async (i) => must(await get(`/api/v1/bench/items/${i}`), "item")));
    }),
    await rounds("page with prefetch (?include=items)", async () => {
      const id = `b${++n}`;
      const r = JSON.parse(must(await get(`/api/v1/bench/baskets/${id}?include=items`), "basket").body) as {
        included: { items: { status: number }[] };
      };
      if (r.included.items.length !== 10 || r.included.items.some((i) => i.status !== 200))
        throw new Error("an included item failed");
    }),
  ];
  agent.destroy();
  const [seq, conc, one] = batch as [(typeof batch)[number], (typeof batch)[number], (typeof batch)[number]];
  const [off, on] = prefetch as [(typeof prefetch)[number], (typeof prefetch)[number]];
  log(
    `batch of 50: ${one.meanMs.toFixed(2)} ms against ${seq.meanMs.toFixed(2)} ms one after the other (x${(seq.meanMs / one.meanMs).toFixed(1)}) and ${conc.meanMs.toFixed(2)} ms at once; prefetch: ${on.meanMs.toFixed(2)} ms on, ${off.meanMs.toFixed(2)} ms off`,
  );
  return { batch, prefetch };
}

async function main(): Promise<void> {
  process.env["LOG_LEVEL"] ??= "warn";
  const ns = freshNamespace("bgw");
  log(
    `gateway bench: namespace ${ns}, ${CLIENTS} clients, ${CONNECTIONS} connections, ${SECONDS} s per phase, ${os.cpus().length} CPUs`,
  );
  let gw: GatewayNode | undefined;
  try {
    gw = await startGatewayNode({
      ns,
      nodeId: "bench",
      // 1,000 token exchanges from one address: lift the per-IP token limit (10/s, burst 50).
      env: {
        LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
        GATEWAY_TOKEN_BURST: "1000000",
        GATEWAY_TOKEN_PER_SEC: "1000000",
      },
      extraRoutes: benchRoutes,
      extraServices: () => [benchService()],
    });
    await gw.node.broker.waitForServices(["bench"], 10_000);
    log(`gateway on ${gw.url}`);

    const store = createClientStore({ pg: gw.ctx.pg, keyring: createKeyring(gw.ctx.config.master.keys) });
    const t0 = Date.now();
    const created = [];
    for (let i = 0; i < CLIENTS; i += 2000) {
      const n = Math.min(2000, CLIENTS - i);
      created.push(
        ...(await store.createMany(
          Array.from({ length: n }, (_, j) => ({
            name: `bench-${i + j}`,
            scopes: ["bench:read"],
            rateLimit: { perSec: 1_000_000, burst: 1_000_000 },
          })),
        )),
      );
      log(`  registered ${created.length} / ${CLIENTS} clients`);
    }
    const insertMs = Date.now() - t0;
    log(`registered ${CLIENTS} clients in ${insertMs} ms (multi-row INSERT ... SELECT FROM unnest)`);
    const keys = created.map((c) => c.apiKey);

    // Access tokens for 1,000 of them, through the real token endpoint.
    const jwtClients = created.slice(0, 1000);
    const tokens: string[] = [];
    for (let i = 0; i < jwtClients.length; i += 50) {
      const batch = await Promise.all(
        jwtClients.slice(i, i + 50).map((c) =>
          request(`${gw!.url}/oauth/token`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "client_credentials",
              client_id: c.client.id,
              client_secret: c.apiKey,
            }).toString(),
          }),
        ),
      );
      for (const r of batch) tokens.push((r.json as { access_token: string }).access_token);
    }
    log(`issued ${tokens.length} access tokens`);

    // Steady state of 10,000 active clients: every key used once (fills Redis and in-process caches).
    const phases: Phase[] = [];
    if (!EDGE_ONLY) {
      log("warm-up: every API key once, then every token once (bounded to 60 s)");
      await runPhase("warm-up keys", gw.port, "/api/v1/bench/ping", keys, 60, keys.length);
      await runPhase("warm-up tokens", gw.port, "/api/v1/bench/ping", tokens, 30, tokens.length);
      await runPhase("warm-up no auth", gw.port, "/bench/ping", [], Math.min(3, SECONDS));
      phases.push(await runPhase("no auth", gw.port, "/bench/ping", [], SECONDS));
      phases.push(await runPhase("API key (10k clients)", gw.port, "/api/v1/bench/ping", keys, SECONDS));
      phases.push(await runPhase("OAuth JWT (1k tokens)", gw.port, "/api/v1/bench/ping", tokens, SECONDS));
    }

    const edge = await edgePhases(gw, keys[0]!);
    if (EDGE_ONLY) {
      const dir = path.resolve(__dirname, "..", "bench-results");
      mkdirSync(dir, { recursive: true });
      const result = { at: new Date().toISOString(), host: { cpus: os.cpus().length, node: process.version }, edge };
      writeFileSync(path.join(dir, "gateway-edge.json"), `${JSON.stringify(result, null, 2)}\n`);
      log("written to bench-results/gateway-edge.json");
      return;
    }
    const [none, key, jwt] = phases as [Phase, Phase, Phase];
    log("");
    log(
      `${"phase".padEnd(24)}${"req/s".padStart(9)}${"p50 ms".padStart(9)}${"p90 ms".padStart(9)}${"p99 ms".padStart(9)}${"mean ms".padStart(9)}  statuses`,
    );
    for (const p of phases) {
      log(
        `${p.name.padEnd(24)}${String(p.rps).padStart(9)}${p.p50Ms.toFixed(3).padStart(9)}${p.p90Ms.toFixed(3).padStart(9)}${p.p99Ms.toFixed(3).padStart(9)}${p.meanMs.toFixed(3).padStart(9)}  ${JSON.stringify(p.statuses)}${p.errors ? ` errors ${p.errors}` : ""}`,
      );
    }
    // Per-request cost of auth at equal concurrency: difference of mean latencies (and of CPU time per request).
    const overhead = {
      apiKeyMeanMs: key.meanMs - none.meanMs,
      apiKeyP50Ms: key.p50Ms - none.p50Ms,
      jwtMeanMs: jwt.meanMs - none.meanMs,
      jwtP50Ms: jwt.p50Ms - none.p50Ms,
      apiKeyPerRequestCpuMs: 1000 / key.rps - 1000 / none.rps,
      jwtPerRequestCpuMs: 1000 / jwt.rps - 1000 / none.rps,
    };
    log("");
    log(
      `auth overhead per request: API key ${overhead.apiKeyPerRequestCpuMs.toFixed(3)} ms of gateway time (1/rps), p50 +${overhead.apiKeyP50Ms.toFixed(3)} ms at ${CONNECTIONS} concurrent; JWT ${overhead.jwtPerRequestCpuMs.toFixed(3)} ms, p50 +${overhead.jwtP50Ms.toFixed(3)} ms`,
    );

    const dir = path.resolve(__dirname, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    const result = {
      at: new Date().toISOString(),
      host: { cpus: os.cpus().length, node: process.version },
      clients: CLIENTS,
      insertMs,
      connections: CONNECTIONS,
      secondsPerPhase: SECONDS,
      phases,
      overhead,
      edge,
    };
    writeFileSync(path.join(dir, "gateway.json"), `${JSON.stringify(result, null, 2)}\n`);
    log("written to bench-results/gateway.json");
  } finally {
    await gw?.stop();
    await cleanupAll(ns);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:gateway failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
