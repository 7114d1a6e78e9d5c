/**
 * Consumers recover from a server fault instead of stalling (real NATS). After a meta-leader
 * change or a replica reset a partition's consumer can be gone while its owner still holds the
 * lease; nats.js then retries its consumer check forever and yields nothing, so the partition
 * stood still for good (the supporters stall of the fault matrix). Now the owned consumer ends
 * with ConsumerGoneError and the partition worker opens it again (reset) while it owns the
 * partition: messages sent after the loss are handled, in order, once.
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { Runtime } from "../../actors/runtime";
import type { ActorKind } from "../../actors/types";
import { createLogger } from "../../lib/logger";
import { provision } from "../../streams/provision";
import { topology, partitionOf } from "../../streams/subjects";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "silent", name: "test:consumer-recovery" });

interface Tally {
  readonly seen: readonly number[];
}

/** Records every message's number, in the order handled. */
const tally: ActorKind<Tally, { n: number }> = {
  name: "tally",
  partitions: 4,
  initialState: () => ({ seen: [] }),
  handle: (s, m) => ({ state: { seen: [...s.seen, m.data.n] } }),
};

describe("actors: a partition whose consumer vanished under its owner is consumed again (real NATS)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tcr");
  const topo = topology(ns);
  let h: NatsHandles;
  let runtime: Runtime;

  before(async () => {
    h = await connectNats(NATS_URL, `test-${ns}`);
    runtime = new Runtime(
      h,
      topo,
      {
        kinds: [tally as ActorKind<unknown, unknown>],
        hostedKinds: new Set(["tally"]),
        jobs: [],
        hostedJobs: new Set(),
      },
      { nodeId: `${ns}-a`, partitions: 4, leaseTtlMs: 3000, idleMs: 60_000, maxResident: 1000, replicas: 1 },
      log,
    );
    await provision(h, runtime.declarations());
    await runtime.start();
    await waitFor("every partition owned", () => runtime.ownedPartitions() === 4, 30_000);
  });

  after(async () => {
    await runtime?.stop();
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  it("handles what is sent after its consumer was deleted behind its back", async () => {
    const key = "k1";
    const p = partitionOf(key, 4);
    for (let n = 0; n < 3; n++) await runtime.send("tally", key, { n }, { id: `m${n}` });
    await waitFor(
      "the first three handled",
      async () => (await runtime.getState<Tally>("tally", key))?.seen.length === 3,
      30_000,
    );

    // The consumer goes (as one lost in a meta-leader change); the lease stays with this node.
    await h.jsm.consumers.delete(topo.actors.stream("tally"), topo.actors.consumer(p));
    for (let n = 3; n < 6; n++) await runtime.send("tally", key, { n }, { id: `m${n}` });

    await waitFor(
      "the messages sent after the loss handled",
      async () => ((await runtime.getState<Tally>("tally", key))?.seen.length ?? 0) >= 6,
      60_000,
      250,
    );
    expect((await runtime.getState<Tally>("tally", key))?.seen).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(runtime.ownedPartitions()).to.equal(4);
  });

  it("handles new messages whose stream sequence went back, and still skips redeliveries", async () => {
    // nats-server 2.9 can elect a lagging replica stream leader after a meta-leader kill and
    // reset the others to it: the stream loses its tail and reuses those sequences. The actor's
    // state says it applied up to seq q, so the new messages at or below q were taken for
    // redeliveries and dropped (627 supporter messages in one chaos run). Here the stream is
    // deleted and made again, which restarts its sequences at 1 under a state that applied more.
    const key = "k-regress";
    for (let n = 0; n < 6; n++) await runtime.send("tally", key, { n }, { id: `r${n}` });
    await waitFor("six handled", async () => (await runtime.getState<Tally>("tally", key))?.seen.length === 6, 30_000);
    const stream = topo.actors.stream("tally");
    const before = (await h.jsm.streams.info(stream)).state.last_seq;
    await h.jsm.streams.delete(stream);
    await provision(h, runtime.declarations());
    // a stream's lost tail takes a leader election to be replaced: seconds, never less than the host's 1 s gap
    await new Promise((r) => setTimeout(r, 1_500));
    for (let n = 6; n < 9; n++) await runtime.send("tally", key, { n }, { id: `r${n}` });
    expect((await h.jsm.streams.info(stream)).state.last_seq).to.be.lessThan(before);

    await waitFor(
      "the messages after the regression handled",
      async () => ((await runtime.getState<Tally>("tally", key))?.seen.length ?? 0) >= 9,
      60_000,
      250,
    );
    expect((await runtime.getState<Tally>("tally", key))?.seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(runtime.hostStats()["tally"]?.["sequenceRegressions"]).to.be.at.least(1);
  });
});
