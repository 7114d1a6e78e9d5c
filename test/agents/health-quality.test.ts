/**
 * The health and quality agents on real nodes (child processes) through real HTTP, NATS,
 * Postgres and Redis: a service whose only node is killed (`kill -9`) is reported down (a
 * critical finding, the `alarm.health` event in the shape of the events DLQ alarm, its metric at
 * 0, the REPL's `findings`); real interaction records on the interactions stream burn an SLO
 * (burn rate above 1, a finding, the metrics); a canary the gateway announces is forecast from
 * its observed share and its forecast finding goes when it is rolled back; a queue nobody
 * drains goes stale.
 */
import { expect } from "chai";
import { ServiceBroker, type Context } from "moleculer";
import { brokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../node/config";
import { AckPolicy, connectNats, headers, type NatsHandles } from "../../nats";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startInProcess, type InProcessNode } from "../support/node";
import { agentsRepl, findingsCommand } from "../../services/agents/repl";
import type { Interaction, QualityModel } from "../../services/agents/quality";
import {
  agentEnv,
  cleanupAgents,
  findings,
  freePort,
  json,
  makeClientIn,
  metricValue,
  startChild,
  waitForFinding,
  type ChildNode,
} from "./harness";
import { DEV_MASTER_KEY } from "../../config";

describe("health and quality agents", function () {
  this.timeout(180_000);
  const ns = freshNamespace("tagq");
  const NS = ns.toUpperCase();
  let a: InProcessNode;
  let b: ChildNode | undefined;
  let admin: string;
  let broker: ServiceBroker;
  let nats: NatsHandles;
  const events: Array<{ event: string; payload: Record<string, unknown> }> = [];

  before(async () => {
    // the agents' node in this process (its code is loaded already: quick to start on a loaded
    // box), the catalog's as a child process, so that `kill -9` is real
    a = await startInProcess(agentEnv(ns, "a1", await freePort(), { SERVICES: "runtime,gateway,agents,console" }));
    b = await startChild(agentEnv(ns, "b1", await freePort(), { SERVICES: "runtime,gateway,catalog" }));
    admin = (await makeClientIn(ns, DEV_MASTER_KEY, ["admin"])).apiKey;
    // an operator's broker, as the REPL joins the cluster, with a listener of the agents' events
    broker = new ServiceBroker(
      brokerOptions(loadConfig({ NAMESPACE: ns, NATS_URL, NODE_ID: `repl-${process.pid}`, LOG_LEVEL: "warn" }), {
        logger: false,
      }),
    );
    broker.createService({
      name: "listener",
      events: {
        "alarm.*"(c: Context<Record<string, unknown>>) {
          events.push({ event: c.eventName ?? "", payload: c.params });
        },
        "agents.finding.*"(c: Context<Record<string, unknown>>) {
          events.push({ event: c.eventName ?? "", payload: c.params });
        },
      },
    });
    await broker.start();
    nats = await connectNats(NATS_URL, `test-${ns}`);
  });

  after(async () => {
    await broker?.stop().catch(() => undefined);
    await nats?.nc.close();
    await b?.stop("SIGKILL");
    await a?.stop();
    await cleanupAgents(ns);
  });

  it("reports a service down when its only node is killed: a critical finding, the alarm, the metric, the REPL", async function () {
    await waitFor(
      "catalog up in the health agent's view",
      async () => {
        const r = await json(`${a.url}/api/v1/admin/agents/health/services`, admin, "GET");
        return r.json?.items?.some((s: { service: string; up: boolean }) => s.service === "catalog" && s.up);
      },
      30_000,
      200,
    );
    const before = await (await fetch(`${a.url}/metrics`)).text();
    expect(metricValue(before, "switchyard_agent_service_up", { service: "catalog" })).to.equal(1);
    await b!.stop("SIGKILL");
    b = undefined;
    const f = await waitForFinding(
      a.url,
      admin,
      "agent=health&state=open",
      (x) => x.kind === "service-down" && x.subject === "catalog",
      "service-down finding",
    );
    expect(f.severity).to.equal("critical");
    expect(f.detail.message).to.match(/^catalog: /);
    // the alarm, in the envelope of the events domain's alarm.dlq (domain, subject, node, at)
    const alarm = await waitFor(
      "alarm.health",
      () => events.find((e) => e.event === "alarm.health" && e.payload["subject"] === "catalog"),
      10_000,
    );
    expect(alarm.payload).to.include({
      domain: "agents",
      agent: "health",
      kind: "service-down",
      severity: "critical",
      node: "a1",
      findingId: f.id,
    });
    expect(Date.parse(String(alarm.payload["at"]))).to.be.greaterThan(0);
    expect(events.some((e) => e.event === "agents.finding.raised" && e.payload["id"] === f.id)).to.equal(true);
    // the console lists it with the other alarms
    const listed = await json(`${a.url}/api/v1/admin/console/alarms`, admin, "GET");
    expect(
      listed.json.items.some(
        (x: { event: string; payload: { subject?: string } }) =>
          x.event === "alarm.health" && x.payload.subject === "catalog",
      ),
    ).to.equal(true);
    const m = await (await fetch(`${a.url}/metrics`)).text();
    expect(metricValue(m, "switchyard_agent_service_up", { service: "catalog" })).to.equal(0);
    expect(metricValue(m, "switchyard_agent_service_availability", { service: "catalog" })).to.be.below(1);
    expect(metricValue(m, "switchyard_agent_canaries_total", { service: "catalog", outcome: "down" })).to.be.above(0);
    expect(metricValue(m, "switchyard_agent_findings_open", { agent: "health", severity: "critical" })).to.be.above(0);
    // what the REPL's `findings health` shows
    const rows = await findingsCommand(broker, "health", "open");
    expect(rows.map((x) => [x.kind, x.subject])).to.deep.include(["service-down", "catalog"]);
    const out = await captureStdout(() =>
      agentsRepl
        .find((c) => c.command === "findings [agent]")!
        .action(broker, { agent: "health", options: {} }, { table: (r) => r.map((x) => x.join(" | ")).join("\n") }),
    );
    expect(out).to.match(/service-down \| catalog/);
  });

  it("burns an SLO from real interaction records: burn rate above 1, a finding, the metrics, the REPL", async function () {
    const model: QualityModel = {
      slos: [{ id: "svc", service: "*", availability: 0.99, p99Ms: 200 }],
      freshness: [
        { stream: "AGTEST", maxAgeMs: 1, maxPending: 1000 },
        { stream: "*", maxAgeMs: 600_000, maxPending: 1_000_000 },
      ],
      windows: { shortMs: 60_000, longMs: 600_000 },
      minRequests: 20,
    };
    const dup = await json(`${a.url}/api/v1/admin/agents/quality/model`, admin, "PUT", {
      ...model,
      slos: [...model.slos, ...model.slos],
    });
    expect(dup.status).to.equal(422);
    expect(dup.json.error.details[0].path).to.equal("/slos/1/id");
    expect((await json(`${a.url}/api/v1/admin/agents/quality/model`, admin, "PUT", { slos: 1 })).status).to.equal(422);
    const put = await json(`${a.url}/api/v1/admin/agents/quality/model`, admin, "PUT", model);
    expect(put.status, put.text).to.equal(200);
    expect((await json(`${a.url}/api/v1/admin/agents/quality/model`, admin, "GET")).json).to.deep.equal(model);
    // the interactions stream the gateway declares (it runs on this node), and 200 records: 10% 5xx
    const stream = `${ns.toUpperCase()}_INTERACTIONS`;
    await nats.jsm.streams
      .info(stream)
      .catch(() => nats.jsm.streams.add({ name: stream, subjects: [`${ns}.interactions.>`] }));
    await publishInteractions("orders", "v1", 200, 0.1);
    const f = await waitForFinding(
      a.url,
      admin,
      "agent=quality&state=open",
      // once all 200 are in (a look may come while they are being published)
      (x) => x.kind === "slo-burn" && x.subject === "svc:orders" && x.detail["total"] === 200,
      "slo-burn finding over the 200 records",
    );
    expect(f.severity).to.equal("high");
    expect(f.detail["burnShort"]).to.be.closeTo(10, 0.01);
    expect(f.detail["burnLong"]).to.be.closeTo(10, 0.01);
    expect(f.detail).to.include({ bad: 20, total: 200 });
    const slos = await json(`${a.url}/api/v1/admin/agents/quality/slos`, admin, "GET");
    expect(slos.json.reading).to.equal(true);
    const s = slos.json.items.find((x: { service: string }) => x.service === "orders");
    expect(s.short.availabilityBurn).to.be.above(1);
    expect(s.budgetRemaining).to.be.below(0);
    const m = await (await fetch(`${a.url}/metrics`)).text();
    expect(
      metricValue(m, "switchyard_agent_slo_burn_rate", {
        slo: "svc:orders",
        objective: "availability",
        window: "short",
      }),
    ).to.be.closeTo(10, 0.01);
    expect(metricValue(m, "switchyard_agent_slo_budget_remaining", { slo: "svc:orders" })).to.be.below(0);
    const out = await captureStdout(() =>
      agentsRepl
        .find((c) => c.command === "agents-slos")!
        .action(broker, { options: {} }, { table: (r) => r.map((x) => x.join(" | ")).join("\n") }),
    );
    expect(out).to.match(/svc \| orders \|.*\| 10 \|/);
  });

  it("forecasts a running canary from its observed share, and drops the forecast once it is rolled back", async function () {
    await broker.broadcast("gateway.canary.changed", {
      service: "orders",
      version: "v2",
      share: 0.1,
      state: "running",
      baseline: "v1",
      thresholds: { errorRate: 0.05 },
      reason: "started",
    });
    await publishInteractions("orders", "v2", 30, 0.3);
    const f = await waitForFinding(
      a.url,
      admin,
      "agent=quality&state=open",
      (x) => x.kind === "forecast" && x.subject === "orders@v2" && x.detail["canaryTotal"] === 30,
      "forecast finding over the 30 canary records",
    );
    expect(f.severity).to.equal("high");
    expect(f.detail["availabilityBurn"]).to.be.closeTo(30, 0.01);
    const list = await json(`${a.url}/api/v1/admin/agents/quality/forecasts`, admin, "GET");
    const fc = list.json.items.find((x: { version: string }) => x.version === "v2");
    expect(fc).to.include({ service: "orders", baseline: "v1", share: 1, confident: true });
    // 30 canary records next to the baseline's 200 (and the burn test's 20 bad among them)
    expect(fc.observedShare).to.be.closeTo(30 / 230, 0.001);
    const at10 = await json(
      `${a.url}/api/v1/admin/agents/quality/forecast?service=orders&version=v2&baseline=v1&share=0.1`,
      admin,
      "GET",
    );
    expect(at10.status, at10.text).to.equal(200);
    // 0.1 x 30% + 0.9 x 10% = 12% errors: 12x the 1% budget
    expect(at10.json.errorRate).to.be.closeTo(0.12, 0.0001);
    expect(at10.json.availabilityBurn).to.be.closeTo(12, 0.01);
    expect((await json(`${a.url}/api/v1/admin/agents/quality/forecast?version=v2`, admin, "GET")).status).to.equal(400);
    await broker.broadcast("gateway.canary.changed", {
      service: "orders",
      version: "v2",
      share: 0,
      state: "rolled-back",
      baseline: "v1",
      thresholds: { errorRate: 0.05 },
      reason: "error rate 30% above 5%",
    });
    await waitForFinding(
      a.url,
      admin,
      "agent=quality&state=resolved&kind=forecast",
      (x) => x.id === f.id,
      "forecast resolved",
    );
  });

  it("finds a queue nobody drains: its oldest message older than the model's freshness limit", async function () {
    await nats.jsm.streams.add({ name: `${NS}_AGTEST`, subjects: [`${ns}.agtest.>`] });
    await nats.jsm.consumers.add(`${NS}_AGTEST`, { durable_name: "c1", ack_policy: AckPolicy.Explicit });
    await nats.js.publish(`${ns}.agtest.x`, "{}");
    const f = await waitForFinding(
      a.url,
      admin,
      "agent=quality&state=open",
      (x) => x.kind === "queue-stale" && x.subject === `${NS}_AGTEST/c1`,
      "queue-stale finding",
    );
    expect(f.detail).to.include({ pending: 1, maxAgeMs: 1 });
    expect(f.detail["oldestAgeMs"]).to.be.a("number");
    const all = await findings(a.url, admin, "agent=quality&state=open&kind=queue-stale");
    expect(all.map((x) => x.subject)).to.deep.equal([`${NS}_AGTEST/c1`]);
  });

  /** Publishes `n` interaction records of `service` `version` now, a `badShare` of them 503. */
  async function publishInteractions(service: string, version: string, n: number, badShare: number): Promise<void> {
    const bad = Math.round(n * badShare);
    for (let i = 0; i < n; i++) {
      const rec: Interaction = {
        at: new Date().toISOString(),
        route: "/api/v1/orders",
        method: "POST",
        service,
        version,
        client: "cl_test",
        // exactly `bad` of them 503, spread evenly
        status: Math.floor(((i + 1) * bad) / n) > Math.floor((i * bad) / n) ? 503 : 201,
        latencyMs: 20 + (i % 7),
        requestId: `${version}-${i}`,
      };
      const h = headers();
      h.set("Nats-Msg-Id", `${version}-${i}`);
      await nats.js.publish(`${ns}.interactions.${service}`, JSON.stringify(rec), { headers: h });
    }
  }
});

/** What `fn` writes to stdout. */
async function captureStdout(fn: () => Promise<void>): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(typeof c === "string" ? c : Buffer.from(c).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
  }
  return chunks.join("");
}
