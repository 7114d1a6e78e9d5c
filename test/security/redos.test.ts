/**
 * Issue 11, item 3 (ReDoS): a hostile event-type schema must not stall a node. An admin registers
 * a type whose pattern backtracks catastrophically in a backtracking engine (`^(a+)+$`), then
 * events with `"a"×40 + "!"` arrive over HTTP and over plain JetStream publishes. The node must
 * validate them (refuse them, deterministically) and keep answering `/health/ready` fast;
 * patterns that a linear-time engine cannot run (backreferences, lookaround) are refused at
 * registration with a 422 naming the pattern.
 *
 * The node is a child process: on code with a backtracking engine it spins at 100% CPU for good
 * (and ignores SIGTERM), so the test must be able to SIGKILL it; every request here has its own
 * timeout so a stuck node fails the test instead of hanging it.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { startChild, type ChildNode } from "../support/node";
import { waitFor } from "../support/wait";
import { answerOf, type Answer } from "../support/http";
import { cleanupEvents, eventsEnv, testNats } from "../tenant-events/harness";
import { makeClientIn } from "../supporters/harness";
import type { NatsHandles } from "../../nats";
import type { EventNames } from "../../services/tenant-events/streams";

/** Catastrophic backtracking: 2^n steps on "a"×n + "!" in a backtracking engine. */
const EVIL_PATTERN = "^(a+)+$";
const EVIL = `${"a".repeat(40)}!`;
/** Each request's own deadline: far above a healthy answer, far below "for good". */
const REQUEST_TIMEOUT_MS = 5_000;
const READY_BUDGET_MS = 100;

/** One HTTP call that fails (rejects) when no answer comes within `timeoutMs`. */
async function timedCall(
  url: string,
  key: string | null,
  init: { method?: string; body?: unknown } = {},
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: {
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
      ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  }).catch((err: unknown) => {
    throw new Error(`${init.method ?? "GET"} ${url}: no answer within ${timeoutMs} ms (${(err as Error).message})`);
  });
  return answerOf(res);
}

/**
 * Times `count` sequential `/health/ready` probes. Each must answer 200 within 2 s (a stalled
 * node fails here). The 100 ms budget is held by the median, not by every probe: the machine is
 * a loaded 2-core box shared with other test runs, where a single probe can wait for a time
 * slice or a GC pause for reasons that have nothing to do with this node; a node busy in a
 * regex answers none of them, so the median still tells the two apart.
 */
async function readyLatencies(url: string, count = 5): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await timedCall(`${url}/health/ready`, null, {}, 2_000);
    out.push(performance.now() - t0);
    expect(r.status, r.text).to.equal(200);
  }
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function expectResponsive(url: string): Promise<void> {
  const ms = await readyLatencies(url);
  expect(median(ms), `median /health/ready latency of ${ms.map((m) => m.toFixed(1)).join(", ")} ms`).to.be.below(
    READY_BUDGET_MS,
  );
}

describe("security: a hostile event-type pattern cannot stall a node (ReDoS)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tsr");
  const TYPE = "redos.probe";
  let node: ChildNode;
  let nats: NatsHandles;
  let names: EventNames;
  let adminKey: string;
  let producer: { id: string; key: string };

  const api = (path: string): string => `${node.url}/api/v1${path}`;
  const ev = (eventId: string, s: string) => ({
    clientId: producer.id,
    eventId,
    type: TYPE,
    timestamp: new Date().toISOString(),
    data: { s },
  });
  const define = (name: string, schema: unknown): Promise<Answer> =>
    timedCall(api(`/admin/event-types/${name}/versions`), adminKey, { method: "POST", body: { schema } });

  before(async () => {
    node = await startChild(eventsEnv(ns, "redos-1", await freePort()));
    adminKey = (await makeClientIn(ns, ["admin"])).apiKey;
    const p = await makeClientIn(ns, ["events:read", "events:write"]);
    producer = { id: p.client.id, key: p.apiKey };
    ({ h: nats, names } = await testNats(ns));
    const r = await define(TYPE, {
      type: "object",
      required: ["s"],
      additionalProperties: false,
      properties: { s: { type: "string", pattern: EVIL_PATTERN } },
    });
    expect(r.status, r.text).to.equal(201);
  });

  after(async () => {
    await nats?.nc.close();
    if (node) {
      // A node stuck in a regex ignores SIGTERM: give a healthy one its drain, then kill.
      const exited = node.stop("SIGTERM");
      const grace = new Promise<"late">((resolve) => setTimeout(() => resolve("late"), 10_000).unref());
      if ((await Promise.race([exited, grace])) === "late") await node.stop("SIGKILL");
    }
    await cleanupEvents(ns);
  });

  it("refuses backreference and lookaround patterns at registration with a 422 naming the pattern", async () => {
    const backref = await define("redos.backref", {
      type: "object",
      properties: { s: { type: "string", pattern: "^(a+)\\1$" } },
    });
    expect(backref.status, backref.text).to.equal(422);
    expect(backref.json.error.code).to.equal("VALIDATION_ERROR");
    const detail = (backref.json.error.details as Array<{ path: string; message: string }>).find(
      (d) => d.path === "/schema/properties/s/pattern",
    );
    expect(detail, backref.text).to.not.equal(undefined);
    expect(detail!.message).to.contain(JSON.stringify("^(a+)\\1$")); // named as written in JSON

    const lookahead = await define("redos.lookahead", {
      type: "object",
      patternProperties: { "^(?!x)": { type: "string" } },
    });
    expect(lookahead.status, lookahead.text).to.equal(422);
    expect(lookahead.text).to.contain("(?!x)");
    // nothing of either was registered
    expect((await timedCall(api("/event-types/redos.backref"), producer.key)).status).to.equal(404);
    await expectResponsive(node.url);
  });

  it("validates the evil event over HTTP in linear time: refused with 422, the node answers /health/ready fast", async () => {
    const evil = timedCall(api("/events"), producer.key, { method: "POST", body: ev("http-evil", EVIL) });
    evil.catch(() => undefined); // awaited below; until then a rejection is not "unhandled"
    // probes while the evil event is being handled, then after
    await expectResponsive(node.url);
    const r = await evil;
    expect(r.status, r.text).to.equal(422);
    expect(r.json.error.details).to.deep.equal([
      { path: "/body/data/s", message: `must match pattern "${EVIL_PATTERN}"` },
    ]);
    const good = await timedCall(api("/events"), producer.key, {
      method: "POST",
      body: ev("http-good", "a".repeat(40)),
    });
    expect(good.status, good.text).to.equal(202);
    await expectResponsive(node.url);
  });

  it("validates evil events published on NATS: dead-lettered as schema violations, the valid one stored, the node stays fast", async () => {
    const count = 20;
    for (let i = 0; i < count; i++)
      await nats.js.publish(names.inSubject(producer.id), JSON.stringify(ev(`nats-evil-${i}`, EVIL)));
    await nats.js.publish(names.inSubject(producer.id), JSON.stringify(ev("nats-good", "aaaa")));
    await expectResponsive(node.url);

    const dead = await waitFor(
      "the evil events in the DLQ",
      async () => {
        const r = await timedCall(api(`/admin/events/dlq?tenant=${producer.id}`), adminKey);
        const items = (r.json?.items ?? []) as Array<{ code: string; reason: string }>;
        return items.length >= count ? items : undefined;
      },
      30_000,
      200,
    );
    expect(dead).to.have.length(count);
    for (const d of dead)
      expect(d.reason).to.equal(
        `SCHEMA_VIOLATION: data does not match ${TYPE} v1 (/data/s: must match pattern "${EVIL_PATTERN}")`,
      );

    const stored = await waitFor(
      "the valid events in the feed",
      async () => {
        const r = await timedCall(api("/events?limit=100"), producer.key);
        const ids = ((r.json?.items ?? []) as Array<{ eventId: string }>).map((e) => e.eventId);
        return ids.includes("nats-good") ? ids : undefined;
      },
      30_000,
      200,
    );
    expect(stored.sort()).to.deep.equal(["http-good", "nats-good"]);
    await expectResponsive(node.url);
  });
});
