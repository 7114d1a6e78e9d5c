/**
 * `npm run bench:libs`: the figures behind two hand-written parts kept over a library.
 *
 * 1. Outbound HTTP: lib/http-client.ts (undici `request` with its keep-alive Agent since
 *    2026-12-01; node:http agents before) against Node's global `fetch` (the undici inside
 *    Node), and, when the `undici` package resolves, against undici used bare as
 *    `request(url, { dispatcher: Agent })` (the shape of `httpRequest`) and as `Pool.request`. Keep-alive POSTs of a 2 KB JSON body to a local server (its own process,
 *    so it is not counted) that answers 202 with a small JSON body, at a fixed concurrency.
 *    Each client runs in a fresh process: CPU µs per request (user + system of that process,
 *    `process.cpuUsage`) and requests per second.
 * 2. nats/tuning.ts off, on, and each of its two fixes alone: acked JetStream publishes (2 KB,
 *    a memory stream of its own, removed afterwards) at a fixed number in flight, each mode in a
 *    fresh process with the connection options of nats/connection.ts. CPU µs per acked publish
 *    of the publishing process, publishes per second, and the nats-server's CPU per publish (a
 *    shared server: noisy when other work runs on it). Then the same process consumes those
 *    messages (a pull consumer, 512 at a time) and acks each, as an actor host does: CPU µs per
 *    consumed and acked message.
 *
 * Runs alternate between the variants (ROUNDS times) and the median of each is reported.
 * Everything is bounded (a fixed count of requests) and on the loopback only.
 * Prints the figures and writes bench-results/libs.json.
 *
 * Env: LIBS_ROUNDS (5), LIBS_HTTP_REQUESTS (20000), LIBS_HTTP_CONCURRENCY (32),
 * LIBS_NATS_PUBLISHES (50000), LIBS_NATS_INFLIGHT (64), LIBS_SKIP (`http` or `nats`),
 * NATS_URL (nats://127.0.0.1:4222).
 */
import { fork, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { AckPolicy, StorageType, connect, jetstream, jetstreamManager } from "../nats";
import { httpRequest } from "../lib/http-client";
import { listen, readBody, send } from "../lib/sim-http";
import { applyNatsTuning, type TuningChoice } from "../nats/tuning";
import { cpuMs, natsServerPid } from "./proc-cpu";
import { createLogger } from "../lib/logger";

const ROUNDS = Number(process.env["LIBS_ROUNDS"] ?? 5);
const HTTP_REQUESTS = Number(process.env["LIBS_HTTP_REQUESTS"] ?? 20_000);
const HTTP_CONCURRENCY = Number(process.env["LIBS_HTTP_CONCURRENCY"] ?? 32);
const NATS_PUBLISHES = Number(process.env["LIBS_NATS_PUBLISHES"] ?? 50_000);
const NATS_INFLIGHT = Number(process.env["LIBS_NATS_INFLIGHT"] ?? 64);
const SKIP = process.env["LIBS_SKIP"] ?? "";
const NATS_URL = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
const ROOT = path.resolve(__dirname, "..");
/** Warm-up before each measured run (JIT, connections), as a share of the measured count. */
const WARMUP_SHARE = 0.1;

/** A 2 KB JSON body, the size of an average document of the platform's traffic. */
function body2k(): string {
  const filler = "x".repeat(2048 - 40);
  return JSON.stringify({ id: randomUUID(), filler });
}

/** One measured run of a child. */
interface RunFigures {
  readonly count: number;
  readonly wallMs: number;
  readonly cpuUsPerOp: number;
  readonly opsPerSec: number;
  readonly serverCpuUsPerOp?: number;
  readonly errors: number;
}

/** The CPU (µs, user + system) this process used since `from`. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

/** Runs `op` `count` times with `concurrency` in flight; resolves with wall ms, CPU µs and errors. */
async function drive(
  count: number,
  concurrency: number,
  op: () => Promise<void>,
): Promise<{ wallMs: number; cpuUs: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await op().catch(() => void errors++);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { wallMs: performance.now() - t0, cpuUs: cpuSince(cpu0), errors };
}

/** What undici's `request` answers, as far as this bench reads it. */
interface UndiciResponse {
  readonly statusCode: number;
  readonly body: { text(): Promise<string> };
}

/** The part of undici's API this bench uses (the package is optional here). */
interface UndiciLike {
  Pool: new (
    origin: string,
    opts: { connections: number; pipelining: number },
  ) => {
    request(opts: {
      path: string;
      method: string;
      headers: Record<string, string>;
      body: string;
    }): Promise<UndiciResponse>;
    close(): Promise<void>;
  };
  Agent: new (opts: { connections: number; pipelining: number }) => { close(): Promise<void> };
  request(
    url: string,
    opts: { method: string; headers: Record<string, string>; body: string; dispatcher: unknown },
  ): Promise<UndiciResponse>;
}

/** The undici package when it resolves from this project, else undefined. */
function undiciPackage(): UndiciLike | undefined {
  try {
    return createRequire(__filename)("undici") as UndiciLike;
  } catch {
    return undefined;
  }
}

/** Child role: the local HTTP server. Answers every POST with 202 and a small JSON body. */
async function httpServer(): Promise<void> {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    readBody(req, 1 << 20).then(
      () => send(res, 202, { accepted: true, id: "r-1" }),
      () => send(res, 400, {}),
    );
  });
  const { port } = await listen(server, 0, "127.0.0.1");
  process.send?.({ port });
}

/** Child role: one HTTP client measured alone in this process. */
async function httpClient(client: string, url: string): Promise<void> {
  const body = body2k();
  const headers = { "Content-Type": "application/json" };
  let op: () => Promise<void>;
  let close = async (): Promise<void> => undefined;
  if (client === "http-client") {
    op = async () => {
      const res = await httpRequest(url, { method: "POST", headers, body });
      if (res.status !== 202) throw new Error(`HTTP ${res.status}`);
    };
  } else if (client === "fetch") {
    op = async () => {
      const res = await fetch(url, { method: "POST", headers, body });
      await res.text();
      if (res.status !== 202) throw new Error(`HTTP ${res.status}`);
    };
  } else if (client === "undici-request") {
    // the drop-in shape of httpRequest(url, opts): a URL per call, one multi-origin Agent
    const undici = undiciPackage();
    if (!undici) throw new Error("undici does not resolve");
    const agent = new undici.Agent({ connections: HTTP_CONCURRENCY, pipelining: 1 });
    op = async () => {
      const res = await undici.request(url, { method: "POST", headers, body, dispatcher: agent });
      await res.body.text();
      if (res.statusCode !== 202) throw new Error(`HTTP ${res.statusCode}`);
    };
    close = () => agent.close();
  } else {
    const undici = undiciPackage();
    if (!undici) throw new Error("undici does not resolve");
    const u = new URL(url);
    const pool = new undici.Pool(u.origin, { connections: HTTP_CONCURRENCY, pipelining: 1 });
    op = async () => {
      const res = await pool.request({ path: u.pathname, method: "POST", headers, body });
      await res.body.text();
      if (res.statusCode !== 202) throw new Error(`HTTP ${res.statusCode}`);
    };
    close = () => pool.close();
  }
  await drive(Math.ceil(HTTP_REQUESTS * WARMUP_SHARE), HTTP_CONCURRENCY, op);
  const r = await drive(HTTP_REQUESTS, HTTP_CONCURRENCY, op);
  await close();
  const figures: RunFigures = {
    count: HTTP_REQUESTS,
    wallMs: r.wallMs,
    cpuUsPerOp: r.cpuUs / HTTP_REQUESTS,
    opsPerSec: (HTTP_REQUESTS / r.wallMs) * 1000,
    errors: r.errors,
  };
  process.send?.(figures, () => process.exit(0));
}

/** The variants of nats/tuning.ts measured: none, both fixes, and each fix alone. */
const NATS_MODES: Record<string, TuningChoice> = {
  off: {},
  on: {},
  writes: { coalescedWrites: true, sharedCancelError: false },
  cancel: { coalescedWrites: false, sharedCancelError: true },
};

/** Child role: acked JetStream publishes with the tuning off, on, or one fix alone. */
async function natsPublisher(mode: string): Promise<void> {
  if (mode !== "off") applyNatsTuning(NATS_MODES[mode] ?? {});
  // the options of nats/connection.ts connectNats, which applies the tuning itself
  const nc = await connect({
    servers: NATS_URL,
    name: `bench-libs-${mode}`,
    noAsyncTraces: true,
    pingInterval: 10_000,
  });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = `BENCHLIBS_${randomUUID().slice(0, 8).toUpperCase()}`;
  const subject = `benchlibs.${name.toLowerCase()}`;
  await jsm.streams.add({ name, subjects: [`${subject}.>`], storage: StorageType.Memory, max_age: 10 * 60 * 1e9 });
  const payload = Buffer.from(body2k());
  let n = 0;
  const op = async (): Promise<void> => {
    await js.publish(`${subject}.${n++ % 64}`, payload);
  };
  const serverPid = natsServerPid();
  try {
    await drive(Math.ceil(NATS_PUBLISHES * WARMUP_SHARE), NATS_INFLIGHT, op);
    const server0 = cpuMs(serverPid);
    const r = await drive(NATS_PUBLISHES, NATS_INFLIGHT, op);
    const serverCpuMs = cpuMs(serverPid) - server0;
    const publish: RunFigures = {
      count: NATS_PUBLISHES,
      wallMs: r.wallMs,
      cpuUsPerOp: r.cpuUs / NATS_PUBLISHES,
      opsPerSec: (NATS_PUBLISHES / r.wallMs) * 1000,
      ...(serverPid !== undefined ? { serverCpuUsPerOp: (serverCpuMs * 1000) / NATS_PUBLISHES } : {}),
      errors: r.errors,
    };
    // Then consume what was published and ack each message (an actor host's loop): many acks
    // come from one socket read, which is where coalesced writes should show.
    await jsm.consumers.add(name, { durable_name: "bench", ack_policy: AckPolicy.Explicit });
    const messages = await (await js.consumers.get(name, "bench")).consume({ max_messages: 512 });
    const warm = Math.ceil(NATS_PUBLISHES * WARMUP_SHARE);
    let seen = 0;
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    const s0 = cpuMs(serverPid);
    let s1 = s0;
    for await (const m of messages) {
      m.ack();
      if (++seen === warm) {
        cpu0 = process.cpuUsage();
        t0 = performance.now();
        s1 = cpuMs(serverPid);
      }
      if (seen === warm + NATS_PUBLISHES) break;
    }
    const wallMs = performance.now() - t0;
    const cpuUs = cpuSince(cpu0);
    await messages.close().catch(() => undefined);
    const consumeAck: RunFigures = {
      count: NATS_PUBLISHES,
      wallMs,
      cpuUsPerOp: cpuUs / NATS_PUBLISHES,
      opsPerSec: (NATS_PUBLISHES / wallMs) * 1000,
      ...(serverPid !== undefined ? { serverCpuUsPerOp: ((cpuMs(serverPid) - s1) * 1000) / NATS_PUBLISHES } : {}),
      errors: 0,
    };
    process.send?.({ publish, consumeAck }, () => process.exit(0));
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
    await nc.close().catch(() => undefined);
  }
}

/** Forks this file in `role` and resolves with its first message. */
function spawnRole<T>(role: string, args: string[]): Promise<{ child: ChildProcess; msg: T }> {
  const child = fork(__filename, [role, ...args], { execArgv: ["--import", "tsx"], cwd: ROOT });
  return new Promise((resolve, reject) => {
    child.once("message", (msg) => resolve({ child, msg: msg as T }));
    child.once("exit", (code) => reject(new Error(`${role} ${args.join(" ")} exited with ${code}`)));
  });
}

/** Runs one child to completion and returns its figures. */
async function runChild<T = RunFigures>(role: string, args: string[]): Promise<T> {
  const { child, msg } = await spawnRole<T>(role, args);
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
  return msg;
}

/** The median run of each figure (runs are few: the middle one, or the lower middle). */
function median(runs: readonly RunFigures[]): RunFigures & { runs: number } {
  const mid = <K extends keyof RunFigures>(k: K): number => {
    const v = runs.map((r) => Number(r[k] ?? NaN)).sort((a, b) => a - b);
    return v[Math.floor((v.length - 1) / 2)]!;
  };
  const server = runs.every((r) => r.serverCpuUsPerOp !== undefined)
    ? { serverCpuUsPerOp: round(mid("serverCpuUsPerOp")) }
    : {};
  return {
    runs: runs.length,
    count: runs[0]?.count ?? 0,
    wallMs: round(mid("wallMs")),
    cpuUsPerOp: round(mid("cpuUsPerOp")),
    opsPerSec: Math.round(mid("opsPerSec")),
    ...server,
    errors: runs.reduce((s, r) => s + r.errors, 0),
  };
}

const round = (v: number): number => Math.round(v * 10) / 10;

/** Runs every variant ROUNDS times, alternating (the order turns each round). */
async function alternate(
  variants: readonly string[],
  run: (v: string) => Promise<RunFigures>,
): Promise<Record<string, RunFigures[]>> {
  const out: Record<string, RunFigures[]> = Object.fromEntries(variants.map((v) => [v, []]));
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) out[v]!.push(await run(v));
  }
  return out;
}

async function main(): Promise<void> {
  const log = createLogger({ level: "info", name: "bench:libs" });
  const box = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? "?",
    node: process.version,
    undiciInNode: process.versions["undici"] ?? "?",
    loadavg: os.loadavg().map(round),
  };
  const result: Record<string, unknown> = { date: new Date().toISOString(), box, rounds: ROUNDS };
  log.info(box, "box");

  if (SKIP !== "http") {
    const { child: server, msg } = await spawnRole<{ port: number }>("http-server", []);
    const url = `http://127.0.0.1:${msg.port}/registrations`;
    const clients = ["http-client", "fetch", ...(undiciPackage() ? ["undici-request", "undici-pool"] : [])];
    if (clients.length === 2) log.info("undici does not resolve from this project: its Pool/request is not measured");
    const serverPid = server.pid;
    const serverCpu: Record<string, number[]> = {};
    const runs = await alternate(clients, async (c) => {
      const s0 = cpuMs(serverPid);
      const r = await runChild("http-client", [c, url]);
      (serverCpu[c] ??= []).push(((cpuMs(serverPid) - s0) * 1000) / (r.count * (1 + WARMUP_SHARE)));
      return r;
    });
    server.kill("SIGTERM");
    const figures = Object.fromEntries(
      Object.entries(runs).map(([c, r]) => [
        c,
        {
          ...median(r),
          serverCpuUsPerOp: round(
            [...serverCpu[c]!].sort((a, b) => a - b)[Math.floor((serverCpu[c]!.length - 1) / 2)]!,
          ),
        },
      ]),
    );
    result["http"] = { requests: HTTP_REQUESTS, concurrency: HTTP_CONCURRENCY, bodyBytes: 2048, clients: figures };
    for (const [c, f] of Object.entries(figures))
      log.info(f, `http ${c}: ${f.cpuUsPerOp} µs CPU/request, ${f.opsPerSec} req/s`);
  }

  if (SKIP !== "nats") {
    const both: Record<string, { publish: RunFigures; consumeAck: RunFigures }[]> = {};
    await alternate(Object.keys(NATS_MODES), async (mode) => {
      const r = await runChild<{ publish: RunFigures; consumeAck: RunFigures }>("nats-publisher", [mode]);
      (both[mode] ??= []).push(r);
      return r.publish;
    });
    const out: Record<string, unknown> = { publishes: NATS_PUBLISHES, inFlight: NATS_INFLIGHT, payloadBytes: 2048 };
    for (const scenario of ["publish", "consumeAck"] as const) {
      const runs = Object.fromEntries(Object.entries(both).map(([m, r]) => [m, r.map((x) => x[scenario])]));
      const modes = Object.fromEntries(Object.entries(runs).map(([m, r]) => [m, median(r)]));
      const off = modes["off"]!;
      const gain = Object.fromEntries(
        Object.entries(modes)
          .filter(([m]) => m !== "off")
          .map(([m, f]) => [
            m,
            {
              cpuPerOp: `${round((1 - f.cpuUsPerOp / off.cpuUsPerOp) * 100)}% less`,
              rate: `${round((f.opsPerSec / off.opsPerSec - 1) * 100)}% more`,
            },
          ]),
      );
      out[scenario] = { modes, gain, allRuns: runs };
      const what = scenario === "publish" ? "acked publish" : "consumed and acked message";
      for (const [m, f] of Object.entries(modes))
        log.info(f, `nats tuning ${m}, ${scenario}: ${f.cpuUsPerOp} µs CPU/${what}, ${f.opsPerSec}/s`);
      log.info(gain, `nats tuning gain against off, ${scenario}`);
    }
    result["natsTuning"] = out;
  }

  mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
  writeFileSync(path.join(ROOT, "bench-results", "libs.json"), JSON.stringify(result, null, 2));
  log.info("wrote bench-results/libs.json");
}

const role = process.argv[2];
const fail = (err: unknown): void => {
  process.stderr.write(
    `bench-libs${role ? ` ${role}` : ""}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
};
if (role === "http-server") httpServer().catch(fail);
else if (role === "http-client") httpClient(process.argv[3]!, process.argv[4]!).catch(fail);
else if (role === "nats-publisher") natsPublisher(process.argv[3]!).catch(fail);
else main().catch(fail);
