/**
 * Events end to end on the real servers: a node in this process (gateway, runtime, events),
 * producers over HTTP and plain NATS, Postgres read directly, both sender feeds, the DLQ with its
 * alarm and replay, encryption at rest and key rotation.
 */
import { expect } from "chai";
import type { ServiceSchema } from "moleculer";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { headers as natsHeaders, type NatsHandles } from "../../nats";
import type { EventNames } from "../../services/tenant-events/streams";
import { DataKeyring, rowAad } from "../../services/tenant-events/crypto";
import type { DlqAlarm } from "../../services/tenant-events/alarms";
import type { FeedEvent } from "../../services/tenant-events/model";
import { eventCommands } from "../../services/tenant-events/repl";
import { dlqListCommand, dlqReplayCommand } from "../../node/repl-commands";
import {
  KEY1,
  KEY2,
  call,
  cleanupEvents,
  makeClient,
  postJson,
  readFeed,
  startEventsNode,
  testNats,
  type EventsNode,
  type TestClient,
} from "./harness";

const ORDER_V1 = {
  type: "object",
  required: ["amount"],
  additionalProperties: false,
  properties: { amount: { type: "number" }, note: { type: "string" } },
};
const ORDER_V2 = {
  type: "object",
  required: ["amount"],
  additionalProperties: false,
  properties: { amount: { type: ["number", "string"] }, note: { type: "string" } },
};

describe("events end to end (HTTP, NATS, Postgres)", function () {
  this.timeout(90_000);
  const ns = freshNamespace("tev");
  const alarms: DlqAlarm[] = [];
  const alarmListener: ServiceSchema = {
    name: "alarmlistener",
    events: { "alarm.dlq": { handler: (c: { params: DlqAlarm }) => void alarms.push(c.params) } },
  };
  let n: EventsNode;
  let nats: NatsHandles;
  let names: EventNames;
  let admin: TestClient;
  let a: TestClient;
  let b: TestClient;
  let reader: TestClient;

  const api = (path: string): string => `${n.url}/api/v1${path}`;
  const ev = (clientId: string, eventId: string, type: string, data: Record<string, unknown>) => ({
    clientId,
    eventId,
    type,
    timestamp: new Date().toISOString(),
    data,
  });
  const publish = (tenant: string, body: unknown, msgID?: string) =>
    nats.js.publish(
      names.inSubject(tenant),
      typeof body === "string" ? body : JSON.stringify(body),
      msgID ? { msgID } : {},
    );
  const q = async <T = Record<string, unknown>>(sql: string, args: unknown[] = []): Promise<T[]> =>
    (await n.node.ctx.pg.query(sql, args)).rows as T[];
  const storedIds = async (tenant: string): Promise<string[]> =>
    (await q<{ event_id: string }>("SELECT event_id FROM events WHERE client_id = $1 ORDER BY seq", [tenant])).map(
      (r) => r.event_id,
    );
  const define = async (name: string, schema: unknown) => {
    const r = await postJson(api(`/admin/event-types/${name}/versions`), admin.key, { schema });
    expect(r.status, r.text).to.equal(201);
    return r.json as { version: number };
  };
  /** Every page of the polling feed of `key`'s tenant, `limit` at a time. */
  const pollAll = async (key: string, limit: number): Promise<FeedEvent[]> => {
    const out: FeedEvent[] = [];
    let cursor: string | undefined;
    for (;;) {
      const r = await call(api(`/events?limit=${limit}${cursor ? `&after=${cursor}` : ""}`), key);
      expect(r.status, r.text).to.equal(200);
      out.push(...(r.json.items as FeedEvent[]));
      cursor = r.json.cursor;
      if (!r.json.hasMore) return out;
    }
  };

  before(async () => {
    n = await startEventsNode(ns, "ev-1", {}, [alarmListener]);
    ({ h: nats, names } = await testNats(ns));
    admin = await makeClient(n.node, ["admin"]);
    a = await makeClient(n.node, ["events:read", "events:write"]);
    b = await makeClient(n.node, ["events:read", "events:write"]);
    reader = await makeClient(n.node, ["events:read"]);
    await define("order.created", ORDER_V1);
    await define("user.signup", {
      type: "object",
      required: ["email"],
      properties: { email: { type: "string", format: "email" } },
    });
    await define("page.view", {
      type: "object",
      required: ["url"],
      properties: { url: { type: "string", format: "uri" } },
    });
  });

  after(async () => {
    await nats?.nc.close();
    await n?.stop();
    await cleanupEvents(ns);
  });

  it("stores valid events of several types and tenants once each; both sender feeds carry them in per-tenant order", async () => {
    const kinds = [
      (i: number) => ["order.created", { amount: i, note: `n${i}` }] as const,
      (i: number) => ["user.signup", { email: `u${i}@example.com` }] as const,
      (i: number) => ["page.view", { url: `https://example.com/p/${i}` }] as const,
    ];
    const make = (tenant: string, prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => {
        const [type, data] = kinds[i % 3]!(i);
        return ev(tenant, `${prefix}-${String(i).padStart(3, "0")}`, type, data);
      });
    // tenant a over HTTP (one batch, then the same batch again: the intake dedupes it)
    const batchA = make(a.id, "a", 30);
    const r1 = await postJson(api("/events"), a.key, batchA);
    expect(r1.status, r1.text).to.equal(202);
    expect(r1.json).to.deep.equal({ accepted: 30, duplicates: 0 });
    const r2 = await postJson(api("/events"), a.key, batchA);
    expect(r2.json).to.deep.equal({ accepted: 30, duplicates: 30 });
    // tenant b over plain NATS (a JetStream publish ack per event), single POST too
    const batchB = make(b.id, "b", 25);
    for (const e of batchB) await publish(b.id, e, `${b.id}:${e.eventId}`);
    expect(
      (await postJson(api("/events"), b.key, ev(b.id, "b-http", "page.view", { url: "https://example.com/x" }))).status,
    ).to.equal(202);
    // a NATS-only tenant, and repeats of a's ids with new message ids (past the intake's dedupe):
    // the store must make them no-ops
    const batchC = make("tenant-c", "c", 20);
    for (const e of batchC) await publish("tenant-c", e);
    for (const e of batchA.slice(0, 5))
      await publish(a.id, e.type === "order.created" ? { ...e, data: { amount: 999 } } : e);

    const expectA = batchA.map((e) => e.eventId);
    const expectB = [...batchB.map((e) => e.eventId), "b-http"];
    const expectC = batchC.map((e) => e.eventId);
    await waitFor(
      "every event stored",
      async () =>
        (await storedIds(a.id)).length === 30 &&
        (await storedIds(b.id)).length === 26 &&
        (await storedIds("tenant-c")).length === 20,
      30_000,
      100,
    );
    await waitFor(
      "the repeats processed",
      async () => {
        const s = (await call(api("/admin/events/stats"), admin.key)).json;
        return s.tenants[a.id]?.duplicates === 5;
      },
      15_000,
      100,
    );

    // once each, in publish order per tenant, the first version of a repeated id kept
    expect(await storedIds(a.id)).to.deep.equal(expectA);
    expect(await storedIds(b.id)).to.deep.equal(expectB);
    expect(await storedIds("tenant-c")).to.deep.equal(expectC);
    expect(
      (await q<{ n: string }>("SELECT count(*) AS n FROM event_keys WHERE client_id = $1", [a.id]))[0]!.n,
    ).to.equal("30");

    // polling feed: keyset pages of 7, the caller's tenant only, decrypted, in order
    const polledA = await pollAll(a.key, 7);
    expect(polledA.map((e) => e.eventId)).to.deep.equal(expectA);
    expect(polledA.every((e) => e.clientId === a.id)).to.equal(true);
    expect(polledA[0]!.data).to.deep.equal({ amount: 0, note: "n0" });
    expect(polledA.map((e) => e.type).slice(0, 3)).to.deep.equal(["order.created", "user.signup", "page.view"]);
    expect((await pollAll(b.key, 100)).map((e) => e.eventId)).to.deep.equal(expectB);
    // the cursor of the last page returns nothing new until something is stored
    const last = await call(api(`/events?limit=100`), a.key);
    const again = await call(api(`/events?after=${last.json.cursor}`), a.key);
    expect(again.json.items).to.deep.equal([]);
    expect(again.json.cursor).to.equal(last.json.cursor);

    // push feed: the same events in the same order, one message each
    for (const [tenant, ids] of [
      [a.id, expectA],
      [b.id, expectB],
      ["tenant-c", expectC],
    ] as const) {
      const pushed = await readFeed(nats, names, tenant);
      expect(
        pushed.map((e) => e.eventId),
        tenant,
      ).to.deep.equal(ids);
      const seqs = pushed.map((e) => e.seq);
      expect(seqs, "increasing store sequence").to.deep.equal([...seqs].sort((x, y) => x - y));
    }
    expect((await readFeed(nats, names, a.id))[0]!.data).to.deep.equal({ amount: 0, note: "n0" });
  });

  it("keeps tenants apart over HTTP: another clientId is 403, a read-only client cannot write, reads see only the caller's events", async () => {
    const other = await postJson(
      api("/events"),
      a.key,
      ev(b.id, "steal-1", "page.view", { url: "https://example.com" }),
    );
    expect(other.status, other.text).to.equal(403);
    expect(other.json.error.code).to.equal("FORBIDDEN");
    const inBatch = await postJson(api("/events"), a.key, [
      ev(a.id, "mine-1", "page.view", { url: "https://example.com" }),
      ev(b.id, "steal-2", "page.view", { url: "https://example.com" }),
    ]);
    expect(inBatch.status).to.equal(403);
    expect(inBatch.json.error.details).to.deep.equal([
      { path: "/body/1/clientId", message: "must equal the tenant of the subject or the authenticated client" },
    ]);
    expect(
      (await postJson(api("/events"), reader.key, ev(reader.id, "r-1", "page.view", { url: "https://example.com" })))
        .status,
    ).to.equal(403);
    expect((await call(api("/events"), reader.key)).json.items).to.deep.equal([]);
    expect((await call(api("/events"), null)).status).to.equal(401);
    expect(await storedIds(b.id)).to.not.include.members(["steal-1", "steal-2"]);
    expect(await storedIds(a.id)).to.not.include("mine-1");
  });

  it("dead-letters invalid envelopes, unknown types and schema violations with the reason, raises the alarm, and stores them after the schema is fixed and they are replayed", async () => {
    const t = "tenant-d";
    await publish(t, { clientId: t, type: "order.created", timestamp: Date.now(), data: { amount: 1 } }); // no eventId
    await publish(t, ev(t, "d-unknown", "nope.nope", { x: 1 }));
    await publish(t, ev(t, "d-schema", "order.created", { amount: "12.50" }));
    await publish(t, ev("someone-else", "d-tenant", "order.created", { amount: 1 }));
    await publish(t, '{"clientId": "tenant-d", "eventId": "d-trunc"');
    const want = ["INVALID_ENVELOPE", "UNKNOWN_TYPE", "SCHEMA_VIOLATION", "TENANT_MISMATCH", "INVALID_JSON"];
    const entries = await waitFor(
      "five dead letters of tenant-d",
      async () => {
        const r = await call(api(`/admin/events/dlq?tenant=${t}`), admin.key);
        return r.json?.items?.length === 5
          ? (r.json.items as Array<{ seq: number; code: string; reason: string; tenant: string; data: any }>)
          : undefined;
      },
      20_000,
      100,
    );
    expect(entries.map((e) => e.code)).to.deep.equal(want);
    expect(entries.every((e) => e.tenant === t)).to.equal(true);
    expect(entries[2]!.reason).to.equal(
      "SCHEMA_VIOLATION: data does not match order.created v1 (/data/amount: must be number)",
    );
    expect(entries[0]!.reason).to.contain("/eventId: is required");
    expect(entries[2]!.data.eventId).to.equal("d-schema");

    // the alarm: a Moleculer event and the per-tenant depth gauge
    const alarm = await waitFor(
      "alarm.dlq for tenant-d",
      () => alarms.filter((x) => x.tenant === t).at(-1),
      10_000,
      50,
    );
    expect(alarm.domain).to.equal("events");
    expect(alarm.subject).to.equal(names.dlqSubject(t));
    await waitFor("alarm at depth 5", () => alarms.some((x) => x.tenant === t && x.depth === 5), 10_000, 50);
    const metrics = await call(`${n.url}/metrics`, null);
    expect(metrics.text).to.match(new RegExp(`switchyard_events_dlq_depth\\{tenant="${t}"\\} 5`));

    // the runtime's operator commands see them too (REPL dlq-list)
    const listed = await dlqListCommand(n.node.broker, { filter: names.dlqSubject(t) });
    expect(listed.map((e) => e.seq)).to.deep.equal(entries.map((e) => e.seq));
    expect(listed[1]!.error).to.match(/^UNKNOWN_TYPE: /);
    expect(await storedIds(t)).to.deep.equal([]);

    // fix: a new version of order.created accepts the string amount, and nope.nope gets defined;
    // replay one through the admin route and one through the REPL command
    expect((await define("order.created", ORDER_V2)).version).to.equal(2);
    await define("nope.nope", { type: "object" });
    const replay = await postJson(api("/admin/events/dlq/replay"), admin.key, { seqs: [entries[2]!.seq, 999_999] });
    expect(replay.status, replay.text).to.equal(200);
    expect(replay.json).to.deep.equal({ replayed: [entries[2]!.seq], missing: [999_999] });
    expect(await dlqReplayCommand(n.node.broker, { seqs: [entries[1]!.seq] })).to.deep.equal({
      replayed: [entries[1]!.seq],
      missing: [],
    });
    await waitFor("replayed events stored", async () => (await storedIds(t)).length === 2, 15_000, 100);
    expect((await storedIds(t)).sort()).to.deep.equal(["d-schema", "d-unknown"]);
    const row = (
      await q<{ type_version: number }>(
        "SELECT type_version FROM events WHERE client_id = $1 AND event_id = 'd-schema'",
        [t],
      )
    )[0]!;
    expect(row.type_version).to.equal(2);
    const left = (await call(api(`/admin/events/dlq?tenant=${t}`), admin.key)).json.items.map(
      (e: { code: string }) => e.code,
    );
    expect(left).to.deep.equal(["INVALID_ENVELOPE", "TENANT_MISMATCH", "INVALID_JSON"]);
    // the REPL's events-dlq shows the same, with the depth per tenant
    const viaRepl = await eventCommands.dlq(n.node.broker, { tenant: t });
    expect(viaRepl.items.map((e) => e.code)).to.deep.equal(left);
    await waitFor(
      "depth 3 after replay",
      async () => (await eventCommands.dlq(n.node.broker, { tenant: t })).depths[t] === 3,
      10_000,
      100,
    );
    // other domains' dead letters are not replayed through the events route
    const foreign = await nats.js.publish(`${ns}.dlq.actor.probe.k1`, "{}", { headers: natsHeaders() });
    expect((await postJson(api("/admin/events/dlq/replay"), admin.key, { seqs: [foreign.seq] })).json).to.deep.equal({
      replayed: [],
      missing: [foreign.seq],
    });
  });

  it("applies a new type on every node without a restart (the registry is watched)", async () => {
    const second = await startEventsNode(ns, "ev-2");
    try {
      // defined through the REPL command on the first node
      expect(
        (await eventCommands.define(n.node.broker, "late.type", { type: "object", required: ["k"] }, "test")).version,
      ).to.equal(1);
      // the second node's registry (its own watch) knows it at once
      await waitFor(
        "type visible on the second node",
        async () => (await call(`${second.url}/api/v1/event-types/late.type`, a.key)).status === 200,
        10_000,
        50,
      );
      const r = await postJson(`${second.url}/api/v1/events`, a.key, ev(a.id, "late-1", "late.type", { k: 1 }));
      expect(r.status, r.text).to.equal(202);
      const bad = await postJson(`${second.url}/api/v1/events`, a.key, ev(a.id, "late-2", "late.type", {}));
      expect(bad.status).to.equal(422);
      expect(bad.json.error.details).to.deep.equal([{ path: "/body/data/k", message: "is required" }]);
      await waitFor("late-1 stored", async () => (await storedIds(a.id)).includes("late-1"), 15_000, 100);
      // the REPL's events-stats sees both nodes, and every tenant partition on exactly one of them
      const stats = await waitFor(
        "both nodes in events-stats, partitions settled",
        async () => {
          const s = await eventCommands.stats(n.node.broker);
          return s.length === 2 && s.flatMap((x) => x.partitions).length === 4 ? s : undefined;
        },
        15_000,
        100,
      );
      expect(stats.flatMap((x) => x.partitions).sort()).to.deep.equal([0, 1, 2, 3]);
    } finally {
      await second.stop();
    }
  });

  it("keeps data unreadable in Postgres without the key; the key gives it back; rotation keeps old rows readable", async () => {
    const marker = "PLAINTEXT-MARKER-7f3a";
    expect(
      (await postJson(api("/events"), a.key, ev(a.id, "secret-1", "order.created", { amount: 1, note: marker })))
        .status,
    ).to.equal(202);
    await waitFor("secret-1 stored", async () => (await storedIds(a.id)).includes("secret-1"), 15_000, 100);
    const row = (
      await q<{ key_id: string; data_enc: Buffer; enc_text: string }>(
        "SELECT key_id, data_enc, encode(data_enc, 'escape') AS enc_text FROM events WHERE client_id = $1 AND event_id = 'secret-1'",
        [a.id],
      )
    )[0]!;
    expect(row.key_id).to.equal("k1");
    expect(row.data_enc.includes(Buffer.from(marker))).to.equal(false);
    expect(row.enc_text).to.not.contain(marker);
    const hits = await q("SELECT 1 FROM events e WHERE position(convert_to($1, 'UTF8') IN e.data_enc) > 0", [marker]);
    expect(hits).to.have.length(0);
    const plain = new DataKeyring({ k1: KEY1 }, "k1").decrypt(row.key_id, row.data_enc, rowAad(a.id, "secret-1"));
    expect(JSON.parse(plain.toString("utf8"))).to.deep.equal({ amount: 1, note: marker });

    // rotate: restart with k2 current and k1 kept for reading
    await n.stop();
    n = await startEventsNode(ns, "ev-1b", { EVENTS_DATA_KEYS: `k1:${KEY1},k2:${KEY2}`, EVENTS_DATA_KEY_ID: "k2" }, [
      alarmListener,
    ]);
    expect(
      (await postJson(api("/events"), a.key, ev(a.id, "secret-2", "order.created", { amount: 2, note: marker })))
        .status,
    ).to.equal(202);
    await waitFor("secret-2 stored", async () => (await storedIds(a.id)).includes("secret-2"), 20_000, 100);
    const keys = await q<{ event_id: string; key_id: string }>(
      "SELECT event_id, key_id FROM events WHERE client_id = $1 AND event_id LIKE 'secret-%' ORDER BY seq",
      [a.id],
    );
    expect(keys).to.deep.equal([
      { event_id: "secret-1", key_id: "k1" },
      { event_id: "secret-2", key_id: "k2" },
    ]);
    const polled = (await pollAll(a.key, 1000)).filter((e) => e.eventId.startsWith("secret-"));
    expect(polled.map((e) => e.data)).to.deep.equal([
      { amount: 1, note: marker },
      { amount: 2, note: marker },
    ]);
  });
});
