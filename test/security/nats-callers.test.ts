/**
 * Issue 11, item 2 ("anyone on NATS is admin"): a node is up (a child process with its own
 * CLUSTER_SECRET); whoever joins its NATS namespace without that secret runs nothing.
 *
 * - A plain Moleculer broker (NATS transporter, same namespace, no secret) calls the operator
 *   surfaces: clients.create with scope admin, clients.webhook (a client's webhook secret), supporters.data (decrypted personal data), an
 *   events operator action, the runtime's DLQ replay, Moleculer's own $node.list. Every call is
 *   401 UNAUTHORIZED, with a forged `meta.client` too, with an assertion signed with another
 *   secret (the well-known dev one), with an expired one, and with one of another namespace.
 * - A raw NATS client writes a Moleculer request packet that claims to come from the node
 *   itself: refused the same way (the sender field proves nothing).
 * - Events broadcast by the plain broker reach a guarded listener only when signed.
 * - The operator path still works: a REPL broker built from the nodes' configuration (same
 *   CLUSTER_SECRET) creates an admin client and replays the DLQ; a plain broker given
 *   `operatorMeta(config)` is admitted; HTTP through the gateway works with the new key.
 */
import { expect } from "chai";
import { ServiceBroker } from "moleculer";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../node/config";
import { DEV_CLUSTER_SECRET } from "../../config";
import { brokerOptions } from "../../moleculer.config";
import { createCallerTokens, operatorMeta } from "../../gateway/caller";
import { dlqReplayCommand, partitionsCommand } from "../../node/repl-commands";
import { clientCommands } from "../../services/gateway/repl";
import { connectNats, type NatsHandles } from "../../nats";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { startChild, type ChildNode } from "../support/node";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const SERVICES = "runtime,probe,gateway,tenant-events,supporters";
const HASH = "A".repeat(43);

/** The operator surfaces an intruder goes for, as [action, params], all called on node n1. */
const TARGETS: ReadonlyArray<readonly [string, unknown]> = [
  ["clients.create", { params: {}, query: {}, body: { name: "intruder", scopes: ["admin"] } }],
  ["clients.list", { params: {}, query: {} }],
  ["clients.webhook", { id: "cl_aaaaaaaaaaaaaaaa" }],
  ["supporters.data", { params: { hash: HASH }, query: {} }],
  ["supporters.dlqList", {}],
  ["events.dlqReplay", { seqs: [1] }],
  ["events.defineType", { name: "intruder.type", schema: { type: "object" } }],
  ["runtime.dlqReplay", { seqs: [1] }],
  ["runtime.state", { kind: "probe", key: "k1" }],
  ["$node.list", {}],
];

/** The error code of a call that must fail ("RESOLVED" if it did not). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "RESOLVED";
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

describe("security: NATS callers must prove who they are (issue 11, item 2)", function () {
  this.timeout(120_000);
  const secret = randomBytes(32).toString("base64");
  let ns: string;
  let node: ChildNode;
  let intruder: ServiceBroker;
  let repl: ServiceBroker;
  let nats: NatsHandles;

  /** The configuration a REPL or tool on this cluster runs with (`secretOverride`: a wrong one). */
  const configFor = (nodeId: string, secretOverride?: string) =>
    loadConfig({
      NAMESPACE: ns,
      NATS_URL,
      NODE_ID: nodeId,
      LOG_LEVEL: "warn",
      CLUSTER_SECRET: secretOverride ?? secret,
    });

  const discovered = (b: ServiceBroker) =>
    waitFor(
      "the node's services discovered",
      () =>
        ["clients", "supporters", "events", "runtime"].every((n) =>
          b.registry.getServiceList({ onlyAvailable: true }).some((s: { name: string }) => s.name === n),
        ),
      20_000,
    );

  before(async function () {
    ns = freshNamespace();
    const port = await freePort();
    node = await startChild({
      NAMESPACE: ns,
      NODE_ID: "n1",
      PORT: String(port),
      SERVICES,
      ACTOR_PARTITIONS: "4",
      CLUSTER_SECRET: secret,
    });
    // A plain broker: the NATS transporter and the namespace are all it takes to join.
    intruder = new ServiceBroker({
      namespace: ns,
      nodeID: `intruder-${process.pid}`,
      transporter: { type: "NATS", options: { url: NATS_URL } },
      logger: false,
    });
    repl = new ServiceBroker(
      brokerOptions(
        configFor(`repl-${process.pid}`),
        { logger: false },
        { kind: "operator", subject: "test-operator" },
      ),
    );
    await Promise.all([intruder.start(), repl.start()]);
    await Promise.all([discovered(intruder), discovered(repl)]);
    nats = await connectNats(NATS_URL, `raw-${ns}`);
  });

  after(async function () {
    await intruder?.stop().catch(() => undefined);
    await repl?.stop().catch(() => undefined);
    await nats?.nc.close().catch(() => undefined);
    await node?.stop();
    await cleanupNamespace(ns);
  });

  it("refuses every operator action to a plain broker without a caller assertion (401)", async function () {
    for (const [action, params] of TARGETS)
      expect(await codeOf(intruder.call(action, params, { nodeID: "n1" })), action).to.equal("UNAUTHORIZED");
  });

  it("ignores a forged meta.client, even one claiming scope admin", async function () {
    const meta = {
      client: { id: "c_forged", scopes: ["admin", "supporters:read", "supporters:write"] },
      user: { id: "c_forged", scopes: ["admin"] },
    };
    for (const [action, params] of TARGETS)
      expect(await codeOf(intruder.call(action, params, { nodeID: "n1", meta })), action).to.equal("UNAUTHORIZED");
  });

  it("refuses assertions signed with another secret (the dev one), expired, or of another namespace", async function () {
    const forged = [
      await createCallerTokens(DEV_CLUSTER_SECRET, ns).sign({ kind: "operator", subject: "ops" }),
      await createCallerTokens(randomBytes(32).toString("base64"), ns).sign({ kind: "node", subject: "n1" }),
      await createCallerTokens(secret, ns).sign({ kind: "operator", subject: "ops", ttlSec: -120 }),
      await createCallerTokens(secret, "otherns").sign({ kind: "operator", subject: "ops" }),
    ];
    for (const caller of forged) {
      for (const [action, params] of TARGETS)
        expect(await codeOf(intruder.call(action, params, { nodeID: "n1", meta: { caller } })), action).to.equal(
          "UNAUTHORIZED",
        );
    }
  });

  it("refuses a REPL whose CLUSTER_SECRET is not the cluster's", async function () {
    const wrong = new ServiceBroker(
      brokerOptions(
        configFor(`repl-wrong-${process.pid}`, DEV_CLUSTER_SECRET),
        { logger: false },
        { kind: "operator", subject: "ops" },
      ),
    );
    await wrong.start();
    try {
      await discovered(wrong);
      expect(await codeOf(clientCommands.create(wrong, { name: "intruder", scopes: ["admin"] }))).to.equal(
        "UNAUTHORIZED",
      );
      expect(await codeOf(dlqReplayCommand(wrong, { seqs: [1] }))).to.equal("UNAUTHORIZED");
    } finally {
      await wrong.stop();
    }
  });

  it("refuses a raw NATS request packet that claims to come from the node itself", async function () {
    const id = `forged-${randomBytes(6).toString("hex")}`;
    const responses = nats.nc.subscribe(`MOL-${ns}.RES.n1`);
    const answer = (async () => {
      for await (const m of responses) {
        const p = JSON.parse(new TextDecoder().decode(m.data)) as {
          id: string;
          success: boolean;
          error?: { code?: unknown };
        };
        if (p.id === id) return p;
      }
      return undefined;
    })();
    const packet = {
      ver: "5",
      sender: "n1",
      id,
      action: "clients.create",
      params: { params: {}, query: {}, body: { name: "intruder", scopes: ["admin"] } },
      meta: { client: { id: "c_forged", scopes: ["admin"] } },
      headers: {},
      timeout: 5000,
      level: 1,
      tracing: null,
      parentID: null,
      requestID: id,
      caller: null,
      stream: false,
    };
    nats.nc.publish(`MOL-${ns}.REQ.n1`, JSON.stringify(packet));
    const timer = setTimeout(() => responses.unsubscribe(), 10_000);
    const got = await answer;
    clearTimeout(timer);
    responses.unsubscribe();
    expect(got, "a response to the forged request").to.not.equal(undefined);
    expect(got!.success).to.equal(false);
    expect(got!.error?.code).to.equal("UNAUTHORIZED");
  });

  it("drops events from a broker without a valid assertion, delivers signed ones", async function () {
    const seen: string[] = [];
    const listener = new ServiceBroker(brokerOptions(configFor(`listener-${process.pid}`), { logger: false }));
    listener.createService({
      name: "listener",
      events: {
        "intruder.test"(ctx: { params: { n: string } }) {
          seen.push(ctx.params.n);
        },
      },
    });
    await listener.start();
    try {
      await waitFor(
        "the listener discovered",
        () =>
          intruder.registry
            .getServiceList({ onlyAvailable: true })
            .some((s: { name: string }) => s.name === "listener"),
        10_000,
      );
      await intruder.broadcast("intruder.test", { n: "unsigned" });
      await intruder.broadcast(
        "intruder.test",
        { n: "forged" },
        { meta: { caller: await createCallerTokens(DEV_CLUSTER_SECRET, ns).sign({ kind: "node", subject: "n1" }) } },
      );
      await intruder.broadcast("intruder.test", { n: "signed" }, { meta: await operatorMeta(configFor("tool")) });
      // One sender, one connection: the earlier events were handled (or dropped) before this one.
      await waitFor("the signed event", () => seen.includes("signed"), 10_000);
      expect(seen).to.deep.equal(["signed"]);
    } finally {
      await listener.stop();
    }
  });

  it("admits the operator: the REPL with the cluster's secret, and a plain broker given operatorMeta", async function () {
    expect((await partitionsCommand(repl)).filter((p) => p.kind === "probe")).to.have.lengthOf(4);
    expect(await dlqReplayCommand(repl, { seqs: [999_999] })).to.deep.equal({ replayed: [], missing: [999_999] });
    const meta = await operatorMeta(configFor("tool"));
    const listed = (await intruder.call("clients.list", { params: {}, query: {} }, { meta })) as { items: unknown[] };
    expect(listed.items).to.be.an("array");
  });

  it("keeps HTTP working: an admin client made by the REPL manages clients through the gateway", async function () {
    const created = await clientCommands.create(repl, { name: "ops-admin", scopes: ["admin"] });
    const auth = { authorization: `Bearer ${String(created["apiKey"])}` };
    const list = await fetch(`${node.url}/api/v1/admin/clients`, { headers: auth });
    expect(list.status).to.equal(200);
    const ids = ((await list.json()) as { items: Array<{ id: string }> }).items.map((c) => c.id);
    expect(ids).to.include(String(created["id"]));
    const me = await fetch(`${node.url}/api/v1/me`, { headers: auth });
    expect(((await me.json()) as { id: string }).id).to.equal(created["id"]);
    expect((await fetch(`${node.url}/api/v1/admin/clients`)).status).to.equal(401);
    expect((await fetch(`${node.url}/health/ready`)).status).to.equal(200);
  });
});
