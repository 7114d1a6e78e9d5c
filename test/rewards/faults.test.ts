/**
 * Done-when 2: double counting is impossible under faults. Two nodes (child processes);
 * REWARDS_FAULT_N transactions (default 2,000; 10,000 for Done-when 2) sent through
 * the NATS scoring subject, 20% of them twice, with a `kill -9` of one node at 40%. Senders
 * retry on timeouts with the same id. At the end the ledger and the KV balances agree exactly,
 * every leg balances, and every transaction counts once: the ledger holds each posted id once,
 * the issuance account equals the points of the posted encounters, and the transactions stream
 * holds one record per posted id.
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { createLogger } from "../../lib/logger";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import { cleanupRewards, freePort, json, makeClientIn, rewardsEnv, startChild, type ChildNode } from "./harness";
import { makeTransactions, sendAll, setupPopulation, withDuplicates } from "./load";

// 2,000 in the suite (about a minute); REWARDS_FAULT_N=10000 is the Done-when run (about 3 minutes here)
const N = Number(process.env["REWARDS_FAULT_N"] ?? 2000);
const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "info", name: "test:rewards-faults" });

describe(`rewards: ${N} transactions, 20% sent twice, kill -9 of one of two nodes`, function () {
  this.timeout(300_000);
  const ns = freshNamespace("trwf");
  let nodes: ChildNode[] = [];
  let nats: NatsHandles;
  let app: string;
  let admin: string;

  before(async () => {
    const env = { REWARDS_WAIT_MS: "3000", ACTOR_PARTITIONS: "16" };
    const ports = [await freePort(), await freePort()];
    nodes = await Promise.all([
      startChild(rewardsEnv(ns, "f1", ports[0]!, env)),
      startChild(rewardsEnv(ns, "f2", ports[1]!, env)),
    ]);
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    admin = (await makeClientIn(ns, ["admin"])).apiKey;
    nats = await connectNats(NATS_URL, `test-${ns}`);
  });

  after(async () => {
    await nats?.nc.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await cleanupRewards(ns);
  });

  it("keeps the ledger and the KV balances equal, and counts every transaction once", async function () {
    const url = nodes[0]!.url;
    const pop = await setupPopulation(url, app, admin, { civilians: 300, officers: 60, families: 20 });
    const txs = makeTransactions(pop, N);
    const order = withDuplicates(txs, 0.2);
    let killed = false;
    const r = await sendAll(nats, ns, order, 100, async (done) => {
      log.info({ done, of: order.length }, "sent");
      if (!killed && done >= order.length * 0.4) {
        killed = true;
        log.info("kill -9 node f2");
        await nodes[1]!.stop("SIGKILL");
      }
    });
    expect(killed).to.equal(true);
    expect(r.outcomes.size).to.equal(N);
    log.info({ retries: r.retries, duplicates: r.duplicatesAnswered, ms: r.ms }, "all answered");

    let report: Record<string, unknown> = {};
    await waitFor(
      "ledger settled",
      async () => {
        const c = await json(`${url}/api/v1/admin/rewards/check`, admin, "GET");
        report = c.json;
        return c.json?.settled === true;
      },
      120_000,
      500,
    );
    log.info(report, "check");
    expect(report["mismatches"]).to.deep.equal([]);
    expect(report["unbalancedLegs"]).to.equal(0);
    expect(report["ok"]).to.equal(true);
    expect(report["transit"]).to.equal(0);

    const posted = [...r.outcomes].filter(([, s]) => s === "posted").map(([id]) => id);
    const kinds = new Map(txs.map((t) => [t.id, t.kind]));
    const postedEncounters = posted.filter((id) => kinds.get(id) === "encounter").length;
    // every posted transaction moved points (encounters 1+1, donations and giveaways 1), so each has postings
    expect(report["transactions"]).to.equal(posted.length);
    expect(report["issuance"]).to.equal(-2 * postedEncounters);
    expect(report["kvTotal"]).to.equal(2 * postedEncounters);
    const stream = await nats.jsm.streams.info(`${ns.toUpperCase()}_TRANSACTIONS`);
    expect(stream.state.messages).to.equal(posted.length);
  });
});
