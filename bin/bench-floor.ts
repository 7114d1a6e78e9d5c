/**
 * `npm run bench:floor`: the cost of the receipt protocol's HTTP traffic alone, on this machine,
 * with nothing of the platform in it. It answers "what is the least CPU a receipt can cost
 * here?", the floor under `npm run bench:receipts`.
 *
 * Three processes speak exactly the HTTP exchanges one receipt needs (five):
 *   client ──POST /receipts──▶ platform (202)          the intake
 *   platform ──POST /registrations──▶ tax sim (202)     async registration...
 *   tax sim ──signed POST /callbacks/tax──▶ platform    ...its callback 50-300 ms later
 *   platform ──POST /registrations──▶ warehouse sim     sync registration, 201 after 20-100 ms
 *   platform ──signed POST webhook──▶ client            receipt.accepted
 * with keep-alive connections, JSON bodies (the retail example document) and Standard Webhooks
 * HMAC signatures signed and verified, as in the real thing. The "platform" here stores
 * nothing: it keeps receipts in a Map. With FLOOR_PUBLISHES=n it also makes n acked JetStream
 * publishes per receipt (the first before the 202, as durability needs), into a stream of its
 * own that is removed afterwards, to price JetStream work the same way.
 *
 * Prints and writes bench-results/floor.json: rate offered and reached, accept p50/p99, time to
 * accepted p50/p99, and CPU ms per receipt for each process (user + system, from /proc) and
 * for nats-server.
 *
 * Env: FLOOR_RATE (1000/s), FLOOR_SECONDS (20), FLOOR_WARMUP_S (5, at the same rate),
 * FLOOR_PUBLISHES (0), NATS_URL (nats://127.0.0.1:4222).
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { httpRequest } from "../lib/http-client";
import { listen, readBody, send } from "../lib/sim-http";
import { cpuMs, natsServerPid } from "./proc-cpu";
import { signWebhook, verifyWebhook, newWebhookSecret } from "../services/receipts/webhooks";
import { LatencyHistogram } from "../lib/histogram";
import { RECEIPT_TYPES } from "../services/receipts/types";
import { createLogger } from "../lib/logger";

const RATE = Number(process.env["FLOOR_RATE"] ?? 1000);
const SECONDS = Number(process.env["FLOOR_SECONDS"] ?? 20);
const WARMUP_S = Number(process.env["FLOOR_WARMUP_S"] ?? 5);
const PUBLISHES = Number(process.env["FLOOR_PUBLISHES"] ?? 0);
const NATS_URL = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
const ROOT = path.resolve(__dirname, "..");

const MAX_BODY = 1 << 20;
const rand = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

/** A failed call in a child: counted on stderr (the run's figures show the missing receipts). */
function failed(err: unknown): void {
  process.stderr.write(`${process.argv[2]}: ${(err as Error).message}\n`);
}

/** A server with long keep-alive (the load generators reuse their sockets). */
function server(handle: (req: IncomingMessage, res: ServerResponse, raw: string) => void): http.Server {
  return http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    readBody(req, MAX_BODY).then((raw) => handle(req, res, raw.toString("utf8")), failed);
  });
}

async function listenAny(s: http.Server): Promise<number> {
  return (await listen(s, 0, "127.0.0.1")).port;
}

/** The simulators: tax (202, then a signed callback) and warehouse (201 after a delay). */
async function sims(secret: string): Promise<void> {
  const tax = server((_req, res, raw) => {
    const body = JSON.parse(raw) as { receiptId: string; callbackUrl: string };
    send(res, 202, { status: "pending" });
    setTimeout(
      () => {
        const payload = JSON.stringify({
          receiptId: body.receiptId,
          status: "registered",
          registrationId: `TAX-${body.receiptId}`,
        });
        const headers = signWebhook(secret, `msg_${randomUUID()}`, payload, Date.now());
        void httpRequest(body.callbackUrl, {
          method: "POST",
          body: payload,
          headers: { "Content-Type": "application/json", ...headers },
        }).catch(failed);
      },
      rand(50, 300),
    );
  });
  const wh = server((_req, res, raw) => {
    const body = JSON.parse(raw) as { receiptId: string };
    setTimeout(() => send(res, 201, { registrationId: `WH-${body.receiptId}` }), rand(20, 100));
  });
  process.send?.({ tax: await listenAny(tax), wh: await listenAny(wh) });
}

/** The "platform": intake, two registrations, the callback, the client webhook. */
async function platform(
  secret: string,
  taxPort: number,
  whPort: number,
  hookUrl: string,
  hookSecret: string,
): Promise<void> {
  const nc = PUBLISHES > 0 ? await connect({ servers: NATS_URL }) : null;
  const js = nc ? jetstream(nc) : null;
  const subject = process.env["FLOOR_SUBJECT"] ?? "";
  const publish = (id: string, n: number): Promise<unknown> =>
    js!.publish(`${subject}.${id}`, JSON.stringify({ id, n }));
  const receipts = new Map<string, { tax: boolean; wh: boolean }>();
  let port = 0;
  const done = (id: string): void => {
    const r = receipts.get(id);
    if (!r || !r.tax || !r.wh) return;
    receipts.delete(id);
    const body = JSON.stringify({
      type: "receipt.accepted",
      data: { id, status: "ACCEPTED" },
      timestamp: new Date().toISOString(),
    });
    const headers = signWebhook(hookSecret, `hook-${id}`, body, Date.now());
    void httpRequest(hookUrl, {
      method: "POST",
      body,
      headers: { "Content-Type": "application/json", ...headers },
    }).catch(failed);
  };
  const register = async (id: string, doc: unknown): Promise<void> => {
    const reg = (p: number): Promise<unknown> =>
      httpRequest(`http://127.0.0.1:${p}/registrations`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": id },
        body: JSON.stringify({
          receiptId: id,
          type: "retail",
          issuedAt: "2026-01-01T00:00:00Z",
          total: 1,
          currency: "EUR",
          callbackUrl: `http://127.0.0.1:${port}/callbacks/tax`,
          document: doc,
        }),
      });
    const extra: Promise<unknown>[] = [];
    for (let n = 1; n < PUBLISHES; n++) extra.push(publish(id, n));
    await Promise.all([
      reg(taxPort),
      reg(whPort).then(() => {
        receipts.get(id)!.wh = true;
        done(id);
      }),
      ...extra,
    ]);
  };
  const platformServer = server((req, res, raw) => {
    if (req.url === "/receipts") {
      const doc = JSON.parse(raw) as unknown;
      const id = randomUUID();
      receipts.set(id, { tax: false, wh: false });
      const durable = PUBLISHES > 0 ? publish(id, 0) : Promise.resolve();
      durable
        .then(() => {
          send(res, 202, { id, status: "RECEIVED", statusUrl: `/receipts/${id}/status` });
          return register(id, doc);
        })
        .catch(failed);
      return;
    }
    if (verifyWebhook(secret, req.headers, raw, Date.now()) !== null) return send(res, 401, { error: "bad signature" });
    const body = JSON.parse(raw) as { receiptId: string };
    send(res, 200, { accepted: true });
    const r = receipts.get(body.receiptId);
    if (r) {
      r.tax = true;
      done(body.receiptId);
    }
  });
  port = await listenAny(platformServer);
  process.send?.({ port });
}

function spawnRole(
  role: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; msg: Record<string, number> }> {
  const child = fork(__filename, [role, ...args], { execArgv: ["--import", "tsx"], env, cwd: ROOT });
  return new Promise((resolve, reject) => {
    child.once("message", (msg) => resolve({ child, msg: msg as Record<string, number> }));
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const log = createLogger({ level: "info", name: "bench:floor" });
  const secret = newWebhookSecret();
  const hookSecret = newWebhookSecret();
  const doc = RECEIPT_TYPES.find((t) => t.name === "retail")?.examples.json ?? RECEIPT_TYPES[0]!.examples.json;
  const stream = `FLOOR_${randomUUID().slice(0, 8)}`;
  const subject = `floor.${stream.toLowerCase()}`;
  const nc = PUBLISHES > 0 ? await connect({ servers: NATS_URL }) : null;
  if (nc)
    await (
      await jetstreamManager(nc)
    ).streams.add({ name: stream, subjects: [`${subject}.>`], max_age: 10 * 60 * 1e9 });

  // the client's webhook receiver: time to accepted
  const sentAt = new Map<string, number>();
  const toAccepted = new LatencyHistogram();
  const accept = new LatencyHistogram();
  let accepted = 0;
  let terminal = 0;
  let errors = 0;
  let measuring = false;
  const hooks = server((req, res, raw) => {
    if (verifyWebhook(hookSecret, req.headers, raw, Date.now()) !== null) return send(res, 401, {});
    send(res, 200, {});
    const id = (JSON.parse(raw) as { data: { id: string } }).data.id;
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    sentAt.delete(id);
    terminal++;
    if (measuring) toAccepted.record(performance.now() - t0);
  });
  const hookPort = await listenAny(hooks);
  const s = await spawnRole("sims", [secret]);
  const p = await spawnRole(
    "platform",
    [secret, String(s.msg["tax"]), String(s.msg["wh"]), `http://127.0.0.1:${hookPort}/hooks`, hookSecret],
    { ...process.env, FLOOR_SUBJECT: subject },
  );
  const url = `http://127.0.0.1:${p.msg["port"]}/receipts`;
  const natsPid = natsServerPid();
  const pids = { platform: p.child.pid, simulators: s.child.pid, natsServer: natsPid };

  const run = async (seconds: number): Promise<number> => {
    const start = performance.now();
    const total = Math.round(RATE * seconds);
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
        for (; sent < due; sent++) {
          const t0 = performance.now();
          void httpRequest(url, { method: "POST", body: doc, headers: { "Content-Type": "application/json" } }).then(
            (r) => {
              if (r.status !== 202) return void errors++;
              accepted++;
              if (measuring) accept.record(performance.now() - t0);
              sentAt.set((JSON.parse(r.text) as { id: string }).id, t0);
            },
            () => void errors++,
          );
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    return sent;
  };

  log.info({ rate: RATE, seconds: SECONDS, publishes: PUBLISHES }, "warm-up");
  await run(WARMUP_S);
  await new Promise((r) => setTimeout(r, 1000));
  const cpu0 = {
    platform: cpuMs(pids.platform),
    simulators: cpuMs(pids.simulators),
    natsServer: cpuMs(pids.natsServer),
    client: process.cpuUsage(),
  };
  const accepted0 = accepted;
  const terminal0 = terminal;
  measuring = true;
  const t0 = performance.now();
  const sent = await run(SECONDS);
  const sendSeconds = (performance.now() - t0) / 1000;
  const deadline = Date.now() + 10_000;
  while (terminal - terminal0 < accepted - accepted0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const c = process.cpuUsage(cpu0.client);
  const n = Math.max(1, terminal - terminal0);
  const per = (ms: number): number => Math.round((ms / n) * 100) / 100;
  const cpu = {
    platform: per(cpuMs(pids.platform) - cpu0.platform),
    simulators: per(cpuMs(pids.simulators) - cpu0.simulators),
    natsServer: per(cpuMs(pids.natsServer) - cpu0.natsServer),
    client: per((c.user + c.system) / 1000),
  };
  const result = {
    benchmark: "floor",
    at: new Date().toISOString(),
    rate: RATE,
    seconds: SECONDS,
    publishesPerReceipt: PUBLISHES,
    sent,
    sendSeconds: Math.round(sendSeconds * 10) / 10,
    accepted: accepted - accepted0,
    terminal: terminal - terminal0,
    errors,
    acceptMs: { p50: accept.percentile(0.5), p99: accept.percentile(0.99) },
    toAcceptedMs: { p50: toAccepted.percentile(0.5), p99: toAccepted.percentile(0.99) },
    cpuMsPerReceipt: {
      ...cpu,
      total: Math.round((cpu.platform + cpu.simulators + cpu.natsServer + cpu.client) * 100) / 100,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
  writeFileSync(path.join(ROOT, "bench-results", "floor.json"), JSON.stringify(result, null, 2));
  p.child.kill();
  s.child.kill();
  hooks.close();
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(stream);
    await nc.close();
  }
  process.exit(0);
}

const role = process.argv[2];
if (role === "sims") void sims(process.argv[3]!);
else if (role === "platform")
  void platform(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), process.argv[6]!, process.argv[7]!);
else
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
