/**
 * A user-service outage under load, on the real servers (two child nodes, simulators here).
 *
 * SUPPORTERS_OUTAGE_S sets the outage (default 15 s so that the suite stays fast;
 * `SUPPORTERS_OUTAGE_S=120` runs the full two minutes). The nodes run with the backoff capped at
 * 5 s (SUPPORTERS_BACKOFF_MAX_MS; production default 60 s) so that the drain after recovery is
 * quick; nothing else differs from production settings.
 *
 *   1. baseline: intake latency with both services up
 *   2. the ERP service goes down: supporters G send messages; their step 1 completes, step 2 waits
 *   3. the user service goes down and the ERP service comes back, while producers keep sending
 *      (supporters H) at a steady rate: intake keeps answering at its normal latency; G's ERP
 *      traffic drains during the user outage (it is not blocked by it); H's messages wait
 *   4. the user service comes back: everything drains, each message once, in order, step 1
 *      before step 2, and the backlog returns to zero
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { createLogger } from "../../lib/logger";
import {
  Producers,
  call,
  cleanupSupporters,
  expectedHash,
  freePort,
  makeClientIn,
  startChild,
  startSims,
  supportersEnv,
  type ChildNode,
  type Sims,
} from "./harness";
import { fiveProducers, runLoad, runPaced, type Producer } from "./load";
import { allDelivered, orderProblems } from "./checks";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "info", name: "test:supporters:outage" });
const OUTAGE_S = Number(process.env["SUPPORTERS_OUTAGE_S"] ?? 15);
const RATE = Number(process.env["SUPPORTERS_OUTAGE_RATE"] ?? 100);

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, j) => from + j);

describe(`supporters: a ${OUTAGE_S} s user-service outage under load`, function () {
  this.timeout(OUTAGE_S * 1000 + 240_000);
  const ns = freshNamespace("tsup");
  let sims: Sims;
  let nodes: ChildNode[] = [];
  let nats: Producers;
  let producers: Producer[];
  let admin: { apiKey: string };

  before(async () => {
    sims = await startSims();
    const ports = [await freePort(), await freePort()];
    const extra = {
      SUPPORTERS_BACKOFF_MAX_MS: "5000",
      SUPPORTERS_BREAKER_OPEN_MS: "2000",
      SUPPORTERS_BREAKER_FAILURES: "5",
    };
    nodes = await Promise.all([
      startChild(supportersEnv(ns, "o1", ports[0]!, sims, extra)),
      startChild(supportersEnv(ns, "o2", ports[1]!, sims, extra)),
    ]);
    nats = await Producers.connect(ns);
    const writer = await makeClientIn(ns, ["supporters:write"]);
    admin = await makeClientIn(ns, ["admin"]);
    producers = fiveProducers(
      nodes.map((n) => n.url),
      writer.apiKey,
    );
  });

  after(async () => {
    await nats?.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL").catch(() => undefined)));
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it("intake keeps its latency, nothing is lost, order holds, other supporters' ERP traffic flows, the backlog drains", async () => {
    // 1. baseline
    const B = range(0, 100);
    const base = await runLoad({ nats, producers, supporters: B, perSupporter: 5, concurrency: 20 });
    await waitFor("baseline delivered", () => allDelivered(sims, producers, B, 5), 60_000, 100);
    // latency of a steady stream, as in the outage phase
    const steady = await runPaced({
      nats,
      producers,
      supporters: range(1000, 200),
      ratePerSec: RATE,
      durationMs: 5000,
    });
    log.info(
      {
        p50: steady.latency.percentile(0.5),
        p99: steady.latency.percentile(0.99),
        warmup99: base.latency.percentile(0.99),
      },
      "baseline intake latency",
    );

    // 2. ERP down: G's step 1 completes, step 2 waits
    const G = range(2000, 50);
    sims.erp.setConfig({ outage: true });
    await runLoad({ nats, producers, supporters: G, perSupporter: 2, concurrency: 20 });
    await waitFor(
      "G's step 1 done",
      () => G.every((i) => sims.user.book.deliveries(expectedHash(i)).length === 2),
      60_000,
      100,
    );
    expect(G.some((i) => sims.erp.book.deliveries(expectedHash(i)).length > 0)).to.equal(false);

    // 3. user down, ERP back; producers keep sending (H)
    sims.user.setConfig({ outage: true });
    sims.erp.setConfig({ outage: false });
    const outageStart = Date.now();
    const userBefore = sims.user.book.size().deliveries;
    const H = range(3000, 300);
    const sending = runPaced({ nats, producers, supporters: H, ratePerSec: RATE, durationMs: OUTAGE_S * 1000 });
    // G's ERP traffic is not blocked by the user outage
    await waitFor(
      "G's step 2 done while the user service is down",
      () => G.every((i) => sims.erp.book.deliveries(expectedHash(i)).length === 2),
      OUTAGE_S * 1000,
      100,
    );
    const gDrainedS = (Date.now() - outageStart) / 1000;
    expect(sims.user.config().outage).to.equal(true);
    // operators see the outage: a waiting supporter's last error, the user backlog
    const h0 = expectedHash(H[0]!);
    await waitFor(
      "the user lane's last error is visible",
      async () => {
        // an admin: the supporter's messages come from several producers (a reader sees only its own)
        const v = await call(`${nodes[0]!.url}/api/v1/supporters/${h0}`, admin.apiKey);
        return (
          v.status === 200 &&
          typeof v.json.lanes.user.lastError === "string" &&
          /503|down/.test(v.json.lanes.user.lastError)
        );
      },
      OUTAGE_S * 1000,
      500,
    );
    await waitFor(
      "the user backlog is visible",
      async () => {
        const b = await call(`${nodes[1]!.url}/api/v1/admin/supporters/backlog`, admin.apiKey);
        return (
          b.status === 200 && b.json.downstreams.user.messagesPending > 0 && b.json.downstreams.user.jobsWaiting > 0
        );
      },
      OUTAGE_S * 1000,
      500,
    );
    const during = await sending;
    const outageS = (Date.now() - outageStart) / 1000;
    expect(sims.user.book.size().deliveries).to.equal(userBefore); // nothing got through
    expect(H.some((i) => sims.erp.book.deliveries(expectedHash(i)).length > 0)).to.equal(false); // step 2 waits for step 1
    log.info(
      {
        outageS,
        sentDuringOutage: during.total,
        failures: during.failures,
        p50: during.latency.percentile(0.5),
        p99: during.latency.percentile(0.99),
        gDrainedS,
      },
      "outage phase",
    );
    expect(during.failures).to.equal(0);
    expect(during.total).to.be.greaterThan(RATE * OUTAGE_S * 0.5);
    // intake keeps answering within its normal latency
    expect(during.latency.percentile(0.5)).to.be.at.most(steady.latency.percentile(0.5) * 3 + 50);
    expect(during.latency.percentile(0.99)).to.be.at.most(steady.latency.percentile(0.99) * 3 + 250);

    // 4. recovery: everything drains, once, in order
    sims.user.setConfig({ outage: false });
    const recovered = Date.now();
    const perH = (i: number): number => during.sent.get(i) ?? 0;
    await waitFor("the backlog drained", () => allDelivered(sims, producers, H, perH), 180_000, 200);
    const drainS = (Date.now() - recovered) / 1000;
    log.info(
      {
        drainS,
        messages: during.total,
        userDuplicates: sims.user.counters.duplicates,
        erpDuplicates: sims.erp.counters.duplicates,
        outageRefusals: sims.user.counters.outageRefusals,
      },
      "drained after recovery",
    );
    expect(orderProblems(sims, producers, B, 5)).to.deep.equal([]);
    expect(orderProblems(sims, producers, G, 2)).to.deep.equal([]);
    expect(orderProblems(sims, producers, H, perH)).to.deep.equal([]);
    let lastLog = 0;
    await waitFor(
      "backlog counters back to zero",
      async () => {
        const b = await call(`${nodes[0]!.url}/api/v1/admin/supporters/backlog`, admin.apiKey);
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          log.info({ backlog: b.json }, "backlog");
        }
        const d = b.json.downstreams;
        return (
          b.status === 200 &&
          d.user.messagesPending === 0 &&
          d.erp.messagesPending === 0 &&
          d.user.jobsWaiting === 0 &&
          d.erp.jobsWaiting === 0 &&
          b.json.intake.pending === 0
        );
      },
      60_000,
      500,
    );
  });
});
