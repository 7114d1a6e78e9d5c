/**
 * `clients.webhook`, the internal action that answers a client's webhook URL and unsealed
 * webhook secret to the domains that send webhooks. Nodes and operators only: a node's own
 * call (its standing "node" assertion) and an operator's get the data; a client caller is
 * refused (403), even one with scope admin, and so is a public one; a broker on the namespace
 * without the cluster secret, or a forged assertion, is refused (401). It has no HTTP route.
 */
import { expect } from "chai";
import { ServiceBroker } from "moleculer";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { startGatewayNode, makeClient, request, cleanupAll, type GatewayNode } from "./harness";
import { callerTokens, createCallerTokens, operatorMeta } from "../../gateway/caller";
import { DEV_CLUSTER_SECRET } from "../../config";
import type { CreatedClient } from "../../services/gateway/clients";

/** The error code of a call that must fail ("RESOLVED" if it did not). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "RESOLVED";
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

describe("clients.webhook (internal: nodes and operators only)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tgw");
  let gw: GatewayNode;
  let plain: ServiceBroker;
  let hooked: CreatedClient;
  let bare: CreatedClient;
  let admin: CreatedClient;

  const webhookOf = (id: string, meta?: Record<string, unknown>) =>
    gw.node.broker.call("clients.webhook", { id }, meta ? { meta } : {});
  const sign = (claims: Parameters<ReturnType<typeof callerTokens>["sign"]>[0]) =>
    callerTokens(gw.ctx.config.cluster.secret, ns).sign(claims);

  before(async function () {
    gw = await startGatewayNode({ ns, nodeId: "w1" });
    hooked = await makeClient(gw.admin, { scopes: ["notes:read"], webhookUrl: "https://hooks.example.com/in" });
    bare = await makeClient(gw.admin, { scopes: ["notes:read"] });
    admin = await makeClient(gw.admin, { scopes: ["admin"] });
    plain = new ServiceBroker({
      namespace: ns,
      nodeID: `plain-${process.pid}`,
      transporter: { type: "NATS", options: { url: NATS_URL } },
      logger: false,
    });
    await plain.start();
    await plain.waitForServices(["clients"], 15_000);
  });

  after(async function () {
    await plain?.stop().catch(() => undefined);
    await gw?.stop();
    await cleanupAll(ns);
  });

  it("answers a node's own call with the URL and the unsealed secret shown at creation", async function () {
    expect(await webhookOf(hooked.client.id)).to.deep.equal({
      url: "https://hooks.example.com/in",
      secret: hooked.webhookSecret,
    });
    expect(hooked.webhookSecret).to.match(/^whsec_/);
  });

  it("answers url null for a client without a webhook URL, and null for an unknown client", async function () {
    expect(await webhookOf(bare.client.id)).to.deep.equal({ url: null, secret: bare.webhookSecret });
    expect(await webhookOf("cl_aaaaaaaaaaaaaaaa")).to.equal(null);
    expect(await webhookOf("not-a-client-id")).to.equal(null);
  });

  it("answers an operator (a plain broker given operatorMeta)", async function () {
    const meta = await operatorMeta(gw.ctx.config);
    expect(await plain.call("clients.webhook", { id: hooked.client.id }, { meta })).to.deep.equal({
      url: "https://hooks.example.com/in",
      secret: hooked.webhookSecret,
    });
  });

  it("refuses client callers with 403, even one holding scope admin, and public callers with 401", async function () {
    const asClient = await sign({ kind: "client", subject: hooked.client.id, scopes: ["notes:read"] });
    expect(await codeOf(webhookOf(hooked.client.id, { caller: asClient }))).to.equal("FORBIDDEN");
    const asAdmin = await sign({ kind: "client", subject: admin.client.id, scopes: ["admin"] });
    expect(await codeOf(webhookOf(hooked.client.id, { caller: asAdmin }))).to.equal("FORBIDDEN");
    const asPublic = await sign({ kind: "public", subject: "anonymous" });
    expect(await codeOf(webhookOf(hooked.client.id, { caller: asPublic }))).to.equal("UNAUTHORIZED");
  });

  it("refuses unsigned and forged callers with 401", async function () {
    expect(await codeOf(plain.call("clients.webhook", { id: hooked.client.id }))).to.equal("UNAUTHORIZED");
    const forged = await createCallerTokens(
      DEV_CLUSTER_SECRET === gw.ctx.config.cluster.secret ? "another-secret-entirely" : DEV_CLUSTER_SECRET,
      ns,
    ).sign({ kind: "node", subject: "w1" });
    expect(
      await codeOf(plain.call("clients.webhook", { id: hooked.client.id }, { meta: { caller: forged } })),
    ).to.equal("UNAUTHORIZED");
  });

  it("has no HTTP route", async function () {
    const r = await request(`${gw.url}/api/v1/admin/clients/${hooked.client.id}/webhook`, {
      headers: { authorization: `Bearer ${admin.apiKey}` },
    });
    expect(r.status).to.equal(404);
    expect(gw.ctx.routes.some((s) => s.action === "clients.webhook")).to.equal(false);
  });
});
