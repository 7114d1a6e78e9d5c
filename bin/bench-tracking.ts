/**
 * `npm run bench:tracking`: simulated devices (10% officers) moving on a city's street grid
 * (100 m blocks: people walking, standing, officers parked, walking or driving), reporting
 * their positions (GPS noise, now and then a fix too inaccurate to use) over the documented
 * NATS subject `{ns}.tracking.positions.<partition>` to real nodes (child processes).
 * Prints and writes (bench-results/tracking.json):
 *   - position updates/s sent and ingested (counted by the nodes' device actors);
 *   - update-to-notification latency p50/p99: from the later position of a meeting's two
 *     parties to its `nearby` event being published (first seen on `{ns}.tracking.events.>`);
 *   - correctness against a ground truth the bench computes from the true (noise-free)
 *     positions every second, over every civilian and every officer the rule allows (a grid of
 *     buckets finds the candidates; the distance of each is exact): missed = pairs that came
 *     within radius - tolerance and got no `nearby` in the events stream; false positives =
 *     `nearby` events of pairs never within radius + tolerance; doubled = more than one `nearby`
 *     for a pair (the cooldown outlasts the run); and after every device goes silent, one
 *     `faraway` for each `nearby`.
 * With TRACKING_BENCH_KILL=1 two nodes run and one is killed (SIGKILL) during the measured
 * phase: the takeover time (until every partition it held has a new owner) is reported, and
 * nothing may be lost or doubled.
 *
 * Env: TRACKING_BENCH_DEVICES (100000), TRACKING_BENCH_INTERVAL_MS (each device reports this
 * often: 5000, i.e. 20,000 updates/s for 100,000 devices), TRACKING_BENCH_SECONDS (measured, 60),
 * TRACKING_BENCH_WARMUP_SECONDS (20: the first reports, when every meeting under way is found
 * at once, are outside the latency figures but inside the correctness check),
 * TRACKING_BENCH_CITY_KM (a square city this wide: 40 for 100,000 devices, scaled to keep the density), TRACKING_BENCH_KILL (0).
 */
import { spawn } from "node:child_process";
import os from "node:os";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../lib/logger";
import { connectNats, type NatsHandles } from "../nats";
import { partitionOf } from "../streams/subjects";
import { freshNamespace, NATS_URL, DATABASE_URL, REDIS_URL, nodeEnv as childEnv } from "../test/support/namespace";
import { testLogDir } from "../test/support/log-dir";
import { waitFor } from "../test/support/wait";
import { cleanupRewards, freePort, json, makeClientIn, type ChildNode } from "../test/rewards/harness";
import { percentile } from "../test/rewards/load";
import { haversineM } from "../services/tracking/cells";

const log = createLogger({ level: "info", name: "bench:tracking" });
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const N = env("TRACKING_BENCH_DEVICES", 100_000);
const INTERVAL_MS = env("TRACKING_BENCH_INTERVAL_MS", 5000);
const MEASURE_S = env("TRACKING_BENCH_SECONDS", 60);
const WARMUP_S = env("TRACKING_BENCH_WARMUP_SECONDS", 20);
// the city grows with the population, so that a smaller run keeps the density of the full one
const CITY_M = env("TRACKING_BENCH_CITY_KM", 40 * Math.sqrt(N / 100_000)) * 1000;
const KILL = process.env["TRACKING_BENCH_KILL"] === "1";
const PARTITIONS = 16;
const RADIUS = 200;
const TOLERANCE = 25;
const MAX_SPEED = 15 / 3.6;
const SILENCE_MS = 10_000;
const TICK_MS = 100;
const LAT0 = 52.3;
const LNG0 = 13.1;
const M_PER_DEG = 111_195;
const COS0 = Math.cos((LAT0 * Math.PI) / 180);
const BLOCK = 100;

// ---- the simulated city ------------------------------------------------------------------

const nOff = Math.round(N * 0.1);
const x = new Float64Array(N);
const y = new Float64Array(N);
const heading = new Uint8Array(N); // 0 E, 1 N, 2 W, 3 S
const speed = new Float64Array(N);
const lastMove = new Float64Array(N);
let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
const isOfficer = (i: number) => i < nOff;
const id = (i: number) => `${isOfficer(i) ? "o" : "c"}${i}`;

for (let i = 0; i < N; i++) {
  heading[i] = Math.floor(rnd() * 4);
  const onX = heading[i]! % 2 === 0;
  x[i] = onX ? rnd() * CITY_M : Math.round((rnd() * CITY_M) / BLOCK) * BLOCK;
  y[i] = onX ? Math.round((rnd() * CITY_M) / BLOCK) * BLOCK : rnd() * CITY_M;
  const r = rnd();
  // officers: 30% parked, 20% walking, 50% driving (8-14 m/s); civilians: 20% standing, 80% walking
  if (isOfficer(i)) speed[i] = r < 0.3 ? 0 : r < 0.5 ? 1 + rnd() * 0.6 : 8 + rnd() * 6;
  else speed[i] = r < 0.2 ? 0 : 1 + rnd() * 0.6;
}

/** Moves device i along the streets for `dt` seconds (turning at crossings, back at the city's edge). */
function move(i: number, dt: number): void {
  let left = speed[i]! * dt;
  while (left > 1e-9) {
    const h = heading[i]!;
    const along = h % 2 === 0 ? x[i]! : y[i]!;
    const dir = h < 2 ? 1 : -1;
    const next =
      dir > 0 ? (Math.floor(along / BLOCK + 1e-9) + 1) * BLOCK : (Math.ceil(along / BLOCK - 1e-9) - 1) * BLOCK;
    const toNext = Math.abs(next - along);
    const step = Math.min(left, toNext);
    const pos = along + dir * step;
    if (h % 2 === 0) x[i] = pos;
    else y[i] = pos;
    left -= step;
    if (step === toNext) {
      let nh = h;
      const r = rnd();
      if (r < 0.15) nh = (h + 1) % 4;
      else if (r < 0.3) nh = (h + 3) % 4;
      const nAlong = nh % 2 === 0 ? x[i]! : y[i]!;
      const nDir = nh < 2 ? 1 : -1;
      if (nAlong + nDir * BLOCK < 0 || nAlong + nDir * BLOCK > CITY_M) nh = (nh + 2) % 4;
      heading[i] = nh;
    }
  }
}

const latOf = (yy: number) => LAT0 + yy / M_PER_DEG;
const lngOf = (xx: number) => LNG0 + xx / (M_PER_DEG * COS0);

// ---- ground truth ------------------------------------------------------------------------

const BUCKET = 250;
/** Smallest true distance seen per (civilian, officer) pair under radius + tolerance. */
const minDist = new Map<string, number>();
const alertable = (i: number) => speed[i]! <= MAX_SPEED;

function truthTick(): void {
  const buckets = new Map<number, number[]>();
  const key = (bx: number, by: number) => bx * 100_000 + by;
  for (let o = 0; o < nOff; o++) {
    if (!alertable(o) || lastMove[o] === 0) continue;
    const k = key(Math.floor(x[o]! / BUCKET), Math.floor(y[o]! / BUCKET));
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = []));
    b.push(o);
  }
  for (let c = nOff; c < N; c++) {
    if (!alertable(c) || lastMove[c] === 0) continue;
    const bx = Math.floor(x[c]! / BUCKET);
    const by = Math.floor(y[c]! / BUCKET);
    for (let dx = -1; dx <= 1; dx++)
      for (let dy = -1; dy <= 1; dy++) {
        for (const o of buckets.get(key(bx + dx, by + dy)) ?? []) {
          const d = haversineM(latOf(y[c]!), lngOf(x[c]!), latOf(y[o]!), lngOf(x[o]!));
          if (d > RADIUS + TOLERANCE) continue;
          const k = `${id(c)}|${id(o)}`;
          const prev = minDist.get(k);
          if (prev === undefined || d < prev) minDist.set(k, d);
        }
      }
  }
}

// ---- the run -----------------------------------------------------------------------------

interface Seen {
  type: string;
  civilian: string;
  officer: string;
  meetingId: string;
  civilianAt: number;
  officerAt: number;
}

function nodeEnv(ns: string, nodeId: string, port: number): Record<string, string> {
  return {
    NAMESPACE: ns,
    NODE_ID: nodeId,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    SERVICES: "runtime,gateway,tracking",
    ACTOR_PARTITIONS: "4",
    LEASE_TTL_MS: "3000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    TRACKING_PARTITIONS: String(PARTITIONS),
    TRACKING_LEASE_TTL_MS: "5000",
    TRACKING_SILENCE_MS: String(SILENCE_MS),
    TRACKING_COOLDOWN_MS: "86400000",
    TRACKING_PUSH: "false",
    TRACKING_SCORE: "false",
    NODE_OPTIONS: `--max-old-space-size=4096${process.env["TRACKING_BENCH_PROFILE"] ? ` --cpu-prof --cpu-prof-dir=${process.env["TRACKING_BENCH_PROFILE"]}` : ""}`,
  };
}

/**
 * A node as a child process (bin/start.ts), ready within `readyMs`: on a loaded box a node's
 * start (TypeScript loading, connections, replicas) can take longer than the tests' 60 s.
 */
async function startNode(env: Record<string, string>, readyMs = 240_000): Promise<ChildNode> {
  const dir = testLogDir();
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(path.join(dir, `${env["NAMESPACE"]}-${env["NODE_ID"]}.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "start.ts")], {
    cwd: path.join(__dirname, ".."),
    env: childEnv(env["NAMESPACE"]!, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const url = `http://127.0.0.1:${env["PORT"]}`;
  const stop = (signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    return exited;
  };
  try {
    await waitFor(
      `node ${env["NODE_ID"]} ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}`);
        return (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200;
      },
      readyMs,
      250,
    );
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
  return { child, url, id: env["NODE_ID"]!, stop };
}

async function ingested(nodes: readonly ChildNode[]): Promise<number> {
  let total = 0;
  for (const n of nodes) {
    const text = await fetch(`${n.url}/metrics`)
      .then((r) => r.text())
      .catch(() => "");
    for (const line of text.split("\n"))
      if (line.startsWith("switchyard_tracking_positions_total")) total += Number(line.split(" ").pop());
  }
  return total;
}

async function readEvents(h: NatsHandles, stream: string): Promise<Seen[]> {
  const info = await h.jsm.streams.info(stream);
  const total = info.state.messages;
  const out: Seen[] = [];
  if (total === 0) return out;
  const c = await h.js.consumers.get(stream);
  while (out.length < total) {
    const batch = await c.fetch({ max_messages: Math.min(10_000, total - out.length), expires: 5000 });
    let got = 0;
    for await (const m of batch) {
      out.push(m.json<Seen>());
      got++;
    }
    if (got === 0) break;
  }
  return out;
}

async function main(): Promise<void> {
  const ns = freshNamespace("btr");
  const h = await connectNats(NATS_URL, `bench-${ns}`);
  const nodes: ChildNode[] = [];
  try {
    const ports = [await freePort(), await freePort()];
    log.info({ ns, devices: N, officers: nOff, kill: KILL }, "starting nodes");
    // one after the other: the second takes its share of the partitions from the first
    for (const [i, nid] of (KILL ? ["b1", "b2"] : ["b1"]).entries())
      nodes.push(await startNode(nodeEnv(ns, nid, ports[i]!)));
    const key = (await makeClientIn(ns, ["tracking:read", "tracking:write"])).apiKey;
    const t0 = Date.now();
    const regs = Array.from({ length: N }, (_, i) => ({
      id: id(i),
      userId: `u${i}`,
      role: isOfficer(i) ? "officer" : "civilian",
    }));
    for (let i = 0; i < N; i += 4000)
      await Promise.all(
        [0, 1000, 2000, 3000].map(async (o) => {
          const devices = regs.slice(i + o, i + o + 1000);
          if (devices.length === 0) return;
          // a PUT of the same devices is idempotent: a 503 (the store slow to answer) is tried again
          for (let attempt = 1; ; attempt++) {
            const r = await json(`${nodes[0]!.url}/api/v1/tracking/devices`, key, "PUT", { devices });
            if (r.status === 200) break;
            if (r.status !== 503 || attempt >= 10) throw new Error(`registration failed: ${r.status} ${r.text}`);
            await new Promise((res) => setTimeout(res, 500 * attempt));
          }
        }),
      );
    log.info({ ms: Date.now() - t0 }, "devices registered");
    await new Promise((r) => setTimeout(r, 2000));

    // first sight of each nearby (latency), on the events subject
    const firstSeen = new Map<string, number>();
    const latencies: number[] = [];
    let measureFrom = Infinity;
    const sub = h.nc.subscribe(`${ns}.tracking.events.nearby.>`, {
      callback: (err, m) => {
        if (err) return;
        const e = m.json<Seen>();
        if (firstSeen.has(e.meetingId)) return;
        const now = Date.now();
        firstSeen.set(e.meetingId, now);
        const trigger = Math.max(e.civilianAt, e.officerAt);
        if (trigger >= measureFrom) latencies.push(now - trigger);
      },
    });

    // lease owners, for the takeover time
    const owners = new Map<number, string>();
    const leaseKv = await h.kvm.open(`${ns}_trk_leases`);
    const lw = await leaseKv.watch({ key: "part.trkdevice.*" });
    void (async () => {
      for await (const e of lw)
        if (e.operation === "PUT") owners.set(Number(e.key.split(".").pop()), e.json<{ owner: string }>().owner);
    })();

    const slots = Math.max(1, Math.round(INTERVAL_MS / TICK_MS));
    const phase = Array.from({ length: slots }, () => [] as number[]);
    for (let i = 0; i < N; i++) phase[Math.floor(rnd() * slots)]!.push(i);
    const start = Date.now();
    const warmEnd = start + WARMUP_S * 1000;
    const end = warmEnd + MEASURE_S * 1000;
    let sent = 0;
    let sentMeasured = 0;
    let ingestedAtWarm = 0;
    let killAt = 0;
    let takeoverMs: number | null = null;
    let killedNode = "";
    let lastTruth = 0;
    let tick = 0;
    log.info({ perSec: Math.round((N * 1000) / INTERVAL_MS), warmupS: WARMUP_S, measureS: MEASURE_S }, "moving");
    while (Date.now() < end) {
      const now = Date.now();
      if (measureFrom === Infinity && now >= warmEnd) {
        measureFrom = now;
        ingestedAtWarm = await ingested(nodes);
      }
      if (KILL && killAt === 0 && now >= warmEnd + MEASURE_S * 400) {
        const victim = nodes[1]!;
        killedNode = victim.id;
        const held = [...owners].filter(([, o]) => o === victim.id).map(([p]) => p);
        log.info({ node: victim.id, partitions: held.length }, "kill -9");
        killAt = Date.now();
        await victim.stop("SIGKILL");
        void waitFor("takeover", () => held.every((p) => owners.get(p) === nodes[0]!.id), 60_000, 20).then(() => {
          takeoverMs = Date.now() - killAt;
          log.info({ takeoverMs }, "every partition of the killed node has a new owner");
        });
      }
      const by = new Map<number, unknown[]>();
      for (const i of phase[tick % slots]!) {
        const dt = lastMove[i] === 0 ? 0 : (now - lastMove[i]!) / 1000;
        move(i, dt);
        lastMove[i] = now;
        const bad = rnd() < 0.01;
        const p = {
          deviceId: id(i),
          lat: latOf(y[i]! + gauss() * 3),
          lng: lngOf(x[i]! + gauss() * 3),
          accuracy: bad ? 150 : 5 + rnd() * 10,
          speed: speed[i]!,
          at: now,
        };
        const part = partitionOf(p.deviceId, PARTITIONS);
        let l = by.get(part);
        if (!l) by.set(part, (l = []));
        l.push(p);
      }
      for (const [part, l] of by) {
        h.nc.publish(`${ns}.tracking.positions.${part}`, JSON.stringify(l));
        sent += l.length;
        if (now >= warmEnd) sentMeasured += l.length;
      }
      if (now - lastTruth >= 1000) {
        truthTick();
        lastTruth = now;
      }
      tick++;
      const wait = start + tick * TICK_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (tick % Math.round(10_000 / TICK_MS) === 0)
        log.info({ s: Math.round((Date.now() - start) / 1000), sent, nearby: firstSeen.size }, "progress");
    }
    await h.nc.flush();
    const measuredS = (Date.now() - measureFrom) / 1000;
    const alive = KILL ? [nodes[0]!] : nodes;
    const ingestedTotal = await ingested(alive);
    const ingestedPerSec = KILL ? null : Math.round((ingestedTotal - ingestedAtWarm) / measuredS);
    log.info({ silenceMs: SILENCE_MS }, "devices silent; waiting for every faraway");
    const stream = `${ns.toUpperCase()}_TRACKING_EVENTS`;
    let events: Seen[] = [];
    const count = (t: string) => events.filter((e) => e.type === t).length;
    await waitFor(
      "one faraway per nearby",
      async () => {
        events = await readEvents(h, stream);
        return count("nearby") > 0 && count("nearby") === count("faraway");
      },
      SILENCE_MS + 60_000,
      2000,
    ).catch((err: unknown) => log.warn({ err: String(err) }, "faraway count did not settle"));
    sub.unsubscribe();
    lw.stop();

    // correctness
    const nearbyByPair = new Map<string, number>();
    for (const e of events)
      if (e.type === "nearby")
        nearbyByPair.set(`${e.civilian}|${e.officer}`, (nearbyByPair.get(`${e.civilian}|${e.officer}`) ?? 0) + 1);
    const should = [...minDist].filter(([, d]) => d <= RADIUS - TOLERANCE).map(([k]) => k);
    const missed = should.filter((k) => !nearbyByPair.has(k));
    const falsePositives = [...nearbyByPair.keys()].filter((k) => (minDist.get(k) ?? Infinity) > RADIUS + TOLERANCE);
    const doubled = [...nearbyByPair.values()].filter((n) => n > 1).length;
    const ids = new Set(events.map((e) => `${e.type}|${e.meetingId}`));
    const result = {
      at: new Date().toISOString(),
      devices: N,
      officers: nOff,
      cityKm: CITY_M / 1000,
      intervalMs: INTERVAL_MS,
      nodes: nodes.length,
      partitions: PARTITIONS,
      warmupS: WARMUP_S,
      measuredS: Math.round(measuredS),
      sentPerSec: Math.round(sentMeasured / measuredS),
      ingestedPerSec,
      positionsSent: sent,
      latencyMs: {
        count: latencies.length,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.length ? Math.max(...latencies) : 0,
      },
      truth: {
        pairsWithinRadiusMinusTolerance: should.length,
        toleranceM: TOLERANCE,
        missed: missed.length,
        falsePositives: falsePositives.length,
        doubled,
      },
      events: { nearby: count("nearby"), faraway: count("faraway"), duplicateIds: events.length - ids.size },
      kill: KILL ? { node: killedNode, takeoverMs } : null,
      // the box's load when the run ends: the node, the NATS server and this driver share its cores
      loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
    // eslint-disable-next-line no-console
    console.log(JSON.stringify(result, null, 2));
    const dir = path.join(__dirname, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, KILL ? "tracking-kill.json" : "tracking.json"), JSON.stringify(result, null, 2));
    if (missed.length > 0) log.warn({ sample: missed.slice(0, 5) }, "missed pairs (sample)");
    if (falsePositives.length > 0) log.warn({ sample: falsePositives.slice(0, 5) }, "false positives (sample)");
  } finally {
    await Promise.all(nodes.map((n) => n.stop("SIGTERM").catch(() => null)));
    await h.nc.close().catch(() => undefined);
    await cleanupRewards(ns).catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log.error({ err: String(err) }, "bench failed");
    process.exit(1);
  },
);
