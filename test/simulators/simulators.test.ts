/** The tax/warehouse simulators over real HTTP on 127.0.0.1 (free ports). */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { startSimulator, type Simulator } from "../../services/receipts/simulator";
import { newWebhookSecret, verifyWebhook } from "../../services/receipts/webhooks";
import { waitFor } from "../support/wait";

const logger = pino({ level: "silent" });

interface Received {
  readonly body: Record<string, unknown>;
  readonly id: string;
  readonly verified: boolean;
}

/** A callback receiver that verifies signatures with `secret`. */
async function receiver(secret: string): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const verified = verifyWebhook(secret, req.headers as Record<string, string>, raw, Date.now()) === null;
      got.push({ body: JSON.parse(raw) as Record<string, unknown>, id: String(req.headers["webhook-id"]), verified });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function registration(
  sim: Simulator,
  receiptId: string,
  callbackUrl: string,
  opts: { key?: string; document?: unknown; signal?: AbortSignal } = {},
) {
  return fetch(`${sim.url}/registrations`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": opts.key ?? receiptId },
    body: JSON.stringify({
      receiptId,
      type: "retail",
      issuedAt: "2025-01-01T00:00:00Z",
      total: 10,
      currency: "EUR",
      callbackUrl,
      document: opts.document ?? { type: "retail" },
    }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

async function admin(sim: Simulator, path: string, method = "GET", body?: unknown): Promise<any> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
  });
  return { status: res.status, body: await res.json() };
}

describe("registration simulators", () => {
  const secret = newWebhookSecret();
  let sim: Simulator;
  let rx: Awaited<ReturnType<typeof receiver>>;

  beforeEach(async () => {
    sim = await startSimulator({ name: "tax", port: 0, secret, logger });
    rx = await receiver(secret);
  });
  afterEach(async () => {
    await sim.close();
    await rx.close();
  });

  it("sync mode: 201 with a registration id; a repeat with the same key returns it and is not a new registration", async () => {
    const a = await registration(sim, "R1", rx.url);
    expect(a.status).to.equal(201);
    const { registrationId } = (await a.json()) as { registrationId: string };
    expect(registrationId).to.match(/^TAX-\d{8}$/);
    const b = await registration(sim, "R1", rx.url);
    expect(b.status).to.equal(201);
    expect(await b.json()).to.deep.equal({ registrationId });
    const counts = await admin(sim, "/admin/registrations?receiptId=R1");
    expect(counts.body).to.deep.include({ registrations: 1, duplicateCalls: 1, status: "registered", registrationId });
    const all = await admin(sim, "/admin/registrations");
    expect(all.body).to.deep.include({ receipts: 1, registrations: 1, doubleRegistrations: 0, duplicateCalls: 1 });
  });

  it("counts a receipt registered under two keys as a double registration", async () => {
    await registration(sim, "R2", rx.url, { key: "k1" });
    await registration(sim, "R2", rx.url, { key: "k2" });
    const all = await admin(sim, "/admin/registrations?summary=1");
    expect(all.body.doubleRegistrations).to.equal(1);
    expect(all.body.byReceipt).to.equal(undefined);
  });

  it("rejects documents carrying the marker with 422 and a reason, and repeats the rejection", async () => {
    const r = await registration(sim, "R3", rx.url, { document: { cashier: "SIM-REJECT" } });
    expect(r.status).to.equal(422);
    expect(((await r.json()) as { reason: string }).reason).to.match(/SIM-REJECT/);
    expect((await registration(sim, "R3", rx.url)).status).to.equal(422);
  });

  it("async mode: 202, then one signed callback per receipt", async () => {
    await admin(sim, "/admin/config", "PUT", { mode: "async", callbackDelayMs: { min: 5, max: 20 } });
    const r = await registration(sim, "R4", rx.url);
    expect(r.status).to.equal(202);
    const cb = await waitFor("callback", () => rx.got.find((g) => g.body["receiptId"] === "R4"));
    expect(cb.verified).to.equal(true);
    expect(cb.body).to.deep.include({ receiptId: "R4", status: "registered" });
    expect(cb.id).to.match(/^msg_/);
    // once settled, a repeat answers 201 with the same id (a lost callback can be recovered)
    const again = await registration(sim, "R4", rx.url);
    expect(again.status).to.equal(201);
    expect(((await again.json()) as { registrationId: string }).registrationId).to.equal(cb.body["registrationId"]);
  });

  it("async rejections arrive as rejected callbacks", async () => {
    sim.setConfig({ mode: "async", callbackDelayMs: { min: 1, max: 5 } });
    expect((await registration(sim, "R5", rx.url, { document: { x: "SIM-REJECT" } })).status).to.equal(202);
    const cb = await waitFor("callback", () => rx.got.find((g) => g.body["receiptId"] === "R5"));
    expect(cb.body).to.deep.include({ status: "rejected" });
    expect(cb.body["reason"]).to.be.a("string");
  });

  it("duplicate callbacks carry new webhook ids; early callbacks arrive before the 202", async () => {
    sim.setConfig({ mode: "async", callbackDelayMs: { min: 1, max: 5 }, duplicateCallbackRate: 1 });
    await registration(sim, "R6", rx.url);
    await waitFor("two callbacks", () => rx.got.filter((g) => g.body["receiptId"] === "R6").length === 2);
    const ids = rx.got.filter((g) => g.body["receiptId"] === "R6").map((g) => g.id);
    expect(new Set(ids).size).to.equal(2);
    sim.setConfig({ duplicateCallbackRate: 0, earlyCallbackRate: 1 });
    const r = await registration(sim, "R7", rx.url);
    expect(rx.got.some((g) => g.body["receiptId"] === "R7")).to.equal(true);
    expect(r.status).to.equal(202);
  });

  it("outages answer 503 (or reset connections) and register nothing", async () => {
    sim.setConfig({ outage: true });
    expect((await registration(sim, "R8", rx.url)).status).to.equal(503);
    sim.setConfig({ outageMode: "reset" });
    let failed = false;
    try {
      await registration(sim, "R8", rx.url);
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
    sim.setConfig({ outage: false });
    expect((await registration(sim, "R8", rx.url)).status).to.equal(201);
    expect((await admin(sim, "/admin/registrations?receiptId=R8")).body.registrations).to.equal(1);
  });

  it("error rate answers 5xx/429; timeouts register but never answer, and the retry gets the same id", async () => {
    sim.setConfig({ errorRate: 1 });
    expect([500, 503, 429]).to.include((await registration(sim, "R9", rx.url)).status);
    sim.setConfig({ errorRate: 0, timeoutRate: 1 });
    let timedOut = false;
    try {
      await registration(sim, "R9", rx.url, { signal: AbortSignal.timeout(200) });
    } catch {
      timedOut = true;
    }
    expect(timedOut).to.equal(true);
    sim.setConfig({ timeoutRate: 0 });
    const r = await registration(sim, "R9", rx.url);
    expect(r.status).to.equal(201);
    const counts = await admin(sim, "/admin/registrations?receiptId=R9");
    expect(counts.body).to.deep.include({ registrations: 1, duplicateCalls: 1 });
    expect(sim.counters.timeouts).to.equal(1);
  });

  it("latency ranges delay answers", async () => {
    sim.setConfig({ latencyMs: { min: 150, max: 200 } });
    const t = Date.now();
    await registration(sim, "R10", rx.url);
    expect(Date.now() - t).to.be.at.least(140);
  });

  it("validates configuration changes and requests", async () => {
    const bad = await admin(sim, "/admin/config", "PUT", { errorRate: 2, mode: "x", nope: 1 });
    expect(bad.status).to.equal(422);
    expect(bad.body.problems).to.have.length(3);
    const noKey = await fetch(`${sim.url}/registrations`, { method: "POST", body: "{}" });
    expect(noKey.status).to.equal(400);
    const badBody = await fetch(`${sim.url}/registrations`, {
      method: "POST",
      body: "{}",
      headers: { "Idempotency-Key": "x" },
    });
    expect(badBody.status).to.equal(400);
  });

  it("reset forgets registrations and restores the initial configuration", async () => {
    sim.setConfig({ mode: "async" });
    await registration(sim, "R11", rx.url);
    const r = await admin(sim, "/admin/reset", "POST");
    expect(r.body.config.mode).to.equal("sync");
    expect((await admin(sim, "/admin/registrations")).body.receipts).to.equal(0);
  });
});
