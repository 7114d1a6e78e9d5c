/**
 * Arrival order across nodes and failures: two child nodes take intake; the node that holds
 * the intake pump's lease is killed (SIGKILL) under load and started again. The pump moves to
 * the other node (its consumer is reset, so what the dead node left unacked comes first) and
 * every supporter's messages still reach both services once, in the order they were accepted.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { createLogger } from "../../lib/logger";
import { supporterNames } from "../../services/supporters/streams";
import { pumpHolder } from "../../services/supporters/pump";
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
import { fiveProducers, runLoad } from "./load";
import { allDelivered, orderProblems } from "./checks";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "info", name: "test:supporters:failover" });

describe("supporters: the pump's node killed under load", function () {
  this.timeout(240_000);
  const ns = freshNamespace("tsup");
  let sims: Sims;
  const nodes = new Map<string, ChildNode>();
  let nats: Producers;

  const start = async (id: string): Promise<ChildNode> => {
    const n = await startChild(supportersEnv(ns, id, await freePort(), sims));
    nodes.set(id, n);
    return n;
  };
  const holder = async (): Promise<string | undefined> => {
    const kv = await nats.h.kvm.open(supporterNames(ns).leaseBucket);
    return pumpHolder(kv);
  };

  before(async () => {
    sims = await startSims();
    await Promise.all([start("a1"), start("a2")]);
    nats = await Producers.connect(ns);
  });

  after(async () => {
    await nats?.close();
    await Promise.all([...nodes.values()].map((n) => n.stop("SIGKILL").catch(() => undefined)));
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it("order holds, nothing is lost and nothing is delivered twice when the pump holder dies", async () => {
    const first = await waitFor("a pump holder", holder, 20_000, 100);
    const survivorId = first === "a1" ? "a2" : "a1";
    const survivor = nodes.get(survivorId)!;
    const writer = await makeClientIn(ns, ["supporters:write"]);
    const producers = fiveProducers([survivor.url], writer.apiKey);
    const supporters = Array.from({ length: 300 }, (_, i) => i);
    let killed = false;
    const load = runLoad({
      nats,
      producers,
      supporters,
      perSupporter: 10,
      concurrency: 50,
      onProgress: (sent) => {
        if (!killed && sent >= 1000) {
          killed = true;
          log.info({ sent, node: first }, "killing the pump holder");
          void nodes.get(first)!.stop("SIGKILL");
        }
      },
    });
    const result = await load;
    expect(killed).to.equal(true);
    const second = await waitFor(
      "the pump moved",
      async () => {
        const h = await holder();
        return h === survivorId ? h : undefined;
      },
      30_000,
      200,
    );
    log.info(
      { from: first, to: second, sent: result.sent, retried: result.failures },
      "pump moved; restarting the killed node",
    );
    await start(first);
    await waitFor("every message at both services", () => allDelivered(sims, producers, supporters, 10), 120_000, 200);
    expect(orderProblems(sims, producers, supporters, 10)).to.deep.equal([]);
    expect(sims.user.book.size().deliveries).to.equal(3000);
    expect(sims.erp.book.size().deliveries).to.equal(3000);
  });
});
