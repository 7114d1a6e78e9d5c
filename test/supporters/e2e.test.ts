/**
 * Supporters end to end on the real servers (NATS, Postgres, Redis): two nodes as child
 * processes (each with a gateway), the user and ERP simulators (in this process) with light faults (errors, and timeouts
 * after processing so that retries repeat calls), producers over HTTP, NATS request/reply and
 * JetStream. SUPPORTERS_E2E_N sets the number of supporters (default 1000, 20 messages each).
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { ServiceBroker } from "moleculer";
import { createLogger } from "../../lib/logger";
import { loadConfig } from "../../node/config";
import { brokerOptions } from "../../moleculer.config";
import { supporterCommands } from "../../services/supporters/repl";
import { NATS_URL } from "../support/namespace";
import {
  Producers,
  call,
  cleanupSupporters,
  expectedHash,
  freePort,
  makeClientIn,
  payloadOf,
  startChild,
  startSims,
  supportersEnv,
  type ChildNode,
  type Sims,
} from "./harness";
import { fiveProducers, runLoad, type Producer } from "./load";
import { allDelivered, deliveredCount, orderProblems } from "./checks";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "info", name: "test:supporters" });
const N = Number(process.env["SUPPORTERS_E2E_N"] ?? 1000);
const M = 20;

describe("supporters end to end (two nodes, real servers)", function () {
  this.timeout(300_000);
  const ns = freshNamespace("tsup");
  let sims: Sims;
  let nodes: ChildNode[] = [];
  let nats: Producers;
  let writer: { apiKey: string };
  let admin: { apiKey: string };
  let producers: Producer[];
  let broker: ServiceBroker;

  before(async () => {
    sims = await startSims();
    const ports = [await freePort(), await freePort()];
    nodes = await Promise.all([
      startChild(supportersEnv(ns, "s1", ports[0]!, sims)),
      startChild(supportersEnv(ns, "s2", ports[1]!, sims)),
    ]);
    nats = await Producers.connect(ns);
    writer = await makeClientIn(ns, ["supporters:write", "supporters:read"]);
    admin = await makeClientIn(ns, ["admin"]);
    producers = fiveProducers(
      nodes.map((n) => n.url),
      writer.apiKey,
    );
    // An operator's broker, as the REPL joins the cluster.
    broker = new ServiceBroker(
      brokerOptions(loadConfig({ NAMESPACE: ns, NATS_URL, NODE_ID: `repl-${process.pid}`, LOG_LEVEL: "warn" }), {
        logger: false,
      }),
    );
    await broker.start();
  });

  after(async () => {
    await broker?.stop().catch(() => undefined);
    await nats?.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL").catch(() => undefined)));
    nodes = [];
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it(`${N} supporters x ${M} messages from 5 producers (HTTP and NATS mixed) reach both services in per-supporter order, step 1 before step 2, each once`, async () => {
    // Light faults: 1% errors, and 0.1% of calls processed but never answered (the retry repeats them).
    sims.user.setConfig({ errorRate: 0.01, timeoutRate: 0.001, latencyMs: { min: 0, max: 2 } });
    sims.erp.setConfig({ errorRate: 0.01, timeoutRate: 0.001, latencyMs: { min: 0, max: 2 } });
    const supporters = Array.from({ length: N }, (_, i) => i);
    const load = await runLoad({
      nats,
      producers,
      supporters,
      perSupporter: M,
      concurrency: 100,
      onProgress: (sent) => sent % 5000 === 0 && log.info({ sent }, "sent"),
    });
    log.info(
      {
        sent: load.sent,
        elapsedMs: load.elapsedMs,
        p50: load.latency.percentile(0.5),
        p99: load.latency.percentile(0.99),
        http99: load.byKind.http.percentile(0.99),
        request99: load.byKind.request.percentile(0.99),
        publish99: load.byKind.publish.percentile(0.99),
      },
      "intake done",
    );
    expect(load.sent).to.equal(N * M);
    let last = 0;
    await waitFor(
      "every message at both services",
      () => {
        const d = deliveredCount(sims);
        if (Date.now() - last > 5000) {
          last = Date.now();
          log.info(d, "delivered");
        }
        return allDelivered(sims, producers, supporters, M);
      },
      240_000,
      250,
    );
    expect(orderProblems(sims, producers, supporters, M)).to.deep.equal([]);
    expect(deliveredCount(sims)).to.deep.equal({ user: N * M, erp: N * M });
    // Repeated calls happened (timeouts after processing) and were absorbed by the idempotency keys.
    log.info(
      {
        userDuplicates: sims.user.counters.duplicates,
        erpDuplicates: sims.erp.counters.duplicates,
        userTimeouts: sims.user.counters.timeouts,
        erpTimeouts: sims.erp.counters.timeouts,
      },
      "duplicates absorbed",
    );
    expect(sims.user.counters.duplicates + sims.erp.counters.duplicates).to.be.greaterThan(0);
    // The event log has them all, delivered (an admin sees every producer's; the writer its own).
    const some = expectedHash(7 % N);
    await waitFor(
      "event log written",
      async () => {
        const r = await call(`${nodes[1]!.url}/api/v1/supporters/${some}/events`, admin.apiKey);
        return (
          r.status === 200 &&
          (r.json.items as Array<{ user: { status: string }; erp: { status: string } }>).filter(
            (x) => x.user.status === "delivered" && x.erp.status === "delivered",
          ).length === M
        );
      },
      30_000,
      200,
    );
  });

  it("a resend with the same message id is acknowledged as a duplicate and delivered once", async () => {
    const p = payloadOf(N + 1, 0, "giftaid");
    const a = await call(`${nodes[0]!.url}/api/v1/supporter-events`, writer.apiKey, {
      method: "POST",
      body: JSON.stringify(p),
    });
    const b = await call(`${nodes[1]!.url}/api/v1/supporter-events`, writer.apiKey, {
      method: "POST",
      body: JSON.stringify(p),
    });
    expect([a.status, b.status]).to.deep.equal([202, 202]);
    expect(a.json).to.deep.include({ hash: expectedHash(N + 1), duplicate: false });
    expect(b.json).to.deep.include({ hash: expectedHash(N + 1), duplicate: true });
    await waitFor("delivered", () => sims.erp.book.deliveries(expectedHash(N + 1)).length === 1, 20_000);
    expect(sims.user.book.deliveries(expectedHash(N + 1))).to.have.length(1);
  });

  it("a refusal (4xx) parks that message in the DLQ with the reason, the next one goes; an admin replays it after the fix", async () => {
    sims.user.setConfig({ errorRate: 0, timeoutRate: 0 });
    sims.erp.setConfig({ errorRate: 0, timeoutRate: 0 });
    const i = N + 2;
    const hash = expectedHash(i);
    const bad = payloadOf(i, 0, "giftaid");
    const refused = {
      ...bad,
      events: [{ type: "test.event", occurredAt: "2025-01-01T00:00:00Z", data: { note: "SIM-REJECT" } }],
    };
    for (const p of [refused, payloadOf(i, 1, "giftaid")]) {
      const r = await call(`${nodes[0]!.url}/api/v1/supporter-events`, writer.apiKey, {
        method: "POST",
        body: JSON.stringify(p),
      });
      expect(r.status).to.equal(202);
    }
    await waitFor(
      "the next message delivered",
      () => sims.erp.book.deliveries(hash).some((d) => d.messageId === "giftaid.s" + i + "-m1"),
      20_000,
    );
    expect(sims.erp.book.deliveries(hash).map((d) => d.messageId)).to.deep.equal([`giftaid.s${i}-m1`]);
    expect(sims.user.book.deliveries(hash).map((d) => d.messageId)).to.deep.equal([
      `giftaid.s${i}-m0`,
      `giftaid.s${i}-m1`,
    ]);
    const view = await call(`${nodes[1]!.url}/api/v1/supporters/${hash}`, writer.apiKey);
    expect(view.status).to.equal(200);
    expect(view.json.parked).to.have.length(1);
    expect(view.json.parked[0]).to.include({ id: `giftaid.s${i}-m0`, step: "erp" });
    const dlq = await call(`${nodes[0]!.url}/api/v1/admin/supporters/dlq?hash=${hash}`, admin.apiKey);
    expect(dlq.status).to.equal(200);
    expect(dlq.json.items).to.have.length(1);
    expect(dlq.json.items[0]).to.include({ hash, messageId: `giftaid.s${i}-m0`, from: "erp" });
    expect(dlq.json.items[0].error).to.contain("erp service").and.contain("SIM-REJECT");
    expect(JSON.stringify(dlq.json)).to.not.contain("@example"); // no personal data in the listing
    // the same through the REPL's commands
    await waitFor(
      "supporters service seen by the REPL broker",
      () =>
        broker.registry.getServiceList({ onlyAvailable: true }).some((x: { name: string }) => x.name === "supporters"),
      15_000,
    );
    const replDlq = await supporterCommands.dlq(broker, { hash });
    expect(replDlq.map((e) => e.seq)).to.deep.equal([dlq.json.items[0].seq]);
    const shown = await supporterCommands.show(broker, hash);
    expect(shown.parked.map((p) => p.id)).to.deep.equal([`giftaid.s${i}-m0`]);
    // fix the cause, replay: ERP gets it (step 1 is not repeated)
    sims.erp.setConfig({ rejectMarker: null });
    const rp = await call(`${nodes[1]!.url}/api/v1/admin/supporters/dlq/replay`, admin.apiKey, {
      method: "POST",
      body: JSON.stringify({ seqs: [dlq.json.items[0].seq] }),
    });
    expect(rp.status).to.equal(200);
    expect(rp.json.replayed).to.deep.equal([dlq.json.items[0].seq]);
    await waitFor("replayed message delivered", () => sims.erp.book.deliveries(hash).length === 2, 20_000);
    expect(sims.erp.book.deliveries(hash).map((d) => d.messageId)).to.deep.equal([
      `giftaid.s${i}-m1`,
      `giftaid.s${i}-m0`,
    ]);
    expect(sims.user.book.deliveries(hash)).to.have.length(2);
    sims.erp.setConfig({ rejectMarker: "SIM-REJECT" });
    // a replay of another domain's dead letter is refused by this route
    const other = await call(`${nodes[1]!.url}/api/v1/admin/supporters/dlq/replay`, admin.apiKey, {
      method: "POST",
      body: JSON.stringify({ seqs: [999999] }),
    });
    expect(other.json.missing).to.deep.equal([999999]);
  });

  it("operators see the backlog per downstream and a supporter's queue; readers without the scope get 403", async () => {
    const b = await call(`${nodes[0]!.url}/api/v1/admin/supporters/backlog`, admin.apiKey);
    expect(b.status, b.text).to.equal(200);
    expect(b.json.downstreams.user).to.have.keys(["messagesPending", "oldestPending", "jobsWaiting", "breakers"]);
    expect(Object.keys(b.json.downstreams.erp.breakers)).to.have.members(["s1", "s2"]);
    expect(b.json.intake.holder).to.be.oneOf(["s1", "s2"]);
    const viaRepl = await supporterCommands.backlog(broker);
    expect(viaRepl.downstreams.user.messagesPending).to.be.a("number");
    const other = await makeClientIn(ns, ["receipts:read"]);
    const denied = await call(`${nodes[0]!.url}/api/v1/supporters/${expectedHash(1)}`, other.apiKey);
    expect(denied.status).to.equal(403);
    const noAdmin = await call(`${nodes[0]!.url}/api/v1/admin/supporters/backlog`, writer.apiKey);
    expect(noAdmin.status).to.equal(403);
  });
});
