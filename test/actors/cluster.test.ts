/**
 * The runtime's guarantees on the real NATS server, with nodes as separate processes:
 * order, rebalancing, failover after kill -9, poison messages and the DLQ, passivation.
 */
import { expect } from "chai";
import { TestCluster } from "../support/cluster";
import { cleanupNamespace, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { foldDigest, type ProbeState } from "../../services/probe/probe.actor";
import { dlqListCommand, dlqReplayCommand } from "../../node/repl-commands";

const PARTITIONS = 16;

function expectedDigest(count: number): number {
  let d = 0;
  for (let n = 0; n < count; n++) d = foldDigest(d, n);
  return d;
}

function keysFor(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/** Waits until every key has handled `perKey` messages; returns the states. */
async function waitAllHandled(
  cluster: TestCluster,
  keys: readonly string[],
  perKey: number,
  timeoutMs: number,
): Promise<Map<string, ProbeState>> {
  const states = new Map<string, ProbeState>();
  await waitFor(
    `${keys.length} keys x ${perKey} messages handled`,
    async () => {
      const pending = keys.filter((k) => (states.get(k)?.count ?? 0) < perKey);
      await Promise.all(
        pending.map(async (k) => {
          const s = await cluster.state<ProbeState>("probe", k);
          if (s) states.set(k, s);
        }),
      );
      return keys.every((k) => (states.get(k)?.count ?? 0) >= perKey);
    },
    timeoutMs,
    250,
  );
  return states;
}

function expectExactFold(states: Map<string, ProbeState>, keys: readonly string[], perKey: number): void {
  const digest = expectedDigest(perKey);
  const bad = keys.filter((k) => {
    const s = states.get(k);
    return !s || s.count !== perKey || s.last !== perKey - 1 || s.violations !== 0 || s.digest !== digest;
  });
  expect(
    bad,
    `keys with lost, doubled or reordered updates: ${bad
      .slice(0, 5)
      .map((k) => `${k}=${JSON.stringify(states.get(k))}`)
      .join(" ")}`,
  ).to.deep.equal([]);
}

describe("actor runtime on a cluster of node processes", function () {
  this.timeout(240_000);
  let ns: string;
  let cluster: TestCluster;

  beforeEach(async () => {
    ns = freshNamespace();
    cluster = new TestCluster(ns, { ACTOR_PARTITIONS: String(PARTITIONS) });
    await cluster.connect();
  });

  afterEach(async () => {
    await cluster.close();
    await cleanupNamespace(ns);
  });

  it("a. keeps per-key order on 3 nodes: 200 keys x 100 messages fold exactly", async () => {
    for (const id of ["n1", "n2", "n3"]) cluster.startNode(id);
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n2", "n3"]);
    const keys = keysFor("order", 200);
    const sent = await cluster.publish("probe", keys, 0, 100, PARTITIONS, (_k, n) => ({ n }));
    expect(sent).to.equal(20_000);
    const states = await waitAllHandled(cluster, keys, 100, 120_000);
    expectExactFold(states, keys, 100);
  });

  it("b. loses and doubles nothing while nodes join and leave under load", async () => {
    cluster.startNode("n1");
    cluster.startNode("n2");
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n2"]);
    const keys = keysFor("rebal", 200);
    // Publish in slices so that membership changes happen while messages flow.
    await cluster.publish("probe", keys, 0, 25, PARTITIONS, (_k, n) => ({ n }));
    cluster.startNode("n3");
    await cluster.publish("probe", keys, 25, 50, PARTITIONS, (_k, n) => ({ n }));
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n2", "n3"]);
    await cluster.publish("probe", keys, 50, 65, PARTITIONS, (_k, n) => ({ n }));
    const leaving = cluster.stopNode("n1", "SIGTERM");
    await cluster.publish("probe", keys, 65, 80, PARTITIONS, (_k, n) => ({ n }));
    expect(await leaving).to.equal(0);
    cluster.startNode("n4");
    await cluster.publish("probe", keys, 80, 100, PARTITIONS, (_k, n) => ({ n }));
    await cluster.waitOwned("probe", PARTITIONS, ["n2", "n3", "n4"]);
    const states = await waitAllHandled(cluster, keys, 100, 120_000);
    expectExactFold(states, keys, 100);
  });

  it("c. fails over within 10 s after kill -9 of one of 3 nodes, losing nothing", async () => {
    for (const id of ["n1", "n2", "n3"]) cluster.startNode(id);
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n2", "n3"]);
    const keys = keysFor("fail", 200);
    await cluster.publish("probe", keys, 0, 40, PARTITIONS, (_k, n) => ({ n }));
    const before = await cluster.leases("probe", PARTITIONS);
    const victimPartitions = [...before.entries()].filter(([, l]) => l.owner === "n2").map(([p]) => p);
    expect(victimPartitions.length).to.be.greaterThan(0);
    const killedAt = Date.now();
    await cluster.stopNode("n2", "SIGKILL");
    const publishing = cluster.publish("probe", keys, 40, 100, PARTITIONS, (_k, n) => ({ n }));
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n3"], 15_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs, `takeover took ${takeoverMs} ms`).to.be.below(10_000);
    await publishing;
    const states = await waitAllHandled(cluster, keys, 100, 120_000);
    expectExactFold(states, keys, 100);
  });

  it("d. sends a poison message to the DLQ after N tries while other keys flow; replay re-delivers it", async () => {
    cluster.startNode("n1");
    cluster.startNode("n2");
    await cluster.waitOwned("probe", PARTITIONS, ["n1", "n2"]);
    const keys = keysFor("ok", 50);
    await cluster.publish("probe", ["poisoned"], 0, 1, PARTITIONS, () => ({ n: 0, poison: true }));
    await cluster.publish("probe", keys, 0, 20, PARTITIONS, (_k, n) => ({ n }));
    // The poisoned key's next message waits behind the poison, then flows once it is dead-lettered.
    await cluster.publish("probe", ["poisoned"], 1, 2, PARTITIONS, () => ({ n: 0 }));
    const states = await waitAllHandled(cluster, keys, 20, 60_000);
    expectExactFold(states, keys, 20);

    const entries = await waitFor(
      "the DLQ entry",
      async () => {
        const list = await dlqListCommand(cluster.broker, {});
        return list.length > 0 ? list : null;
      },
      30_000,
    );
    expect(entries).to.have.length(1);
    const entry = entries[0]!;
    expect(entry.originalSubject).to.match(new RegExp(`^${ns}\\.actor\\.probe\\.\\d+\\.poisoned$`));
    expect(entry.error).to.contain("poison message n=0");
    expect(entry.attempts).to.equal(3);
    expect(entry.deliveryCount).to.be.at.least(1);
    expect(entry.data).to.deep.equal({ n: 0, poison: true });
    const after = await waitFor(
      "the message behind the poison",
      async () => (await cluster.state<ProbeState>("probe", "poisoned"))?.count === 1,
      30_000,
    );
    expect(after).to.equal(true);

    const replay = await dlqReplayCommand(cluster.broker, { seqs: [entry.seq] });
    expect(replay.replayed).to.deep.equal([entry.seq]);
    // Re-delivered: it fails again and comes back as a new entry that records the replay.
    const again = await waitFor(
      "the replayed message back in the DLQ",
      async () => {
        const list = await dlqListCommand(cluster.broker, {});
        return list.find((e) => e.headers["Sy-Replayed-From"] === String(entry.seq)) ?? null;
      },
      30_000,
    );
    expect(again.seq).to.be.greaterThan(entry.seq);
    expect((await dlqListCommand(cluster.broker, {})).map((e) => e.seq)).to.not.include(entry.seq);
  });

  it("e. passivates: 100,000 keys keep resident actors and heap bounded; state reloads from KV", async () => {
    cluster.startNode("n1", { ACTOR_MAX_RESIDENT: "2000", ACTOR_IDLE_MS: "1000" });
    await cluster.waitOwned("probe", PARTITIONS, ["n1"]);
    const keys = keysFor("dev", 100_000);
    let maxResident = 0;
    let maxHeap = 0;
    const sample = async (): Promise<void> => {
      const r = (await cluster.broker.call("runtime.actors", {}, { nodeID: "n1" })) as {
        actors: Record<string, number>;
        heapUsed: number;
      };
      maxResident = Math.max(maxResident, r.actors["probe"] ?? 0);
      maxHeap = Math.max(maxHeap, r.heapUsed);
    };
    const sampler = setInterval(() => void sample().catch(() => undefined), 200);
    try {
      await cluster.publish("probe", keys, 0, 1, PARTITIONS, (_k, n) => ({ n, pad: "x".repeat(200) }), 5000);
      await waitFor(
        "100,000 actors handled",
        async () => {
          const r = (await cluster.broker.call("runtime.actors", {}, { nodeID: "n1" })) as {
            stats: Record<string, { handled: number }>;
          };
          return (r.stats["probe"]?.handled ?? 0) >= 100_000;
        },
        180_000,
        500,
      );
      await sample();
    } finally {
      clearInterval(sampler);
    }
    // Bounded: the limit plus what may be in flight (partitions x in-flight window).
    expect(maxResident, "resident actors").to.be.at.most(2000 + PARTITIONS * 512);
    process.stdout.write(`      peak: ${maxResident} resident actors, heap ${Math.round(maxHeap / 1048576)} MB\n`);
    // Peak heap under a 100,000-message flood includes messages in flight and garbage not yet
    // collected (seen up to 430 MB); unbounded residency would keep growing past this.
    expect(maxHeap, "heap used").to.be.below(512 * 1024 * 1024);
    const idle = await waitFor(
      "idle actors to leave memory",
      async () => {
        const r = (await cluster.broker.call("runtime.actors", {}, { nodeID: "n1" })) as {
          actors: Record<string, number>;
        };
        return (r.actors["probe"] ?? 0) === 0 ? true : null;
      },
      15_000,
      200,
    );
    expect(idle).to.equal(true);
    // A second message to evicted actors folds onto the state reloaded from KV.
    const again = keys.slice(0, 500);
    await cluster.publish("probe", again, 1, 2, PARTITIONS, (_k, n) => ({ n }));
    const states = await waitAllHandled(cluster, again, 2, 60_000);
    expectExactFold(states, again, 2);
  });
});
