/**
 * Hostile and malformed supporter payloads on the real servers (one child node): over HTTP each
 * gets a 4xx in the gateway's uniform error shape, over NATS request/reply an error reply with
 * a code and details, over JetStream a rejection notice; every one is logged (the node's log
 * names each request id and status, or the refusal with its reasons, never the values), and
 * nothing is stored: no intake message left, no data key, no supporter state, no event-log row,
 * no call to the user or ERP service.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { DATABASE_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { createPool } from "../../db";
import { supporterNames } from "../../services/supporters/streams";
import { topology } from "../../streams/subjects";
import { isUniformError } from "../gateway/harness";
import {
  Producers,
  cleanupSupporters,
  freePort,
  makeClientIn,
  startChild,
  startSims,
  supportersEnv,
  type ChildNode,
  type Sims,
} from "./harness";
import { testLogDir } from "../support/log-dir";

const good = {
  source: "giftaid",
  identity: { email: "hostile.target@example.org", firstName: "Val" },
  events: [{ type: "giftaid.declared", occurredAt: "2025-03-01T10:00:00Z", data: { amount: 5 } }],
};
const SECRET = "s3cr3t-v4lue";

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

/** Hostile bodies for POST /api/v1/supporter-events: [name, body, content type]. */
const HTTP_CASES: Array<[string, string | Uint8Array, string]> = [
  ["not JSON", "{nope", "application/json"],
  ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), "application/json"],
  ["text/plain", JSON.stringify(good), "text/plain"],
  ["XML", "<supporter/>", "application/xml"],
  [
    "70 KB",
    JSON.stringify({ ...good, identity: { ...good.identity, lastName: "x".repeat(70_000) } }),
    "application/json",
  ],
  ["empty", "", "application/json"],
  ["an array", "[]", "application/json"],
  ["null", "null", "application/json"],
  ["unknown source", JSON.stringify({ ...good, source: "fax" }), "application/json"],
  ["no identity", JSON.stringify({ source: "sms", events: [] }), "application/json"],
  ["identity without email or phone", JSON.stringify({ ...good, identity: { firstName: SECRET } }), "application/json"],
  ["bad email", JSON.stringify({ ...good, identity: { email: `${SECRET}-at-nowhere` } }), "application/json"],
  ["bad phone", JSON.stringify({ ...good, identity: { phone: `12345678` } }), "application/json"],
  ["email as a number", JSON.stringify({ ...good, identity: { email: 42 } }), "application/json"],
  [
    "__proto__ in identity",
    `{"source":"sms","identity":{"email":"a@b.org","__proto__":{"admin":true}},"events":[]}`,
    "application/json",
  ],
  [
    "constructor.prototype",
    `{"source":"sms","identity":{"email":"a@b.org"},"events":[],"constructor":{"prototype":{"x":1}}}`,
    "application/json",
  ],
  [
    "51 events",
    JSON.stringify({ ...good, events: Array.from({ length: 51 }, () => good.events[0]) }),
    "application/json",
  ],
  [
    "bad event type",
    JSON.stringify({ ...good, events: [{ type: "DROP TABLE;", occurredAt: "2025-03-01T10:00:00Z" }] }),
    "application/json",
  ],
  [
    "bad occurredAt",
    JSON.stringify({ ...good, events: [{ type: "a.b", occurredAt: "yesterday" }] }),
    "application/json",
  ],
  [
    "data with 101 keys",
    JSON.stringify({
      ...good,
      events: [
        {
          type: "a.b",
          occurredAt: "2025-03-01T10:00:00Z",
          data: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])),
        },
      ],
    }),
    "application/json",
  ],
  [
    "data nested 20 deep",
    JSON.stringify({ ...good, events: [{ type: "a.b", occurredAt: "2025-03-01T10:00:00Z", data: nested(20) }] }),
    "application/json",
  ],
  ["JSON nested 20000 deep", `${"[".repeat(20_000)}${"]".repeat(20_000)}`, "application/json"],
  [
    "name of 10,000 characters",
    JSON.stringify({ ...good, identity: { ...good.identity, firstName: "x".repeat(10_000) } }),
    "application/json",
  ],
  ["path-like message id", JSON.stringify({ ...good, messageId: "../../etc/passwd" }), "application/json"],
  ["extra field", JSON.stringify({ ...good, isAdmin: true }), "application/json"],
];

/** Hostile NATS request payloads: [name, subject source, payload, expected code]. */
const NATS_CASES: Array<[string, string, string | Uint8Array, string]> = [
  ["not JSON", "sms", "{nope", "INVALID_JSON"],
  ["invalid UTF-8", "sms", Buffer.from([0x7b, 0xff, 0x7d]), "INVALID_JSON"],
  ["empty", "sms", "", "INVALID_JSON"],
  [
    "40 KB",
    "sms",
    JSON.stringify({ ...good, source: undefined, identity: { ...good.identity, lastName: "x".repeat(40_000) } }),
    "PAYLOAD_TOO_LARGE",
  ],
  ["unknown source subject", "fax", JSON.stringify({ identity: good.identity, events: [] }), "VALIDATION_ERROR"],
  ["source mismatch", "sms", JSON.stringify(good), "VALIDATION_ERROR"],
  ["bad email", "sms", JSON.stringify({ identity: { email: `${SECRET}@` }, events: [] }), "VALIDATION_ERROR"],
  ["bad phone", "sms", JSON.stringify({ identity: { phone: "+0" }, events: [] }), "VALIDATION_ERROR"],
  ["no email or phone", "sms", JSON.stringify({ identity: { lastName: SECRET }, events: [] }), "VALIDATION_ERROR"],
  [
    "data nested 20 deep",
    "sms",
    JSON.stringify({
      identity: good.identity,
      events: [{ type: "a.b", occurredAt: "2025-03-01T10:00:00Z", data: nested(20) }],
    }),
    "VALIDATION_ERROR",
  ],
  ["a number", "sms", "42", "VALIDATION_ERROR"],
  ["__proto__", "sms", `{"identity":{"email":"a@b.org"},"events":[],"__proto__":{"x":1}}`, "VALIDATION_ERROR"],
];

describe("supporters: hostile and malformed payloads", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tsup");
  let sims: Sims;
  let node: ChildNode;
  let nats: Producers;
  let writer: { apiKey: string };
  const requestIds: Array<[string, number]> = [];

  before(async () => {
    sims = await startSims();
    node = await startChild(supportersEnv(ns, "h1", await freePort(), sims, { LOG_LEVEL: "debug" }));
    nats = await Producers.connect(ns);
    writer = await makeClientIn(ns, ["supporters:write"]);
  });

  after(async () => {
    await nats?.close();
    await node?.stop("SIGKILL").catch(() => undefined);
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it("HTTP: every hostile body gets a 4xx in the uniform error shape, with details for schema violations", async () => {
    for (const [name, body, type] of HTTP_CASES) {
      const res = await fetch(`${node.url}/api/v1/supporter-events`, {
        method: "POST",
        headers: { Authorization: `Bearer ${writer.apiKey}`, "Content-Type": type },
        body,
      });
      const text = await res.text();
      expect(res.status, `${name}: ${text.slice(0, 200)}`).to.be.within(400, 499);
      const json: unknown = JSON.parse(text);
      expect(isUniformError(json), `${name}: ${text.slice(0, 200)}`).to.equal(true);
      if (res.status === 422)
        expect((json as { error: { details?: unknown[] } }).error.details, name).to.be.an("array").that.is.not.empty;
      expect(text, name).to.not.contain(SECRET);
      requestIds.push([res.headers.get("x-request-id") ?? "", res.status]);
    }
    const noKey = await fetch(`${node.url}/api/v1/supporter-events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(good),
    });
    expect(noKey.status).to.equal(401);
    const reader = await makeClientIn(ns, ["supporters:read"]);
    const wrongScope = await fetch(`${node.url}/api/v1/supporter-events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${reader.apiKey}`, "Content-Type": "application/json" },
      body: JSON.stringify(good),
    });
    expect(wrongScope.status).to.equal(403);
    const admin = await makeClientIn(ns, ["admin"]);
    const forgetBadHash = await fetch(`${node.url}/api/v1/supporters/not-a-hash/forget`, {
      method: "POST",
      headers: { Authorization: `Bearer ${admin.apiKey}` },
    });
    expect(forgetBadHash.status).to.equal(400);
  });

  it("NATS request/reply: every hostile payload gets an error reply with a code and details", async () => {
    for (const [name, source, payload, code] of NATS_CASES) {
      const m = await nats.h.nc.request(nats.names.reqSubject(source), payload, { timeout: 10_000 });
      const r = m.json<{
        ok: boolean;
        error?: { code: string; message: string; details?: Array<{ path: string; message: string }> };
      }>();
      expect(r.ok, name).to.equal(false);
      expect(r.error?.code, `${name}: ${JSON.stringify(r)}`).to.equal(code);
      if (code === "VALIDATION_ERROR") expect(r.error?.details, name).to.be.an("array").that.is.not.empty;
      expect(JSON.stringify(r), name).to.not.contain(SECRET);
    }
  });

  it("JetStream capture: too large is refused by the stream; malformed is refused by the pump with a notice; nothing stays", async () => {
    const names = supporterNames(ns);
    const notices: unknown[] = [];
    const sub = nats.h.nc.subscribe(`${ns}.supporters.rejected.*`, {
      callback: (_e, m) => {
        notices.push(m.json());
      },
    });
    await nats.h.nc.flush();
    let tooLarge: unknown = null;
    await nats
      .publish("sms", JSON.stringify({ identity: good.identity, events: [], pad: "x".repeat(40_000) }))
      .catch((err: unknown) => (tooLarge = err));
    expect(tooLarge, "a 40 KB publish must fail").to.not.equal(null);
    await nats.publish("sms", "{nope", "producer-1");
    await nats.publish("sms", JSON.stringify({ identity: { email: `${SECRET}@` }, events: [] }), "producer-2");
    // an unknown source is captured (in.*) and refused by the pump
    await nats.publish("fax", JSON.stringify({ identity: good.identity, events: [] }));
    await waitFor("three rejection notices", () => notices.length >= 3, 20_000, 50);
    sub.unsubscribe();
    expect(notices.map((n) => (n as { error: { code: string } }).error.code).sort()).to.deep.equal([
      "INVALID_JSON",
      "VALIDATION_ERROR",
      "VALIDATION_ERROR",
    ]);
    expect(JSON.stringify(notices)).to.not.contain(SECRET);
    expect(notices.some((n) => (n as { messageId: string | null }).messageId === "producer-1")).to.equal(true);
    await waitFor(
      "intake stream empty",
      async () => (await nats.h.jsm.streams.info(names.inStream)).state.messages === 0,
      20_000,
      100,
    );
  });

  it("nothing was stored, nothing was sent downstream, and every refusal was logged without the values", async () => {
    const names = supporterNames(ns);
    const topo = topology(ns);
    expect((await nats.h.jsm.streams.info(names.inStream)).state.messages).to.equal(0);
    expect((await nats.h.jsm.streams.info(names.logStream)).state.messages).to.equal(0);
    expect((await nats.h.jsm.streams.info(`KV_${names.keysBucket}`)).state.messages).to.equal(0);
    expect((await nats.h.jsm.streams.info(topo.actors.stream("supporter"))).state.messages).to.equal(0);
    expect((await nats.h.jsm.streams.info(`KV_${topo.actors.stateBucket("supporter")}`)).state.messages).to.equal(0);
    expect((await nats.h.jsm.streams.info(topo.jobs.stream)).state.messages).to.equal(0);
    const pg = createPool(DATABASE_URL, ns, 1);
    try {
      expect((await pg.query("SELECT count(*)::int AS n FROM supporter_messages")).rows[0]).to.deep.equal({ n: 0 });
    } finally {
      await pg.end();
    }
    expect(sims.user.counters.requests + sims.erp.counters.requests).to.equal(0);
    const logFile = testLogDir(`${ns}-h1.log`);
    await waitFor("log flushed", () => readFileSync(logFile, "utf8").includes(requestIds.at(-1)![0]), 10_000, 100);
    const lines = readFileSync(logFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
    // every HTTP refusal: the gateway's request log line with its status
    for (const [id, status] of requestIds)
      expect(
        lines.some((l) => l["requestId"] === id && l["status"] === status),
        `request ${id}`,
      ).to.equal(true);
    // every NATS and JetStream refusal: the domain's warning with code and paths
    const refusals = lines.filter(
      (l) => l["msg"] === "supporter payload refused" || l["msg"] === "supporter payload refused at intake",
    );
    expect(refusals.length).to.be.at.least(NATS_CASES.length + 3);
    expect(refusals.every((l) => typeof l["code"] === "string")).to.equal(true);
    expect(readFileSync(logFile, "utf8")).to.not.contain(SECRET);
  });
});
