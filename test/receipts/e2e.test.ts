/**
 * Receipts end to end through real HTTP, NATS and Postgres: a node in this process (gateway,
 * actor runtime, receipts domain) and the tax/warehouse simulators on free ports.
 */
import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { signWebhook } from "../../services/receipts/webhooks";
import { loadConfig } from "../../node/config";
import { connectNats } from "../../nats";
import { receiptNames } from "../../services/receipts/streams";
import { partitionOf, topology } from "../../streams/subjects";
import { readReceipt } from "../../services/receipts/parse";
import { newReceiptId } from "../../services/receipts/ids";
import { fingerprint } from "../../services/receipts/idempotency";
import { receiptTypes } from "../../services/receipts/types";
import type { ReceiptRecord } from "../../services/receipts/record";
import { NATS_URL } from "../support/namespace";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  renumbered,
  startInProcess,
  startSims,
  WebhookReceiver,
  type Answer,
  type InProcessNode,
  type Sims,
} from "./harness";

const DEADLINE_MS = 4000;

describe("receipts end to end (HTTP, NATS, Postgres)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("te");
  let sims: Sims;
  let node: InProcessNode;
  let api: string;
  let hooks: WebhookReceiver;
  let writer: { id: string; key: string };
  let other: { id: string; key: string };
  let reader: { id: string; key: string };
  let admin: { id: string; key: string };

  const post = (
    body: string,
    contentType: string,
    key = writer.key,
    headers: Record<string, string> = {},
  ): Promise<Answer> =>
    // without an Idempotency-Key a receipt is its number: every post here is another receipt
    call(`${api}/receipts`, key, {
      method: "POST",
      body: headers["Idempotency-Key"] === undefined ? renumbered(body) : body,
      headers: { "Content-Type": contentType, ...headers },
    });
  const status = (id: string, key = writer.key): Promise<Answer> => call(`${api}/receipts/${id}/status`, key);
  const until = async (id: string, want: string, timeoutMs = 15_000): Promise<any> =>
    waitFor(
      `receipt ${id} ${want}`,
      async () => {
        const s = await status(id);
        return s.json?.status === want ? s.json : undefined;
      },
      timeoutMs,
      50,
    );

  before(async () => {
    sims = await startSims();
    hooks = await new WebhookReceiver().start();
    const port = await freePort();
    node = await startInProcess(
      receiptsEnv(ns, "e2e-1", port, sims, {
        RECEIPT_DEADLINE_MS: String(DEADLINE_MS),
        RECEIPT_CALLBACK_WAIT_MS: "1500",
      }),
    );
    api = `${node.url}/api/v1`;
    const w = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    writer = { id: w.client.id, key: w.apiKey };
    const o = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    other = { id: o.client.id, key: o.apiKey };
    const r = await makeClient(node.node, ["receipts:read"]);
    reader = { id: r.client.id, key: r.apiKey };
    const a = await makeClient(node.node, ["admin"]);
    admin = { id: a.client.id, key: a.apiKey };
    // webhooks of `writer` go to the receiver through X-Callback-Url, signed with its secret
    hooks.urlFor(writer.id, w.webhookSecret);
  });

  after(async () => {
    await node?.stop();
    await sims?.close();
    await hooks?.close();
    await cleanupReceipts(ns);
  });

  beforeEach(() => {
    sims.tax.reset();
    sims.warehouse.reset();
  });

  it("lists every receipt type with schema and one example per format", async () => {
    const r = await call(`${api}/receipt-types`, reader.key);
    expect(r.status).to.equal(200);
    const names = r.json.items.map((t: { name: string }) => t.name);
    expect(names).to.include.members(["retail", "invoice", "fiscal"]);
    for (const t of r.json.items) {
      expect(t.formats).to.deep.equal(["json", "xml"]);
      expect(t.version).to.equal(1);
      expect(t.schema.type).to.equal("object");
      expect(t.examples.json.body).to.be.a("string");
      expect(t.examples.xml.body).to.contain("<");
    }
  });

  for (const type of RECEIPT_TYPES) {
    for (const format of ["json", "xml"] as const) {
      it(`${type.name} (${format}) reaches ACCEPTED with both references; document and original bytes readable`, async () => {
        const body = renumbered(type.examples[format]);
        const contentType = format === "json" ? "application/json" : "application/xml; charset=utf-8";
        const r = await call(`${api}/receipts`, writer.key, {
          method: "POST",
          body,
          headers: { "Content-Type": contentType },
        });
        expect(r.status, r.text).to.equal(202);
        expect(r.json.status).to.equal("RECEIVED");
        expect(r.headers.get("location")).to.equal(r.json.statusUrl);
        expect(r.json.statusUrl).to.equal(`${node.url}/api/v1/receipts/${r.json.id}/status`);
        const s = await until(r.json.id, "ACCEPTED");
        expect(s.steps.validation.state).to.equal("passed");
        expect(s.steps.tax).to.deep.include({ state: "registered", attempts: 1, lastError: null });
        expect(s.steps.warehouse.state).to.equal("registered");
        expect(s.steps.tax.reference).to.match(/^TAX-/);
        expect(s.steps.warehouse.reference).to.match(/^WAR-/);
        const got = await waitFor("stored receipt", async () => {
          const g = await call(`${api}/receipts/${r.json.id}`, writer.key);
          return g.status === 200 ? g : undefined;
        });
        expect(got.json).to.deep.include({ id: r.json.id, type: type.name, format, status: "ACCEPTED" });
        expect(got.json.references).to.deep.equal({
          tax: s.steps.tax.reference,
          warehouse: s.steps.warehouse.reference,
        });
        expect(got.json.document.type).to.equal(type.name);
        const orig = await call(`${api}/receipts/${r.json.id}/original`, writer.key);
        expect(orig.status).to.equal(200);
        expect(orig.text).to.equal(body);
        expect(orig.headers.get("content-type")).to.contain(format === "json" ? "application/json" : "application/xml");
        expect(sims.tax.book.counts(r.json.id)).to.deep.include({ registrations: 1, status: "registered" });
        expect(sims.warehouse.book.counts(r.json.id)).to.deep.include({ registrations: 1 });
      });
    }
  }

  it("async registrations complete through signed callbacks, also duplicate, early and late ones", async () => {
    sims.tax.setConfig({
      mode: "async",
      callbackDelayMs: { min: 20, max: 80 },
      duplicateCallbackRate: 1,
      lateCallbackRate: 0.5,
      lateCallbackMs: 300,
    });
    sims.warehouse.setConfig({ mode: "async", callbackDelayMs: { min: 0, max: 5 }, earlyCallbackRate: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(RECEIPT_TYPES[i % 3]!.examples.json, "application/json");
      expect(r.status).to.equal(202);
      ids.push(r.json.id);
    }
    for (const id of ids) {
      const s = await until(id, "ACCEPTED");
      expect(s.steps.tax.reference).to.equal(sims.tax.book.counts(id)?.registrationId);
    }
    await waitFor("duplicate callbacks delivered", () => sims.tax.counters.callbacksSent >= 10);
    expect(sims.tax.book.summary().doubleRegistrations).to.equal(0);
    // a late, contradicting callback changes nothing
    const late = JSON.stringify({ receiptId: ids[0], status: "rejected", reason: "too late" });
    const secret = loadConfig({}).receipts.taxCallbackSecret;
    const cb = await call(`${api}/callbacks/tax`, null, {
      method: "POST",
      body: late,
      headers: { "Content-Type": "application/json", ...signWebhook(secret, "msg_late_1", late, Date.now()) },
    });
    expect(cb.status).to.equal(200);
    const after = (await status(ids[0]!)).json;
    expect(after.status).to.equal("ACCEPTED");
  });

  it("refuses callbacks with a bad signature (401)", async () => {
    const body = JSON.stringify({ receiptId: "01JABCDEFGHJKMNPQRSTVWXYZ0", status: "registered", registrationId: "X" });
    const bad = await call(`${api}/callbacks/warehouse`, null, {
      method: "POST",
      body,
      headers: {
        "Content-Type": "application/json",
        ...signWebhook("whsec_" + Buffer.alloc(24, 1).toString("base64"), "msg_1", body, Date.now()),
      },
    });
    expect(bad.status).to.equal(401);
    expect(bad.json.error.code).to.equal("INVALID_SIGNATURE");
    const none = await call(`${api}/callbacks/tax`, null, {
      method: "POST",
      body,
      headers: { "Content-Type": "application/json" },
    });
    expect(none.status).to.equal(401);
  });

  it("a lost callback is recovered by asking the service again with the same key", async () => {
    sims.tax.setConfig({ mode: "async", dropCallbackRate: 1, callbackDelayMs: { min: 1, max: 5 } });
    const r = await post(RECEIPT_TYPES[0]!.examples.json, "application/json");
    const s = await until(r.json.id, "ACCEPTED");
    expect(s.steps.tax.attempts).to.equal(2);
    expect(sims.tax.book.counts(r.json.id)).to.deep.include({ registrations: 1, duplicateCalls: 1 });
  });

  it("business-rule failures end INVALID with details, register nothing and send receipt.invalid", async () => {
    const doc = JSON.parse(RECEIPT_TYPES[0]!.examples.json);
    doc.totals.gross = 1000;
    const r = await post(JSON.stringify(doc), "application/json", writer.key, {
      "X-Callback-Url": `${hooks.url}/hooks/${writer.id}`,
    });
    expect(r.status).to.equal(202);
    const s = await until(r.json.id, "INVALID");
    expect(s.steps.validation.state).to.equal("failed");
    expect(s.steps.validation.errors.map((e: { path: string }) => e.path)).to.include("/totals/gross");
    expect(s.reason).to.match(/business rules/);
    expect(sims.tax.book.counts(r.json.id)).to.equal(undefined);
    const hook = await waitFor("invalid webhook", () => hooks.got.find((h) => h.body.data.id === r.json.id));
    expect(hook.body.type).to.equal("receipt.invalid");
    const withDelivery = await waitFor("delivery visible", async () => {
      const st = (await status(r.json.id)).json;
      return st.webhooks[0]?.state === "delivered" ? st : undefined;
    });
    expect(withDelivery.webhooks[0]).to.deep.include({ event: "receipt.invalid", attempts: 1, lastStatus: 204 });
  });

  it("a business rejection by a service ends REJECTED with its reason, and the client webhook is signed", async () => {
    const doc = JSON.parse(RECEIPT_TYPES[0]!.examples.json);
    doc.cashier = "SIM-REJECT";
    sims.warehouse.setConfig({ rejectMarker: null });
    const r = await post(JSON.stringify(doc), "application/json", writer.key, {
      "X-Callback-Url": `${hooks.url}/hooks/${writer.id}`,
    });
    const s = await until(r.json.id, "REJECTED");
    expect(s.reason).to.match(/^tax service rejected the receipt: .*SIM-REJECT/);
    expect(s.steps.tax.state).to.equal("rejected");
    const hook = await waitFor("rejected webhook", () => hooks.got.find((h) => h.body.data.id === r.json.id));
    expect(hook.verified).to.equal(true);
    expect(hook.body).to.deep.include({ type: "receipt.rejected" });
    expect(hook.body.data.reason).to.equal(s.reason);
  });

  it("a service unreachable past the deadline: FAILED (with webhook), then an operator retry reaches ACCEPTED", async () => {
    sims.tax.setConfig({ outage: true });
    const r = await post(RECEIPT_TYPES[1]!.examples.xml, "application/xml", writer.key, {
      "X-Callback-Url": `${hooks.url}/hooks/${writer.id}`,
    });
    const failed = await until(r.json.id, "FAILED", DEADLINE_MS + 15_000);
    expect(failed.steps.tax.state).to.equal("failed");
    expect(failed.steps.tax.attempts).to.be.greaterThan(1);
    expect(failed.steps.warehouse.state).to.equal("registered");
    expect(failed.reason).to.match(/tax service/);
    await waitFor("failed webhook", () =>
      hooks.got.find((h) => h.body.data.id === r.json.id && h.body.type === "receipt.failed"),
    );
    // only operators may retry
    expect((await call(`${api}/receipts/${r.json.id}/retry`, writer.key, { method: "POST" })).status).to.equal(403);
    sims.tax.setConfig({ outage: false });
    const retry = await call(`${api}/receipts/${r.json.id}/retry`, admin.key, { method: "POST" });
    expect(retry.status, retry.text).to.equal(202);
    const ok = await until(r.json.id, "ACCEPTED");
    expect(ok.steps.tax.state).to.equal("registered");
    expect(sims.tax.book.counts(r.json.id)?.registrations).to.equal(1);
    expect(sims.warehouse.book.counts(r.json.id)?.registrations).to.equal(1);
    await waitFor("accepted webhook", () =>
      hooks.got.find((h) => h.body.data.id === r.json.id && h.body.type === "receipt.accepted"),
    );
    // a second retry of a receipt that is not FAILED is a 409
    expect((await call(`${api}/receipts/${r.json.id}/retry`, admin.key, { method: "POST" })).status).to.equal(409);
  });

  it("idempotent resubmission: same key and body give the same receipt; another body is a 409", async () => {
    const key = `k-${Date.now()}`;
    const body = RECEIPT_TYPES[2]!.examples.xml;
    const a = await post(body, "application/xml", writer.key, { "Idempotency-Key": key });
    const b = await post(body, "application/xml", writer.key, { "Idempotency-Key": key });
    expect(a.status).to.equal(202);
    expect(b.status).to.equal(202);
    expect(b.json).to.deep.equal(a.json);
    expect(b.headers.get("idempotent-replayed")).to.equal("true");
    await until(a.json.id, "ACCEPTED");
    const c = await post(body, "application/xml", writer.key, { "Idempotency-Key": key });
    expect(c.json).to.deep.equal(a.json);
    const conflict = await post(RECEIPT_TYPES[0]!.examples.xml, "application/xml", writer.key, {
      "Idempotency-Key": key,
    });
    expect(conflict.status).to.equal(409);
    expect(conflict.json.error.code).to.equal("CONFLICT");
    // another client's identical key is its own
    const mine = await post(body, "application/xml", other.key, { "Idempotency-Key": key });
    expect(mine.status).to.equal(202);
    expect(mine.json.id).to.not.equal(a.json.id);
    expect(sims.tax.book.counts(a.json.id)?.registrations).to.equal(1);
  });

  it("natural identity: the same receipt again without an Idempotency-Key is the same receipt, registered once", async () => {
    const raw = (body: string, contentType: string, key = writer.key): Promise<Answer> =>
      call(`${api}/receipts`, key, { method: "POST", body, headers: { "Content-Type": contentType } });
    for (const t of RECEIPT_TYPES) {
      const body = renumbered(t.examples.json);
      const a = await raw(body, "application/json");
      const b = await raw(body, "application/json");
      expect(a.status, t.name).to.equal(202);
      expect(b.status, t.name).to.equal(202);
      expect(b.json.id, t.name).to.equal(a.json.id);
      expect(b.headers.get("idempotent-replayed"), t.name).to.equal("true");
      await until(a.json.id, "ACCEPTED");
      // again once it is ACCEPTED: still the same receipt, nothing registered again
      const c = await raw(body, "application/json");
      expect(c.status).to.equal(202);
      expect(c.json.id).to.equal(a.json.id);
      expect(sims.tax.book.counts(a.json.id)?.registrations, t.name).to.equal(1);
      expect(sims.warehouse.book.counts(a.json.id)?.registrations, t.name).to.equal(1);
    }
    // another body under the same number: a 409 that names the receipt
    const doc = JSON.parse(renumbered(RECEIPT_TYPES[0]!.examples.json));
    const first = await raw(JSON.stringify(doc), "application/json");
    expect(first.status).to.equal(202);
    const changed = await raw(
      JSON.stringify({ ...doc, cashier: `${String(doc.cashier)} (changed)` }),
      "application/json",
    );
    expect(changed.status).to.equal(409);
    expect(changed.json.error.code).to.equal("CONFLICT");
    expect(changed.json.error.details[0].message).to.contain(first.json.id);
    // the number is per client: another client's receipt with it is its own
    const theirs = await raw(JSON.stringify(doc), "application/json", other.key);
    expect(theirs.status).to.equal(202);
    expect(theirs.json.id).to.not.equal(first.json.id);
  });

  it("hostile documents get a 4xx, store nothing, and the node stays up", async () => {
    const c = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    const bomb = `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><retailReceipt><cashier>&c;</cashier></retailReceipt>`;
    const xxe = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><retailReceipt><cashier>&x;</cashier></retailReceipt>`;
    const deepXml = "<retailReceipt>" + "<a>".repeat(10_000) + "</a>".repeat(10_000) + "</retailReceipt>";
    const deepJson = '{"type":"retail","x":' + "[".repeat(10_000) + "]".repeat(10_000) + "}";
    const long = JSON.parse(RECEIPT_TYPES[0]!.examples.json);
    long.cashier = "x".repeat(60 * 1024);
    const wrong = JSON.parse(RECEIPT_TYPES[0]!.examples.json);
    wrong.lines = "many";
    const cases: [string, string, number[]][] = [
      [bomb, "application/xml", [400]],
      [xxe, "application/xml", [400]],
      [deepXml, "application/xml", [400]],
      [deepJson, "application/json", [400]],
      [JSON.stringify(long), "application/json", [422]],
      [JSON.stringify(wrong), "application/json", [422]],
      [RECEIPT_TYPES[0]!.examples.json.replace('"quantity": 2,', '"quantity": NaN,'), "application/json", [400]],
      [RECEIPT_TYPES[0]!.examples.json.replace('"quantity": 2,', '"quantity": 1e999,'), "application/json", [422]],
      ['{"type":"unknown"}', "application/json", [422]],
      ["{nope", "application/json", [400]],
      ["plain text", "text/plain", [415]],
    ];
    for (const [body, ct, want] of cases) {
      const r = await call(`${api}/receipts`, c.apiKey, { method: "POST", body, headers: { "Content-Type": ct } });
      expect(want, `${r.status} ${r.text.slice(0, 200)} for ${body.slice(0, 60)}`).to.include(r.status);
      expect(r.json.error.code).to.be.a("string");
      expect(r.json.error.requestId).to.be.a("string");
    }
    const unknown = await call(`${api}/receipts`, c.apiKey, {
      method: "POST",
      body: '{"type":"unknown"}',
      headers: { "Content-Type": "application/json" },
    });
    expect(unknown.json.error.details).to.deep.equal([
      { path: "/type", message: 'unknown receipt type "unknown" (see GET /api/v1/receipt-types)' },
    ]);
    const schema = await call(`${api}/receipts`, c.apiKey, {
      method: "POST",
      body: JSON.stringify(wrong),
      headers: { "Content-Type": "application/json" },
    });
    expect(schema.json.error.details).to.deep.include({ path: "/lines", message: "must be array" });
    const ready = await call(`${node.url}/health/ready`, null);
    expect(ready.status).to.equal(200);
    // one valid receipt afterwards: once it is listed, anything stored before it would be too
    const valid = await call(`${api}/receipts`, c.apiKey, {
      method: "POST",
      body: renumbered(RECEIPT_TYPES[0]!.examples.json),
      headers: { "Content-Type": "application/json" },
    });
    expect(valid.status).to.equal(202);
    const list = await waitFor("valid receipt listed", async () => {
      const l = await call(`${api}/receipts`, c.apiKey);
      return l.json.items.length > 0 ? l : undefined;
    });
    expect(list.json.items.map((i: { id: string }) => i.id)).to.deep.equal([valid.json.id]);
  });

  it("a client cannot read another client's receipts; scopes are enforced", async () => {
    const r = await post(RECEIPT_TYPES[0]!.examples.json, "application/json");
    await until(r.json.id, "ACCEPTED");
    for (const path of ["", "/status", "/original"]) {
      const x = await call(`${api}/receipts/${r.json.id}${path}`, other.key);
      expect(x.status, path).to.equal(404);
      expect(x.json.error.code).to.equal("NOT_FOUND");
    }
    const list = await call(`${api}/receipts?limit=10000`, other.key);
    expect(list.json.items.map((i: { id: string }) => i.id)).to.not.include(r.json.id);
    expect(
      (
        await call(`${api}/receipts`, reader.key, {
          method: "POST",
          body: "{}",
          headers: { "Content-Type": "application/json" },
        })
      ).status,
    ).to.equal(403);
    expect((await call(`${api}/receipts/${r.json.id}/status`, null)).status).to.equal(401);
    expect((await call(`${api}/receipts/01JABCDEFGHJKMNPQRSTVWXYZ0/status`, writer.key)).status).to.equal(404);
  });

  it("a receipt whose submit message was lost (node died between the two publishes) is resubmitted by the sweeper", async () => {
    const body = Buffer.from(RECEIPT_TYPES[2]!.examples.json);
    const read = readReceipt(receiptTypes, body, "application/json");
    const now = Date.now();
    const record: ReceiptRecord = {
      id: newReceiptId(now),
      clientId: writer.id,
      type: read.type.name,
      typeVersion: 1,
      format: "json",
      contentType: "application/json",
      createdAt: now,
      idempotencyKey: null,
      fingerprint: fingerprint("json", body),
      callbackUrl: null,
      summary: read.summary,
      document: read.document,
      original: body.toString("base64"),
    };
    const nats = await connectNats(NATS_URL, "e2e-orphan");
    try {
      // The intake's submit id is taken in the mailbox's duplicate window by a message that never
      // reaches the actor as a submit (as one the cluster acked, then lost with its replicas): the
      // sweeper's resubmit must not be dropped as its duplicate.
      const partitions = loadConfig({}).actors.partitions;
      await nats.js.publish(
        topology(ns).actors.subject("receipt", partitionOf(record.id, partitions), record.id),
        "not a command",
        { msgID: `submit-${record.id}` },
      );
      await nats.js.publish(receiptNames(ns).recordSubject(record.id), JSON.stringify(record), { msgID: record.id });
    } finally {
      await nats.nc.close();
    }
    expect((await status(record.id)).json.status).to.equal("RECEIVED");
    const s = await until(record.id, "ACCEPTED", 20_000);
    expect(s.steps.tax.state).to.equal("registered");
  });

  it("lists the caller's receipts newest first with keyset pagination and filters", async () => {
    const c = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await call(`${api}/receipts`, c.apiKey, {
        method: "POST",
        body: renumbered(RECEIPT_TYPES[i % 2]!.examples.json),
        headers: { "Content-Type": "application/json" },
      });
      ids.push(r.json.id);
    }
    await waitFor(
      "all stored and accepted",
      async () => {
        const l = await call(`${api}/receipts?status=ACCEPTED&limit=100`, c.apiKey);
        return l.json.items.length === 7;
      },
      20_000,
      100,
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await call(
        `${api}/receipts?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        c.apiKey,
      );
      expect(page.status).to.equal(200);
      seen.push(...page.json.items.map((i: { id: string }) => i.id));
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(seen).to.deep.equal([...ids].reverse());
    const invoices = await call(`${api}/receipts?type=invoice`, c.apiKey);
    expect(invoices.json.items.map((i: { id: string }) => i.id)).to.deep.equal([ids[5], ids[3], ids[1]]);
    expect(invoices.json.items[0]).to.deep.include({ type: "invoice", status: "ACCEPTED", currency: "EUR" });
    const none = await call(`${api}/receipts?to=2000-01-01T00:00:00Z`, c.apiKey);
    expect(none.json.items).to.deep.equal([]);
    expect((await call(`${api}/receipts?limit=10001`, c.apiKey)).status).to.equal(400);
    expect((await call(`${api}/receipts?cursor=bogus`, c.apiKey)).status).to.equal(400);
  });

  it("exposes receipts metrics: statuses, time to terminal, registrations by service and outcome, webhooks", async () => {
    const metrics = await waitFor("receipts metrics", async () => {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      return /switchyard_receipts_status_total\{status="ACCEPTED"\} [1-9]/.test(text) ? text : undefined;
    });
    expect(metrics).to.match(/switchyard_receipts_time_to_terminal_seconds_count\{status="ACCEPTED"\} [1-9]/);
    expect(metrics).to.match(/switchyard_receipts_status_total\{status="INVALID"\} [1-9]/);
    expect(metrics).to.match(/switchyard_receipt_registrations_total\{service="tax",outcome="registered"\} [1-9]/);
    expect(metrics).to.match(
      /switchyard_receipt_registrations_total\{service="warehouse",outcome="registered"\} [1-9]/,
    );
    expect(metrics).to.match(/switchyard_receipt_registrations_total\{service="tax",outcome="pending"\} [1-9]/);
    expect(metrics).to.match(/switchyard_receipt_registrations_total\{service="[a-z]+",outcome="rejected"\} [1-9]/);
    expect(metrics).to.match(/switchyard_receipt_webhook_deliveries_total\{outcome="delivered"\} [1-9]/);
  });
});
