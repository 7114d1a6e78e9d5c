/**
 * Issue 11, item 5: SSRF through webhooks. A real node (NATS, Postgres, Redis, the gateway and
 * the receipts domain) with production-like egress (EGRESS_ALLOW set empty: no allow-list) is
 * probed through real HTTP:
 * - every internal target of the report, and their disguises, is refused with 422 at submit,
 *   as X-Callback-Url and as a client's webhook URL;
 * - a name that passes submit but resolves to 127.0.0.1 when the webhook is sent (an injected
 *   resolver stands in for DNS rebinding) is refused at connect time: final, no retries, and a
 *   local listener receives nothing;
 * - the status shows clients the generic delivery error, never the cause.
 */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "../../node/config";
import { type Config } from "../../config";
import { startNode, type RunningNode } from "../../node/start";
import pino from "pino";
import { createEgress, type Resolver } from "../../lib/egress-http";
import { parseEgressAllow } from "../../lib/egress";
import { deliverWebhook, type ReceiptJobDeps } from "../../services/receipts/jobs";
import { statusFromState } from "../../services/receipts/status";
import { newWebhookSecret } from "../../services/receipts/webhooks";
import type { DeliveryInfo } from "../../services/receipts/deliveries";
import type { WebhookJobData } from "../../services/receipts/receipt.actor";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  renumbered,
  startSims,
  type Sims,
} from "../receipts/harness";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";

/** The targets of the report, and other forms of internal addresses and names. */
const INTERNAL_HOSTS = [
  "127.0.0.1",
  "[::1]",
  "localhost",
  "2130706433",
  "0x7f.0.0.1",
  "127.1",
  "10.0.0.1",
  "10.255.255.254",
  "192.168.1.1",
  "169.254.169.254",
  "[fd00:ec2::254]",
  "metadata.google.internal",
  // disguises and neighbours
  "0177.0.0.1",
  "0x7f000001",
  "LOCALHOST.",
  "app.localhost",
  "[::ffff:127.0.0.1]",
  "[::ffff:169.254.169.254]",
  "[::]",
  "0.0.0.0",
  "172.16.0.1",
  "100.64.0.1",
  "[fe80::1]",
  "[fc00::1]",
  "224.0.0.1",
  "255.255.255.255",
  "198.18.0.1",
  "metadata",
  "kubernetes.default.svc",
];

/** Names the injected resolver answers; everything else goes to the system resolver. */
const REBIND = "hooks.rebind-test.example";
const MIXED = "hooks.mixed-test.example";

describe("security: SSRF through webhooks (issue 11, item 5)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("ss");
  let sims: Sims;
  let node: RunningNode;
  let api: string;
  let writer: { id: string; key: string };
  let admin: { id: string; key: string };
  let listener: http.Server;
  let listenerPort: number;
  const received: string[] = [];
  const resolved: string[] = [];

  // Stands in for DNS: REBIND answers 127.0.0.1 (what a rebinding name gives at connect time),
  // MIXED a public address and a loopback one.
  const resolver: Resolver = async (host) => {
    resolved.push(host);
    if (host === REBIND) return [{ address: "127.0.0.1", family: 4 }];
    if (host === MIXED)
      return [
        { address: "93.184.215.14", family: 4 },
        { address: "::1", family: 6 },
      ];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  };

  const post = (headers: Record<string, string> = {}, key = writer.key) =>
    call(`${api}/receipts`, key, {
      method: "POST",
      // another receipt number each time: the same receipt again would be the same receipt
      body: renumbered(RECEIPT_TYPES[0]!.examples.json),
      headers: { "Content-Type": "application/json", ...headers },
    });
  const createClientViaApi = (webhookUrl: string) =>
    call(`${api}/admin/clients`, admin.key, {
      method: "POST",
      body: JSON.stringify({ name: "probe", scopes: ["receipts:read", "receipts:write"], webhookUrl }),
      headers: { "Content-Type": "application/json" },
    });
  const statusOf = async (id: string, key = writer.key): Promise<any> =>
    (await call(`${api}/receipts/${id}/status`, key)).json;

  before(async () => {
    sims = await startSims();
    listener = http.createServer((req, res) => {
      received.push(`${req.method} ${req.headers.host} ${req.url}`);
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    listenerPort = (listener.address() as AddressInfo).port;
    const port = await freePort();
    // dev mode for the rest (simulators' secrets), but no egress allow-list, as in production
    const config: Config = loadConfig(receiptsEnv(ns, "ssrf-1", port, sims, { EGRESS_ALLOW: "" }));
    node = await startNode({ ...config, egress: { ...config.egress, resolver } });
    api = `http://127.0.0.1:${port}/api/v1`;
    await waitFor(
      "node ready",
      async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );
    const w = await makeClient(node, ["receipts:read", "receipts:write"]);
    writer = { id: w.client.id, key: w.apiKey };
    const a = await makeClient(node, ["admin"]);
    admin = { id: a.client.id, key: a.apiKey };
  });

  after(async () => {
    await node?.stop();
    await sims?.close();
    await new Promise<void>((r) => (listener ? listener.close(() => r()) : r()));
    await cleanupReceipts(ns);
  });

  for (const host of INTERNAL_HOSTS) {
    it(`refuses X-Callback-Url http://${host}:port/ at submit with 422`, async () => {
      const r = await post({ "X-Callback-Url": `http://${host}:${listenerPort}/hook` });
      expect(r.status, r.text).to.equal(422);
      expect(r.json.error.code).to.equal("VALIDATION_ERROR");
      expect(r.json.error.message).to.match(/X-Callback-Url is not an allowed destination/);
    });

    it(`refuses a client webhook URL https://${host}/ at create with 422`, async () => {
      const r = await createClientViaApi(`https://${host}/hooks`);
      expect(r.status, r.text).to.equal(422);
      expect(r.json.error.details.map((d: { path: string }) => d.path)).to.include("/webhookUrl");
    });
  }

  it("still accepts public destinations (a name, a public address)", async () => {
    const r = await post({ "X-Callback-Url": "https://hooks.example.com/receipts" });
    expect(r.status, r.text).to.equal(202);
    const c = await createClientViaApi("https://203.0.114.7/hooks");
    expect(c.status, c.text).to.equal(201);
  });

  it("refuses, at connect time, an X-Callback-Url name that resolves to 127.0.0.1: final, and nothing reaches the listener", async () => {
    const r = await post({ "X-Callback-Url": `http://${REBIND}:${listenerPort}/hook` });
    expect(r.status, r.text).to.equal(202);
    const st = await waitFor(
      "webhook given up",
      async () => {
        const s = await statusOf(r.json.id);
        return s?.webhooks?.[0]?.state === "failed" ? s : undefined;
      },
      30_000,
      100,
    );
    expect(st.status).to.equal("ACCEPTED");
    // one attempt: a refused destination is not retried
    expect(st.webhooks[0]).to.deep.include({
      state: "failed",
      attempts: 1,
      lastStatus: null,
      lastError: "webhook delivery failed",
      deliveredAt: null,
    });
    expect(resolved).to.include(REBIND);
    expect(received).to.deep.equal([]);
  });

  it("refuses a client webhook whose name resolves to a public and a loopback address; the status names no cause", async () => {
    const c = await createClientViaApi(`http://${MIXED}:${listenerPort}/hook`);
    expect(c.status, c.text).to.equal(201);
    const r = await post({}, c.json.apiKey);
    expect(r.status, r.text).to.equal(202);
    const st = await waitFor(
      "webhook given up",
      async () => {
        const s = await statusOf(r.json.id, c.json.apiKey);
        return s?.webhooks?.[0]?.state === "failed" ? s : undefined;
      },
      30_000,
      100,
    );
    expect(st.webhooks[0]).to.deep.include({ attempts: 1, lastError: "webhook delivery failed" });
    expect(JSON.stringify(st)).to.not.match(/127\.0\.0\.1|::1|93\.184|loopback|refused|ECONN|ENOTFOUND/);
    expect(resolved).to.include(MIXED);
    expect(received).to.deep.equal([]);
  });

  it("shows no network error to clients when the endpoint does not exist (no port scanner)", async () => {
    const name = "hooks.nowhere-test.example";
    const r = await post({ "X-Callback-Url": `http://${name}:${listenerPort}/hook` });
    expect(r.status, r.text).to.equal(202);
    const st = await waitFor(
      "a failed attempt",
      async () => {
        const s = await statusOf(r.json.id);
        return (s?.webhooks?.[0]?.attempts ?? 0) >= 1 ? s : undefined;
      },
      30_000,
      100,
    );
    expect(st.webhooks[0]).to.deep.include({
      state: "pending",
      lastStatus: null,
      lastError: "webhook delivery failed",
    });
    expect(JSON.stringify(st)).to.not.match(/ENOTFOUND|getaddrinfo|nowhere-test/);
  });
});

describe("security: webhook delivery errors shown to clients (issue 11, item 5)", () => {
  // The webhook job on its own, with a development allow-list (loopback) so that it really
  // reaches a closed port and an endpoint answering 500: what it records is what clients see.
  const records: DeliveryInfo[] = [];
  const egress = createEgress(parseEgressAllow(["127.0.0.0/8"]).policy);
  const deps = (): ReceiptJobDeps => ({
    clients: { webhookOf: async () => ({ url: null, secret: newWebhookSecret() }) },
    deliveries: { record: async (_r, _w, info) => void records.push(info), read: async () => ({}) },
    egress,
    logger: pino({ level: "silent" }),
  });
  const data = (url: string): WebhookJobData => ({
    receiptId: "01HZZZZZZZZZZZZZZZZZZZZZZZ",
    clientId: "cl_aaaaaaaaaaaaaaaa",
    url,
    body: "{}",
    event: "receipt.accepted",
  });
  const ctx = { id: "hook-1", attempt: 1, deadline: Date.now() + 60_000, signal: new AbortController().signal };
  let server: http.Server;
  let port: number;

  before(async () => {
    server = http.createServer((_req, res) =>
      res.writeHead(500, { "Content-Type": "text/plain" }).end("internal admin says: secret-detail"),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    egress.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => void (records.length = 0));

  it("a closed port records the generic error, not ECONNREFUSED (no port scanner)", async () => {
    const closed = await freePort();
    const err = await deliverWebhook(deps(), data(`http://127.0.0.1:${closed}/hook`), ctx).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(records).to.have.length(1);
    expect(records[0]).to.deep.include({ lastStatus: null, lastError: "webhook delivery failed", deliveredAt: null });
  });

  it("an endpoint that answers records its status and the generic error, not its body", async () => {
    await deliverWebhook(deps(), data(`http://127.0.0.1:${port}/hook`), ctx).catch(() => undefined);
    expect(records[0]).to.deep.include({ lastStatus: 500, lastError: "webhook delivery failed" });
    expect(JSON.stringify(records)).to.not.match(/secret-detail/);
  });

  it("a status built from an older delivery entry shows no cause either", () => {
    const st = {
      id: "R",
      status: "ACCEPTED",
      reason: null,
      createdAt: 0,
      updatedAt: 0,
      webhooks: [{ id: "h", event: "receipt.accepted", createdAt: 0, deadline: 10 }],
      steps: { validation: { state: "passed" }, tax: STEP, warehouse: STEP },
    };
    const view = statusFromState(st as unknown as Parameters<typeof statusFromState>[0], 1, {
      h: {
        attempts: 3,
        lastAttemptAt: 1,
        lastStatus: null,
        lastError: "connect ECONNREFUSED 10.0.0.7:8080",
        deliveredAt: null,
      },
    });
    expect(view.webhooks[0]).to.deep.include({ state: "pending", attempts: 3, lastError: "webhook delivery failed" });
  });
});

const STEP = { state: "registered", reference: "T", attempts: 1, lastError: null };
