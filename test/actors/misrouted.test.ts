/**
 * A message published to another partition's subject than its key's is never handled: it goes
 * to the DLQ as misrouted (handling it would give the key a second owner), and the key's state
 * stays as it was. Real node in this process, real NATS; the producer is a plain JetStream client.
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { partitionOf, topology } from "../../streams/subjects";
import { probe } from "../../services/probe/probe.actor";
import { cleanupNamespace, freshNamespace, NATS_URL, nodeEnv } from "../support/namespace";
import { startInProcess, type InProcessNode } from "../support/node";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

describe("actor runtime: misrouted messages", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tmis");
  let node: InProcessNode;
  let nats: NatsHandles;

  before(async function () {
    const env = nodeEnv(ns, {
      NODE_ID: `${ns}-n1`,
      PORT: String(await freePort()),
      SERVICES: "runtime,probe,gateway",
      ACTOR_PARTITIONS: "8",
    });
    node = await startInProcess(env as Record<string, string>);
    nats = await connectNats(NATS_URL, `${ns}-producer`);
  });

  after(async function () {
    await nats?.nc.close();
    await node?.stop();
    await cleanupNamespace(ns);
  });

  it("dead-letters a message on the wrong partition and leaves the key's state alone", async function () {
    const topo = topology(ns);
    const key = "k2";
    const right = partitionOf(key, 8);
    const wrong = (right + 1) % 8;
    await nats.js.publish(topo.actors.subject("probe", wrong, key), JSON.stringify({ n: 0 }));
    const entries = await waitFor(
      "the misrouted message in the DLQ",
      async () => {
        const list = await node.node.runtime.dlqList({});
        return list.some((e) => e.error.startsWith("misrouted")) ? list : undefined;
      },
      20_000,
      100,
    );
    const entry = entries.find((e) => e.error.startsWith("misrouted"))!;
    expect(entry.originalSubject).to.equal(topo.actors.subject("probe", wrong, key));
    expect(entry.error).to.contain(`partition ${right}`);
    expect(await probe.on(node.node.runtime).state(key)).to.equal(undefined);
    expect(node.node.runtime.hostStats()["probe"]?.["misrouted"]).to.equal(1);

    // the same message on the right partition is handled
    await nats.js.publish(topo.actors.subject("probe", right, key), JSON.stringify({ n: 0 }));
    const state = await waitFor("k2 handled", () => probe.on(node.node.runtime).state(key), 20_000, 100);
    expect(state.count).to.equal(1);
    // handled messages are a Prometheus counter (the misrouted one is not among them)
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).to.contain("# TYPE switchyard_messages_handled_total counter");
    expect(metrics).to.match(/switchyard_messages_handled_total\{kind="probe"\} 1\b/);
  });
});
