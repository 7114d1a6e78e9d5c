/**
 * `npm run bench:receipts`: receipts end to end under load. Submits receipts over HTTP at a
 * steady rate (open loop: requests leave on schedule whatever the answers do), the simulators
 * answering as configured (tax async: 202 then a callback 50-300 ms later; warehouse sync,
 * 20-100 ms), and measures:
 *   - sustained receipts/s accepted (202) and accept latency p50/p95/p99,
 *   - time to ACCEPTED p50/p99 (from sending the POST to the actor's ACCEPTED, taken from the
 *     signed client webhook, whose timestamp is when the actor decided),
 *   - lost = submitted (202) minus receipts seen in a terminal status,
 *   - double registrations counted by the simulators.
 * Phases, each drained before the next: a warm-up (BENCH_WARMUP_S at BENCH_WARMUP_RATE: JIT,
 * connections, caches; reported, not judged); the search for the highest sustainable rate (from
 * BENCH_SEARCH_START up by a quarter per step of BENCH_STEP_S until a step fails, then
 * BENCH_BISECT_STEPS bisections; a step is sustainable when every receipt was accepted at its
 * rate, accept p99 < 50 ms, time to ACCEPTED p99 < 1 s and lost = 0); last the target run
 * (BENCH_RATE for BENCH_SECONDS), judged against the targets. CPU per receipt is accounted per
 * phase for every process.
 * Prints the figures and writes bench-results/receipts.json.
 *
 * By default it starts its own platform in a fresh namespace: the simulators
 * (bin/simulators.ts) and BENCH_NODES nodes (bin/start.ts; SERVICES=runtime,gateway,receipts)
 * as child processes, and removes everything afterwards. With BENCH_EXTERNAL=1 it drives the
 * platform already running with the environment's NAMESPACE / PORT / SIM_* settings
 * (`npm start` in dev mode).
 *
 * The nodes it starts re-ask a service whose callback is 20 s overdue (RECEIPT_CALLBACK_WAIT_MS;
 * production default 10 min), so callbacks lost under overload are recovered within the drain.
 * `lost` counts receipts not terminal when the drain stopped making progress (`notTerminal` says
 * where they are).
 *
 * Env: BENCH_RATE (default 1000/s), BENCH_SECONDS (60), BENCH_NODES (1), BENCH_DRAIN_S (60: seconds
 * without progress before the drain gives up),
 * BENCH_WARMUP_S (10), BENCH_WARMUP_RATE (100), BENCH_SEARCH (1; 0 skips it), BENCH_SEARCH_START
 * (100), BENCH_SEARCH_MAX (3000), BENCH_BISECT_STEPS (2), BENCH_STEP_S (20),
 * BENCH_API_NODES (0: API nodes, WORKERS=off, in front of the BENCH_NODES worker nodes),
 * BENCH_EXTERNAL (0), BENCH_MAX_INFLIGHT (3000: requests due beyond it are shed and counted),
 * BENCH_NODE_ARGS (extra node options for the nodes, e.g. --cpu-prof), BENCH_SIM_ARGS (the same for the simulators).
 *
 * `--profile` (or BENCH_PROFILE=1): the bench runs on its own nats-server (a random loopback
 * port, a store under the system temp dir, removed afterwards), so that the server's CPU and
 * its counters are the bench's alone, and every phase adds `profile`: JetStream messages stored
 * per accepted receipt by stream, deliveries per receipt by consumer (each stream's and
 * consumer's sequence before and after the phase and its drain), and the CPU per receipt of
 * each process. `npm run bench:receipts -- --profile`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { loadConfig } from "../node/config";
import { brokerOptions } from "../moleculer.config";
import { createLogger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { httpRequest } from "../lib/http-client";
import { cpuMs, natsServerPid } from "./proc-cpu";
import { RECEIPT_TYPES } from "../services/receipts/types";
import { cleanupNamespace, freshNamespace, nodeEnv } from "../test/support/namespace";
import { cleanupRedis } from "../test/gateway/harness";
import { waitFor } from "../test/support/wait";
import { freePort } from "../test/support/ports";
import { connectNats, type NatsHandles } from "../nats";
import { withNumber } from "../test/receipts/harness";

const log = createLogger({ level: "info", name: "bench:receipts" });
const RATE = Number(process.env["BENCH_RATE"] ?? 1000);
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 60);
/** One node by default: what `npm start` runs, and on 2 cores a second node only competes for them. */
const NODES = Number(process.env["BENCH_NODES"] ?? 1);
/** API nodes (WORKERS=off) in front of the BENCH_NODES worker nodes; 0: the nodes take the load themselves. */
const API_NODES = Number(process.env["BENCH_API_NODES"] ?? 0);
/** The drain gives up after this many seconds in which no receipt reached a terminal status. */
const DRAIN_S = Number(process.env["BENCH_DRAIN_S"] ?? 60);
const EXTERNAL = process.env["BENCH_EXTERNAL"] === "1";
/** Beyond this many requests in flight the client sheds (counts, does not send) instead of piling up sockets. */
const MAX_INFLIGHT = Number(process.env["BENCH_MAX_INFLIGHT"] ?? 3000);
/** The warm-up before anything is judged (JIT, connections, caches). */
const WARMUP_S = Number(process.env["BENCH_WARMUP_S"] ?? 10);
const WARMUP_RATE = Number(process.env["BENCH_WARMUP_RATE"] ?? 100);
/** The search for the highest sustainable rate (BENCH_SEARCH=0 skips it). */
const SEARCH = process.env["BENCH_SEARCH"] !== "0";
const SEARCH_START = Number(process.env["BENCH_SEARCH_START"] ?? 100);
const SEARCH_MAX = Number(process.env["BENCH_SEARCH_MAX"] ?? 3000);
const BISECT_STEPS = Number(process.env["BENCH_BISECT_STEPS"] ?? 2);
/** Seconds each search step offers its rate. */
const STEP_S = Number(process.env["BENCH_STEP_S"] ?? 20);
const ROOT = path.resolve(__dirname, "..");
/** `--profile`: own nats-server, stored messages and deliveries per receipt (see the module doc). */
const PROFILE = process.argv.includes("--profile") || process.env["BENCH_PROFILE"] === "1";

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number): number => Math.round(n * 10) / 10;

function child(script: string, env: NodeJS.ProcessEnv, name: string): ChildProcess {
  const dir = path.join(ROOT, "var", "bench-logs");
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(path.join(dir, `${name}.log`), { flags: "a" });
  // BENCH_NODE_ARGS / BENCH_SIM_ARGS: extra node options for the nodes / the simulators (e.g. --cpu-prof)
  const extra = (process.env[script === "start.ts" ? "BENCH_NODE_ARGS" : "BENCH_SIM_ARGS"] ?? "")
    .split(" ")
    .filter(Boolean);
  const c = spawn(process.execPath, [...extra, "--import", "tsx", path.join(ROOT, "bin", script)], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  c.stdout?.pipe(out);
  c.stderr?.pipe(out);
  return c;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bench reads loose JSON answers
async function json(url: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

interface Sent {
  sentAt: number;
  acceptMs?: number;
  id?: string;
}

/** One load phase as sent. */
interface Phase {
  readonly label: string;
  readonly rate: number;
  readonly seconds: number;
  readonly sent: Sent[];
  readonly statusCounts: Map<number | string, number>;
  readonly maxInflight: number;
  readonly shed: number;
}

/** One load phase measured. */
interface PhaseResult {
  phase: string;
  offeredRate: number;
  seconds: number;
  submitted: number;
  attempted: number;
  httpStatuses: Record<string, number>;
  sustainedReceiptsPerSec: number;
  acceptLatencyMs: { p50: number; p95: number; p99: number; max: number };
  timeToAcceptedMs: { p50: number; p99: number; max: number; measured: number };
  terminal: number;
  byStatus: Record<string, number>;
  notTerminal: Record<string, number>;
  lost: number;
  maxInflight: number;
  shedByClient: number;
  /** Met every criterion of `setup.sustainableMeans`. */
  sustainable: boolean;
  /** CPU (user + system) of each process over the phase and its drain, per accepted receipt. */
  cpuMsPerReceipt?: { nodes: number; simulators: number; natsServer: number; benchClient: number };
  /** With --profile: JetStream work per accepted receipt. */
  profile?: {
    storedPerReceipt: { total: number; byStream: Record<string, number> };
    deliveriesPerReceipt: { total: number; byConsumer: Record<string, number> };
  };
}

/** Stream last sequences and consumer delivery counts of the (bench's own) server. */
async function jetStreamCounters(
  nc: NatsHandles,
  ns: string,
): Promise<{ streams: Map<string, number>; consumers: Map<string, number> }> {
  const streams = new Map<string, number>();
  const consumers = new Map<string, number>();
  const short = (name: string): string => name.replace(new RegExp(`${ns}_?`, "i"), "");
  for await (const si of nc.jsm.streams.list()) {
    const name = si.config.name;
    if (!name.toLowerCase().includes(ns.toLowerCase())) continue;
    streams.set(short(name), si.state.last_seq);
    for await (const ci of nc.jsm.consumers.list(name)) {
      // partition consumers per actor kind summed: one row per stream and consumer family
      const family = ci.name.replace(/\d+$/, "*");
      const key = `${short(name)}/${family}`;
      consumers.set(key, (consumers.get(key) ?? 0) + ci.delivered.consumer_seq);
    }
  }
  return { streams, consumers };
}

/** Runs this bench again as a child on its own nats-server (--profile), then removes the server. */
async function profileOnOwnServer(): Promise<number> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-nats-"));
  const server = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
    stdio: "ignore",
  });
  try {
    await waitFor(
      "own nats-server",
      async () =>
        (await connectNats(`nats://127.0.0.1:${port}`, "bench-probe").then((h) => h.nc.close())) === undefined,
      10_000,
      100,
    );
    log.info({ port, pid: server.pid, dir }, "profile: own nats-server");
    const c = spawn(process.execPath, ["--import", "tsx", __filename, ...process.argv.slice(2)], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: `nats://127.0.0.1:${port}`, BENCH_NATS_PID: String(server.pid) },
      stdio: "inherit",
    });
    return await new Promise<number>((resolve) => c.once("exit", (code) => resolve(code ?? 1)));
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (PROFILE && !EXTERNAL && process.env["BENCH_NATS_PID"] === undefined) {
    const code = await profileOnOwnServer();
    if (code !== 0) throw new Error(`the profiled bench exited with ${code}`);
    return;
  }
  const ns = EXTERNAL ? loadConfig().namespace : freshNamespace("bench");
  const procs: ChildProcess[] = [];
  let gateways: string[];
  let simTax: string;
  let simWh: string;

  // webhook receiver: terminal statuses and when the actor decided them
  const terminal = new Map<string, { status: string; decidedAt: number }>();
  const hookServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          timestamp: string;
          data: { id: string; status: string };
        };
        if (!terminal.has(body.data.id))
          terminal.set(body.data.id, { status: body.data.status, decidedAt: Date.parse(body.timestamp) });
      } catch {
        // ignore
      }
      res.writeHead(204).end();
    });
  });
  hookServer.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hooks`;

  if (EXTERNAL) {
    const config = loadConfig();
    gateways = [config.receipts.publicUrl];
    simTax = `http://${config.receipts.sim.host}:${config.receipts.sim.taxPort}`;
    simWh = `http://${config.receipts.sim.host}:${config.receipts.sim.warehousePort}`;
  } else {
    const [taxPort, whPort] = [await freePort(), await freePort()];
    simTax = `http://127.0.0.1:${taxPort}`;
    simWh = `http://127.0.0.1:${whPort}`;
    procs.push(
      child(
        "simulators.ts",
        { ...process.env, LOG_LEVEL: "warn", SIM_TAX_PORT: String(taxPort), SIM_WAREHOUSE_PORT: String(whPort) },
        `${ns}-sims`,
      ),
    );
    await waitFor("simulators", async () => (await fetch(`${simWh}/health`).catch(() => undefined))?.ok, 30_000, 100);
    // BENCH_API_NODES > 0: API nodes (WORKERS=off) take the load and the callbacks; the
    // BENCH_NODES worker nodes host the actors, jobs and writers
    const apiPorts = await Promise.all(Array.from({ length: API_NODES }, () => freePort()));
    const apiUrls = apiPorts.map((p) => `http://127.0.0.1:${p}`);
    const nodeUrls: string[] = [];
    const startNodeProc = (name: string, port: number, extra: Record<string, string>): void => {
      procs.push(
        child(
          "start.ts",
          nodeEnv(ns, {
            NODE_ID: `bench-${name}`,
            SERVICES: "runtime,gateway,receipts",
            PORT: String(port),
            PUBLIC_URL: apiUrls[0] ?? `http://127.0.0.1:${port}`,
            TAX_API_URL: simTax,
            WAREHOUSE_API_URL: simWh,
            LOG_LEVEL: "warn",
            GATEWAY_RATE_PER_SEC: "1000000",
            GATEWAY_RATE_BURST: "1000000",
            RECEIPT_CALLBACK_WAIT_MS: "20000",
            ...extra,
          }),
          `${ns}-${name}`,
        ),
      );
      nodeUrls.push(`http://127.0.0.1:${port}`);
    };
    for (let i = 0; i < NODES; i++) startNodeProc(`node${i + 1}`, await freePort(), {});
    apiPorts.forEach((port, i) => startNodeProc(`api${i + 1}`, port, { WORKERS: "off" }));
    gateways = API_NODES > 0 ? apiUrls : nodeUrls;
    for (const g of nodeUrls)
      await waitFor(
        `node ${g} ready`,
        async () => (await fetch(`${g}/health/ready`).catch(() => undefined))?.status === 200,
        90_000,
        200,
      );
  }
  log.info({ ns, gateways, simTax, simWh, rate: RATE, seconds: SECONDS }, "platform ready");

  const broker = new ServiceBroker(
    brokerOptions(
      loadConfig({ ...process.env, NAMESPACE: ns, NODE_ID: `bench-client-${process.pid}`, LOG_LEVEL: "warn" }),
      { logger: false },
    ),
  );
  try {
    await broker.start();
    await broker.waitForServices(["clients"], 30_000);
    const client = (await broker.call("clients.create", {
      params: {},
      query: {},
      body: {
        name: "bench",
        scopes: ["receipts:read", "receipts:write"],
        webhookUrl: hookUrl,
        rateLimit: { perSec: 1_000_000, burst: 1_000_000 },
      },
    })) as { apiKey: string };
    await json(`${simTax}/admin/reset`, { method: "POST" });
    await json(`${simWh}/admin/reset`, { method: "POST" });
    await json(`${simTax}/admin/config`, {
      method: "PUT",
      body: JSON.stringify({ mode: "async", latencyMs: { min: 1, max: 10 }, callbackDelayMs: { min: 50, max: 300 } }),
    });
    await json(`${simWh}/admin/config`, {
      method: "PUT",
      body: JSON.stringify({ mode: "sync", latencyMs: { min: 20, max: 100 } }),
    });

    // every receipt its own number (a receipt's natural identity is client, type and number:
    // the same example twice would be one receipt); the body split once around the number
    const NUM = "\u0001";
    const bodies = RECEIPT_TYPES.flatMap((t) => [
      { parts: withNumber(t.examples.json, NUM).split(NUM), type: "application/json" },
      { parts: withNumber(t.examples.xml, NUM).split(NUM), type: "application/xml" },
    ]);
    const numberBase = Math.floor(Date.now() / 1000) % 1_000_000_000;
    const auth = `Bearer ${client.apiKey}`;
    const terminalStatuses = new Set(["ACCEPTED", "REJECTED", "INVALID", "FAILED"]);
    let seq = 0;

    /** Offers `rate` receipts/s for `seconds` (open loop: requests leave on schedule whatever the answers do). */
    async function load(label: string, rate: number, seconds: number): Promise<Phase> {
      const sent: Sent[] = [];
      const statusCounts = new Map<number | string, number>();
      let inflight = 0;
      let maxInflight = 0;
      let shed = 0;
      const pending: Promise<void>[] = [];
      const submit = (): Promise<void> => {
        const n = seq++;
        const s: Sent = { sentAt: Date.now() };
        sent.push(s);
        const b = bodies[n % bodies.length]!;
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        const t0 = performance.now();
        // keep-alive undici (lib/http-client.ts): a fraction of fetch's CPU per request,
        // which counts here because the client shares the machine with the platform
        return httpRequest(`${gateways[n % gateways.length]}/api/v1/receipts`, {
          method: "POST",
          headers: { Authorization: auth, "Content-Type": b.type },
          body: b.parts.join(String(numberBase + n)),
        })
          .then((res) => {
            statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
            if (res.status === 202) {
              s.acceptMs = performance.now() - t0;
              s.id = (JSON.parse(res.text) as { id: string }).id;
            }
          })
          .catch((err: unknown) => {
            // network-level failures, by cause (e.g. ECONNRESET)
            const code = `error:${(err as { code?: string }).code ?? (err as Error).name}`;
            statusCounts.set(code, (statusCounts.get(code) ?? 0) + 1);
          })
          .finally(() => inflight--);
      };
      const total = Math.round(rate * seconds);
      const start = Date.now();
      let n = 0;
      let lastReport = start;
      await new Promise<void>((resolve) => {
        // every 10 ms, the requests due by now
        const tick = setInterval(() => {
          const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate));
          while (n < due) {
            n++;
            if (inflight >= MAX_INFLIGHT) shed++;
            else pending.push(submit());
          }
          const now = Date.now();
          if (now - lastReport >= 5000) {
            lastReport = now;
            // accept latency of the requests sent in the last window (answered so far)
            const win = sent
              .filter((x) => x.sentAt >= now - 6000 && x.sentAt < now - 1000 && x.acceptMs !== undefined)
              .map((x) => x.acceptMs!)
              .sort((a, b) => a - b);
            log.info(
              {
                phase: label,
                rate,
                sent: n,
                accepted: sent.filter((x) => x.id).length,
                terminal: terminal.size,
                inflight,
                windowAcceptP99Ms: round(percentile(win, 99)),
              },
              "progress",
            );
          }
          if (n >= total) {
            clearInterval(tick);
            resolve();
          }
        }, 10);
      });
      await Promise.all(pending);
      return { label, rate, seconds: (Date.now() - start) / 1000, sent, statusCounts, maxInflight, shed };
    }

    /** Waits (up to `drainS`) for every accepted receipt of `phase` to be terminal, then measures it. */
    async function measure(phase: Phase, drainS: number): Promise<PhaseResult> {
      const accepted = phase.sent.filter((s) => s.id !== undefined);
      const ids = accepted.map((s) => s.id!);
      // drain: wait while receipts keep reaching terminal statuses; give up after `drainS`
      // seconds without progress (a backlog of any size drains, a stuck receipt is reported)
      let done = 0;
      let lastProgress = Date.now();
      for (;;) {
        const now = ids.reduce((a, id) => a + (terminal.has(id) ? 1 : 0), 0);
        if (now === ids.length) break;
        if (now > done) {
          if (Date.now() - lastProgress > 5000)
            log.info({ phase: phase.label, terminal: now, of: ids.length }, "draining");
          done = now;
          lastProgress = Date.now();
        } else if (Date.now() - lastProgress > drainS * 1000) {
          log.warn({ phase: phase.label, missing: ids.length - now }, "no progress; asking for the status of the rest");
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      // receipts whose webhook did not arrive (yet): ask their status
      const notTerminal: Record<string, number> = {};
      for (const id of ids.filter((x) => !terminal.has(x))) {
        try {
          const st = (await json(`${gateways[0]}/api/v1/receipts/${id}/status`, {
            headers: { Authorization: auth },
          })) as { status: string };
          if (terminalStatuses.has(st.status)) terminal.set(id, { status: st.status, decidedAt: NaN });
          else notTerminal[st.status] = (notTerminal[st.status] ?? 0) + 1;
        } catch (err) {
          notTerminal["UNREADABLE"] = (notTerminal["UNREADABLE"] ?? 0) + 1;
          log.warn({ id, err: errorMessage(err) }, "status unreadable");
        }
      }
      const acceptLat = accepted.map((s) => s.acceptMs!).sort((a, b) => a - b);
      const toAccepted = accepted
        .map((s) => ({ s, t: terminal.get(s.id!) }))
        .filter((x) => x.t?.status === "ACCEPTED" && Number.isFinite(x.t.decidedAt))
        .map((x) => x.t!.decidedAt - x.s.sentAt)
        .sort((a, b) => a - b);
      const byStatus: Record<string, number> = {};
      for (const id of ids) {
        const t = terminal.get(id);
        if (t) byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
      }
      const terminalCount = ids.filter((id) => terminal.has(id)).length;
      const r: PhaseResult = {
        phase: phase.label,
        offeredRate: phase.rate,
        seconds: round(phase.seconds),
        submitted: accepted.length,
        attempted: phase.sent.length,
        httpStatuses: Object.fromEntries([...phase.statusCounts].map(([k, v]) => [String(k), v])),
        sustainedReceiptsPerSec: round(accepted.length / phase.seconds),
        acceptLatencyMs: {
          p50: round(percentile(acceptLat, 50)),
          p95: round(percentile(acceptLat, 95)),
          p99: round(percentile(acceptLat, 99)),
          max: round(acceptLat.at(-1) ?? 0),
        },
        timeToAcceptedMs: {
          p50: round(percentile(toAccepted, 50)),
          p99: round(percentile(toAccepted, 99)),
          max: round(toAccepted.at(-1) ?? 0),
          measured: toAccepted.length,
        },
        terminal: terminalCount,
        byStatus,
        notTerminal,
        lost: accepted.length - terminalCount,
        maxInflight: phase.maxInflight,
        shedByClient: phase.shed,
        sustainable: false,
      };
      r.sustainable =
        r.shedByClient === 0 &&
        r.submitted === r.attempted &&
        r.sustainedReceiptsPerSec >= 0.99 * phase.rate &&
        r.acceptLatencyMs.p99 < 50 &&
        toAccepted.length > 0 &&
        r.timeToAcceptedMs.p99 < 1000 &&
        r.lost === 0;
      log.info(
        {
          phase: r.phase,
          rate: r.offeredRate,
          sustained: r.sustainedReceiptsPerSec,
          acceptP99: r.acceptLatencyMs.p99,
          toAcceptedP99: r.timeToAcceptedMs.p99,
          lost: r.lost,
          shed: r.shedByClient,
          httpStatuses: r.httpStatuses,
          sustainable: r.sustainable,
        },
        "phase measured",
      );
      return r;
    }

    // CPU of the platform's processes, accounted per phase (from its first request to the end of its drain)
    const nodePids: (number | undefined)[] = procs.slice(1).map((p) => p.pid);
    const natsPid = process.env["BENCH_NATS_PID"] ? Number(process.env["BENCH_NATS_PID"]) : natsServerPid();
    const js = PROFILE ? await connectNats(process.env["NATS_URL"] ?? "nats://127.0.0.1:4222", "bench-profile") : null;
    const cpuMark = (): { nodes: number; sims: number; nats: number; bench: NodeJS.CpuUsage } => ({
      nodes: nodePids.reduce<number>((a, p) => a + cpuMs(p), 0),
      sims: cpuMs(procs[0]?.pid),
      nats: cpuMs(natsPid),
      bench: process.cpuUsage(),
    });
    const load0 = os.loadavg()[0];

    /** Offers `rate` for `seconds`, drains, measures, and accounts CPU per accepted receipt. */
    async function phase(label: string, rate: number, seconds: number): Promise<PhaseResult> {
      const j0 = js ? await jetStreamCounters(js, ns) : null;
      const c0 = cpuMark();
      const r = await measure(await load(label, rate, seconds), DRAIN_S);
      if (js && j0) {
        const j1 = await jetStreamCounters(js, ns);
        const n = Math.max(1, r.submitted);
        const per = (a: Map<string, number>, b: Map<string, number>): { total: number; by: Record<string, number> } => {
          const by: Record<string, number> = {};
          let total = 0;
          for (const [k, v] of b) {
            const d = v - (a.get(k) ?? 0);
            if (d <= 0) continue;
            by[k] = Math.round((d / n) * 100) / 100;
            // the lease bucket is renewed on a timer, not per receipt
            if (!/lease/i.test(k)) total += d;
          }
          return { total: Math.round((total / n) * 100) / 100, by };
        };
        const st = per(j0.streams, j1.streams);
        const dl = per(j0.consumers, j1.consumers);
        r.profile = {
          storedPerReceipt: { total: st.total, byStream: st.by },
          deliveriesPerReceipt: { total: dl.total, byConsumer: dl.by },
        };
        log.info({ phase: label, ...r.profile }, "profile: JetStream per receipt");
      }
      if (!EXTERNAL) {
        const c1 = cpuMark();
        const bench = process.cpuUsage(c0.bench);
        const per = (ms: number): number => round(ms / Math.max(1, r.submitted));
        r.cpuMsPerReceipt = {
          nodes: per(c1.nodes - c0.nodes),
          simulators: per(c1.sims - c0.sims),
          natsServer: per(c1.nats - c0.nats),
          benchClient: per((bench.user + bench.system) / 1000),
        };
      }
      return r;
    }

    // 1. a warm-up (JIT, connections, caches), measured but not judged
    const warmupResult = WARMUP_S > 0 ? await phase("warm-up", WARMUP_RATE, WARMUP_S) : undefined;

    // 2. the highest sustainable rate: up by a quarter per step from SEARCH_START until a step
    //    fails, then bisection between the last rate that held and the first that did not.
    //    Done before the target run, so that no step starts on the remains of an overload.
    const search: PhaseResult[] = [];
    let highest = 0;
    if (SEARCH) {
      let rate = SEARCH_START;
      let failed: number | undefined;
      while (failed === undefined && rate <= SEARCH_MAX) {
        const r = await phase(`search-${search.length + 1}`, rate, STEP_S);
        search.push(r);
        if (r.sustainable) {
          highest = rate;
          rate = Math.max(rate + 1, Math.round(rate * 1.25));
        } else failed = rate;
      }
      for (let i = 0; i < BISECT_STEPS && failed !== undefined; i++) {
        const mid = Math.round((highest + failed) / 2);
        if (mid <= highest || mid >= failed) break;
        const r = await phase(`search-${search.length + 1}`, mid, STEP_S);
        search.push(r);
        if (r.sustainable) highest = mid;
        else failed = mid;
      }
    }

    // 3. the target run
    const mainResult = await phase("target", RATE, SECONDS);
    const atHighest = search.filter((r) => r.offeredRate === highest && r.sustainable).at(-1);

    const simT = await json(`${simTax}/admin/registrations?summary=1`);
    const simW = await json(`${simWh}/admin/registrations?summary=1`);
    const everyPhase = [...(warmupResult ? [warmupResult] : []), ...search, mainResult];
    const result = {
      bench: "receipts",
      at: new Date().toISOString(),
      setup: {
        nodes: EXTERNAL ? "external" : NODES,
        apiNodes: EXTERNAL ? "external" : API_NODES,
        rate: RATE,
        seconds: SECONDS,
        warmup: { seconds: WARMUP_S, rate: WARMUP_RATE },
        search: SEARCH ? { start: SEARCH_START, max: SEARCH_MAX, stepSeconds: STEP_S, bisections: BISECT_STEPS } : null,
        tax: "async: 202 after 1-10 ms, callback 50-300 ms later",
        warehouse: "sync: 201 after 20-100 ms",
        mix: "retail, invoice, fiscal; JSON and XML in turn (about 1-1.5 KB each)",
        sustainableMeans:
          "every offered receipt accepted (>= 99% of the rate, none shed), accept p99 < 50 ms, time to ACCEPTED p99 < 1 s, lost = 0",
      },
      machine: {
        cpus: os.cpus().length,
        loadAverage1mAtStart: round(load0 ?? 0),
        loadAverage1mAtEnd: round(os.loadavg()[0] ?? 0),
      },
      ...mainResult,
      warmup: warmupResult,
      highestSustainableReceiptsPerSec: SEARCH ? highest : null,
      /** CPU per receipt of each process at the highest sustainable rate (the target run's is above, under its load). */
      cpuMsPerReceiptAtHighest: atHighest?.cpuMsPerReceipt ?? null,
      search,
      lostInAllPhases: everyPhase.reduce((a, r) => a + r.lost, 0),
      simulators: {
        tax: {
          registrations: simT.registrations,
          duplicateCalls: simT.duplicateCalls,
          doubleRegistrations: simT.doubleRegistrations,
        },
        warehouse: {
          registrations: simW.registrations,
          duplicateCalls: simW.duplicateCalls,
          doubleRegistrations: simW.doubleRegistrations,
        },
      },
      targets: {
        "1000 receipts/s for 60 s":
          mainResult.sustainedReceiptsPerSec >= 990 && RATE >= 1000 && SECONDS >= 60 && mainResult.shedByClient === 0,
        "accept p99 < 50 ms": mainResult.acceptLatencyMs.p99 < 50,
        "time to ACCEPTED p99 < 1 s":
          mainResult.timeToAcceptedMs.measured > 0 && mainResult.timeToAcceptedMs.p99 < 1000,
        "lost = 0": mainResult.lost === 0,
      },
    };
    mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
    writeFileSync(path.join(ROOT, "bench-results", "receipts.json"), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await broker.stop().catch(() => undefined);
    hookServer.close();
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(
      procs.map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", r)))),
    );
    if (!EXTERNAL) {
      await cleanupNamespace(ns).catch(() => undefined);
      await cleanupRedis(ns).catch(() => undefined);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log.error({ err: errorMessage(err) }, "bench failed");
    process.exit(1);
  },
);
