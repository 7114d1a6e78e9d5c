/** The REPL's commands against a running node (the functions the REPL runs). */
import { expect } from "chai";
import { TestCluster } from "../support/cluster";
import { cleanupNamespace, freshNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { actorsCommand, partitionsCommand, streamsCommand, replCommands } from "../../node/repl-commands";
import { clientCommands } from "../../services/gateway/repl";

describe("REPL commands", function () {
  this.timeout(60_000);
  let ns: string;
  let cluster: TestCluster;
  let port: number;

  before(async () => {
    ns = freshNamespace();
    cluster = new TestCluster(ns, { ACTOR_PARTITIONS: "4" });
    await cluster.connect();
    port = await freePort();
    cluster.startNode("r1", { SERVICES: "runtime,probe,gateway", PORT: String(port) });
    await waitFor(
      "node ready",
      async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200,
      30_000,
      100,
    );
    await waitFor(
      "services discovered",
      () =>
        cluster.broker.registry
          .getServiceList({ onlyAvailable: true })
          .some((s: { name: string }) => s.name === "clients"),
      10_000,
    );
  });

  after(async () => {
    await cluster.close();
    await cleanupNamespace(ns);
  });

  it("lists every command with a description", () => {
    const names = replCommands().map((c) => c.command.split(" ")[0]);
    expect(names).to.include.members([
      "partitions",
      "actors",
      "streams",
      "dlq-list",
      "dlq-replay",
      "clients-create",
      "clients-list",
      "clients-suspend",
      "clients-activate",
      "clients-rotate",
    ]);
    // a domain's commands come from its module's `repl` (services/<domain>/repl.ts), whether this node hosts it or not
    expect(names).to.include.members([
      "event-types",
      "event-type-define",
      "events-dlq",
      "events-replay",
      "events-stats",
    ]);
    expect(names).to.include.members(["supporter", "supporters-backlog", "supporters-dlq", "supporters-replay"]);
    expect(new Set(names).size, "no command twice").to.equal(names.length);
    for (const c of replCommands()) expect(c.description, c.command).to.be.a("string").that.is.not.empty;
  });

  it("shows partitions, actors and streams of the running node", async () => {
    const parts = await partitionsCommand(cluster.broker);
    expect(parts.filter((p) => p.kind === "probe").map((p) => p.owner)).to.deep.equal(["r1", "r1", "r1", "r1"]);
    const actors = await actorsCommand(cluster.broker);
    expect(actors.map((a) => a.node)).to.deep.equal(["r1"]);
    expect(actors[0]!.actors).to.have.property("probe");
    const streams = await streamsCommand(cluster.broker);
    expect(streams.map((s) => `${s.stream}/${s.consumer}`)).to.include(`${ns.toUpperCase()}_ACTOR_PROBE/p0`);
  });

  it("creates, lists, suspends and re-activates a client; the gateway follows", async () => {
    const created = await clientCommands.create(cluster.broker, { name: "repl-made", scopes: ["receipts:read"] });
    expect(created).to.include.keys("id", "apiKey", "webhookSecret");
    const id = String(created["id"]);
    const auth = { authorization: `Bearer ${String(created["apiKey"])}` };
    const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: auth });
    expect(me.status).to.equal(200);
    const page = await clientCommands.list(cluster.broker);
    expect(page.items.map((c) => c["id"])).to.include(id);
    expect((await clientCommands.suspend(cluster.broker, id))["status"]).to.equal("suspended");
    await waitFor(
      "suspension applied",
      async () => (await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: auth })).status === 403,
      5000,
    );
    expect((await clientCommands.activate(cluster.broker, id))["status"]).to.equal("active");
    const rotated = await clientCommands.rotate(cluster.broker, id, 0);
    expect(rotated).to.include.keys("apiKey");
  });
});
