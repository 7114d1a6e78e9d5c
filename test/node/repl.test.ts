/** The REPL's commands against a running node (the functions the REPL runs). */
import { expect } from "chai";
import { TestCluster } from "../support/cluster";
import { cleanupNamespace, freshNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import {
  actorsCommand,
  partitionsCommand,
  streamsCommand,
  replCommands,
  summarisePartitions,
  summariseStreams,
} from "../../node/repl-commands";
import type { ReplArgs } from "../../node/domain";
import { clientCommands } from "../../services/gateway/repl";

describe("REPL commands", function () {
  this.timeout(60_000);
  let ns: string;
  let cluster: TestCluster;
  let port: number;

  before(async () => {
    ns = freshNamespace();
    cluster = new TestCluster(ns, { ACTOR_PARTITIONS: "4", EVENTS_PARTITIONS: "3", EVENTS_EXAMPLE_TYPES: "false" });
    await cluster.connect();
    port = await freePort();
    cluster.startNode("r1", { SERVICES: "runtime,probe,gateway,tenant-events", PORT: String(port) });
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
    expect(names).to.include("state");
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

  /** Runs REPL command `name` as moleculer-repl would, returning what it printed. */
  async function run(name: string, args: Record<string, unknown> = {}, options: Record<string, unknown> = {}) {
    const cmd = replCommands().find((c) => c.command.split(" ")[0] === name)!;
    const table = (rows: unknown[][]): string => rows.map((r) => r.map(String).join(" | ")).join("\n");
    let out = "";
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      await cmd.action(cluster.broker, { ...args, options } as ReplArgs, { table });
    } finally {
      process.stdout.write = write;
    }
    return out.split("\n").filter((l) => l.length > 0);
  }

  it("partitions: a summary per kind (tenant events too), every partition sorted numerically behind --all", async () => {
    await waitFor("event partitions owned", async () => {
      const rows = await partitionsCommand(cluster.broker);
      return rows.filter((r) => r.kind === "events" && r.owner === "r1").length === 3;
    });
    const rows = await partitionsCommand(cluster.broker);
    expect(rows.map((r) => `${r.kind}/${r.partition}`)).to.deep.equal([
      "events/0",
      "events/1",
      "events/2",
      "probe/0",
      "probe/1",
      "probe/2",
      "probe/3",
    ]);
    const summary = await run("partitions");
    expect(summary).to.deep.equal([
      "kind | partitions | owners (node: count) | unowned | moving",
      "events | 3 | r1: 3 | 0 | 0",
      "probe | 4 | r1: 4 | 0 | 0",
      "7 partitions; `partitions --all` lists each",
    ]);
    const all = await run("partitions", {}, { all: true });
    expect(all.slice(3)).to.deep.equal([
      "kind | partition | owner | desired",
      "events | 0 | r1 | r1",
      "events | 1 | r1 | r1",
      "events | 2 | r1 | r1",
      "probe | 0 | r1 | r1",
      "probe | 1 | r1 | r1",
      "probe | 2 | r1 | r1",
      "probe | 3 | r1 | r1",
    ]);
    expect(await run("partitions", {}, { kind: "probe" })).to.have.length(3);
  });

  it("streams: a summary per stream, consumers sorted numerically behind --all", async () => {
    const summary = await run("streams");
    const probe = `${ns.toUpperCase()}_ACTOR_PROBE`;
    expect(summary[0]).to.equal("stream | consumers | pending | ack pending | redelivered | waiting");
    // four consumers, nothing pending (the waiting pulls vary)
    expect(summary.find((l) => l.startsWith(`${probe} |`))).to.match(/ \| 4 \| 0 \| 0 \| 0 \| \d+$/);
    expect(summary.at(-1)).to.match(/^\d+ consumers; `streams --all` lists each$/);
    const streams = summary.slice(1, -1).map((l) => l.split(" | ")[0]!);
    expect(streams).to.deep.equal([...streams].sort());
    const detail = await run("streams", {}, { all: true, stream: probe });
    expect(detail.slice(3).map((l) => l.split(" | ").slice(0, 2).join("/"))).to.deep.equal([
      `${probe}/p0`,
      `${probe}/p1`,
      `${probe}/p2`,
      `${probe}/p3`,
    ]);
  });

  it("summarises rows: p2 before p10, owners, unowned and moving partitions counted", () => {
    const p = (kind: string, partition: number, owner: string | null, desired: string | null) => ({
      kind,
      partition,
      owner,
      desired,
    });
    expect(
      summarisePartitions([p("b", 0, "n1", "n1"), p("a", 1, null, "n2"), p("a", 0, "n1", "n2"), p("a", 2, "n2", "n2")]),
    ).to.deep.equal([
      { kind: "a", partitions: 3, owners: { n1: 1, n2: 1 }, unowned: 1, moving: 1 },
      { kind: "b", partitions: 1, owners: { n1: 1 }, unowned: 0, moving: 0 },
    ]);
    const c = (stream: string, consumer: string, pending: number) => ({
      stream,
      consumer,
      pending,
      ackPending: 1,
      redelivered: 0,
      waiting: 2,
    });
    expect(summariseStreams([c("S10", "p1", 1), c("S2", "p10", 2), c("S2", "p2", 3)])).to.deep.equal([
      { stream: "S2", consumers: 2, pending: 5, ackPending: 2, redelivered: 0, waiting: 4 },
      { stream: "S10", consumers: 1, pending: 1, ackPending: 1, redelivered: 0, waiting: 2 },
    ]);
  });

  it("state: reads an actor's stored state", async () => {
    const key = "repl-k1";
    await cluster.publish("probe", [key], 0, 3, 4, (_k, n) => ({ n }));
    await waitFor("probe state", async () => (await cluster.state<{ count: number }>("probe", key)) !== undefined);
    const stored = await cluster.state("probe", key);
    const printed = (await waitFor("state printed", async () => {
      const lines = await run("state", { kind: "probe", key });
      const text = lines.join("\n");
      return text === JSON.stringify(await cluster.state("probe", key), null, 2) ? text : null;
    })) as string;
    expect(JSON.parse(printed)).to.be.an("object");
    expect(stored).to.not.equal(undefined);
    expect(await run("state", { kind: "probe", key: "never-sent" })).to.deep.equal(["no state for probe never-sent"]);
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
