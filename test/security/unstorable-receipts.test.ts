/**
 * Issue 11, item 6: accepted receipts that can never be stored.
 *   - POST /receipts refuses with 422 what Postgres jsonb cannot hold (`\u0000` in a JSON string,
 *     a raw NUL in XML text, a lone surrogate), and stores nothing of it.
 *   - A poisoned message that got past intake (published straight to the receipt stream the
 *     Postgres writer consumes) is isolated by the writer: dead-lettered with Postgres's reason on
 *     the runtime's DLQ (listable), alarmed (alarm.dlq event, metric), acked; the clean rows around
 *     it are all stored, in publish order, and nothing stays pending behind it.
 */
import { expect } from "chai";
import type { ServiceSchema } from "moleculer";
import { connectNats, type NatsHandles } from "../../nats";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { readReceipt } from "../../services/receipts/parse";
import { newReceiptId } from "../../services/receipts/ids";
import { fingerprint } from "../../services/receipts/idempotency";
import type { ReceiptRecord } from "../../services/receipts/record";
import type { ReceiptDlqAlarm } from "../../services/receipts/writer";
import type { ReceiptStatusUpdate } from "../../services/receipts/receipt.actor";
import { receiptNames, type ReceiptNames } from "../../services/receipts/streams";
import { receiptTypes } from "../../services/receipts/types";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  startInProcess,
  startSims,
  type InProcessNode,
  type Sims,
} from "../receipts/harness";

describe("security: receipts Postgres cannot store (issue 11, item 6)", function () {
  this.timeout(90_000);
  const ns = freshNamespace("sun");
  const alarms: ReceiptDlqAlarm[] = [];
  const alarmListener: ServiceSchema = {
    name: "alarmlistener",
    events: { "alarm.dlq": { handler: (c: { params: ReceiptDlqAlarm }) => void alarms.push(c.params) } },
  };
  let sims: Sims;
  let node: InProcessNode;
  let nats: NatsHandles;
  let names: ReceiptNames;
  let api: string;

  const q = async <T>(sql: string, args: unknown[] = []): Promise<T[]> =>
    (await node.node.ctx.pg.query(sql, args)).rows as T[];

  before(async () => {
    sims = await startSims();
    const port = await freePort();
    // a long batch window, so that the injected messages tend to share one batch with the poison
    node = await startInProcess(receiptsEnv(ns, "sun-1", port, sims, { RECEIPT_BATCH_MS: "500" }));
    node.node.broker.createService(alarmListener);
    api = `${node.url}/api/v1`;
    nats = await connectNats(NATS_URL, `${ns}-test`);
    names = receiptNames(ns);
  });

  after(async () => {
    await nats?.nc.close();
    await node?.stop();
    await sims?.close();
    await cleanupReceipts(ns);
  });

  it("refuses NUL and lone surrogates at intake with 422 and stores nothing", async () => {
    const c = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    const json = RECEIPT_TYPES[0]!.examples.json;
    const xml = RECEIPT_TYPES[0]!.examples.xml;
    expect(json).to.match(/"cashier": "[^"]+"/);
    expect(xml).to.match(/<cashier>[^<]+<\/cashier>/);
    const cases: [string, string, string, RegExp][] = [
      [
        "\\u0000 in a JSON string",
        json.replace(/"cashier": "[^"]+"/, '"cashier": "Ole\\u0000na"'),
        "application/json",
        /NUL/,
      ],
      [
        "a lone high surrogate in JSON",
        json.replace(/"cashier": "[^"]+"/, '"cashier": "Ole\\ud800na"'),
        "application/json",
        /lone UTF-16 surrogate/,
      ],
      [
        "a lone low surrogate in JSON",
        json.replace(/"cashier": "[^"]+"/, '"cashier": "\\udc00"'),
        "application/json",
        /lone UTF-16 surrogate/,
      ],
      [
        "a raw NUL in XML text",
        xml.replace(/<cashier>[^<]+<\/cashier>/, "<cashier>Ole\u0000na</cashier>"),
        "application/xml",
        /NUL/,
      ],
    ];
    for (const [what, body, contentType, message] of cases) {
      const r = await call(`${api}/receipts`, c.apiKey, {
        method: "POST",
        body,
        headers: { "Content-Type": contentType },
      });
      expect(r.status, `${what}: ${r.text}`).to.equal(422);
      expect(r.json.error.code, what).to.equal("VALIDATION_ERROR");
      expect(r.json.error.requestId, what).to.be.a("string");
      const detail = (r.json.error.details as { path: string; message: string }[]).find((d) => d.path === "/cashier");
      expect(detail?.message, `${what}: ${r.text}`).to.match(message);
    }
    // one valid receipt afterwards: once it is in Postgres, anything accepted before it would be too
    const valid = await call(`${api}/receipts`, c.apiKey, {
      method: "POST",
      body: json,
      headers: { "Content-Type": "application/json" },
    });
    expect(valid.status, valid.text).to.equal(202);
    await waitFor(
      "the valid receipt in Postgres",
      async () => (await q("SELECT 1 FROM receipts WHERE id = $1", [valid.json.id])).length === 1,
      20_000,
    );
    const rows = await q<{ id: string }>("SELECT id FROM receipts WHERE client_id = $1", [c.client.id]);
    expect(rows.map((r) => r.id)).to.deep.equal([valid.json.id]);
    const list = await call(`${api}/receipts`, c.apiKey);
    expect(list.json.items.map((i: { id: string }) => i.id)).to.deep.equal([valid.json.id]);
  });

  it("a poisoned message past intake is dead-lettered with its reason and alarmed; the clean rows are all stored in order", async () => {
    const c = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    const base = Date.now();
    const record = (i: number, cashier?: string): ReceiptRecord => {
      const type = RECEIPT_TYPES[i % RECEIPT_TYPES.length]!;
      const body = Buffer.from(type.examples.json);
      const read = readReceipt(receiptTypes, body, "application/json");
      const createdAt = base + i;
      return {
        id: newReceiptId(createdAt),
        clientId: c.client.id,
        type: read.type.name,
        typeVersion: read.type.version,
        format: "json",
        contentType: "application/json",
        createdAt,
        idempotencyKey: null,
        fingerprint: fingerprint("json", body),
        callbackUrl: null,
        summary: read.summary,
        document: cashier === undefined ? read.document : { ...read.document, cashier },
        original: body.toString("base64"),
      };
    };
    const records = Array.from({ length: 16 }, (_, i) =>
      i === 5 ? record(i, "Ole\u0000na") : i === 11 ? record(i, "Ole\ud800na") : record(i),
    );
    const poisoned = new Map([
      [records[5]!.id, /22P05/],
      [records[11]!.id, /22P02/],
    ]);
    const clean = records.filter((r) => !poisoned.has(r.id));
    // bypassing HTTP, in order: the writer's consumer sees them as the intake would publish them
    for (const r of records) await nats.js.publish(names.recordSubject(r.id), JSON.stringify(r), { msgID: r.id });
    // status updates too: one with NUL in its reason (a text column), one clean after it
    const update = (r: ReceiptRecord, reason: string | null): ReceiptStatusUpdate => ({
      id: r.id,
      createdAt: r.createdAt,
      version: 3,
      status: reason === null ? "ACCEPTED" : "REJECTED",
      updatedAt: r.createdAt + 1000,
      taxReference: null,
      warehouseReference: null,
      reason,
    });
    const badUpdate = update(clean[0]!, "bad\u0000reason");
    const goodUpdate = update(clean[1]!, null);
    await nats.js.publish(names.statusSubject(badUpdate.id), JSON.stringify(badUpdate));
    await nats.js.publish(names.statusSubject(goodUpdate.id), JSON.stringify(goodUpdate));

    type Row = { id: string; status: string; tx: string };
    const stored = await waitFor(
      "every clean record stored and the clean update applied",
      async () => {
        const rows = await q<Row>("SELECT id, status, xmin::text AS tx FROM receipts WHERE client_id = $1", [
          c.client.id,
        ]);
        return rows.length === clean.length && rows.find((r) => r.id === goodUpdate.id)?.status === "ACCEPTED"
          ? rows
          : undefined;
      },
      30_000,
      100,
    );
    expect(stored.map((r) => r.id).sort()).to.deep.equal(clean.map((r) => r.id).sort());
    // in publish order: a row never commits in a transaction before an earlier row's (xmin is the
    // inserting transaction; the updated row has the update's, so it is left out)
    const byId = new Map(stored.map((r) => [r.id, BigInt(r.tx)]));
    const txs = clean.filter((r) => r.id !== goodUpdate.id).map((r) => byId.get(r.id)!);
    for (let i = 1; i < txs.length; i++)
      expect(txs[i]! >= txs[i - 1]!, `row ${i} committed before row ${i - 1}`).to.equal(true);
    expect(stored.find((r) => r.id === badUpdate.id)?.status).to.equal("RECEIVED");

    // dead-lettered with Postgres's reason on the runtime's DLQ, where operators list them
    const letters = await waitFor(
      "three dead letters",
      async () => {
        const l = await node.node.runtime.dlqList({ filter: names.dlqFilter, limit: 100 });
        return l.length >= 3 ? l : undefined;
      },
      10_000,
    );
    expect(letters).to.have.length(3);
    for (const [id, code] of poisoned) {
      const l = letters.find((x) => x.originalSubject === names.recordSubject(id));
      expect(l, `dead letter of ${id}`).to.not.equal(undefined);
      expect(l!.subject).to.equal(names.dlqSubject(id));
      expect(l!.error)
        .to.match(code)
        .and.match(/cannot be stored/);
      expect((l!.data as ReceiptRecord).id).to.equal(id);
    }
    const bad = letters.find((x) => x.originalSubject === names.statusSubject(badUpdate.id));
    expect(bad?.error).to.match(/22021/);

    // alarmed: the alarm.dlq event per dead letter and the node's metric
    await waitFor("three alarms", () => alarms.length >= 3, 10_000);
    expect(alarms.map((a) => [a.domain, a.kind, a.receiptId]).sort()).to.deep.equal(
      [
        ["receipts", "record", records[5]!.id],
        ["receipts", "record", records[11]!.id],
        ["receipts", "status", badUpdate.id],
      ].sort(),
    );
    expect(alarms.find((a) => a.receiptId === records[5]!.id)?.clientId).to.equal(c.client.id);
    const metrics = await call(`${node.url}/metrics`, null);
    expect(metrics.text).to.match(/switchyard_receipts_dead_lettered_total\{kind="record"\} 2\b/);
    expect(metrics.text).to.match(/switchyard_receipts_dead_lettered_total\{kind="status"\} 1\b/);

    // nothing waits behind the poison: the writer's consumer has nothing pending or unacked
    await waitFor(
      "writer consumer drained",
      async () => {
        const info = await nats.jsm.consumers.info(names.stream, names.writerConsumer);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      10_000,
    );
  });
});
