/**
 * Two nodes in one namespace: a suspension made on one node (admin route) or from outside
 * (the CLI's admin functions) is refused by the other node's gateway within 5 s; routes of a
 * service that runs only on node A are served by node B's gateway too.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startGatewayNode, makeClient, request, cleanupAll, isUniformError, type GatewayNode } from "./harness";
import { suspendClient, activateClient } from "../../services/gateway/clients";

describe("gateway on two nodes", function () {
  const ns = freshNamespace("tgm");
  let a: GatewayNode;
  let b: GatewayNode;

  before(async function () {
    // A long in-process TTL on B: only the change notice can make B notice within 5 s.
    a = await startGatewayNode({ ns, nodeId: "ma", notes: true });
    b = await startGatewayNode({ ns, nodeId: "mb", env: { GATEWAY_AUTH_CACHE_TTL_MS: "60000" } });
    await b.node.broker.waitForServices(["notes"], 15_000);
  });

  after(async function () {
    await b?.stop();
    await a?.stop();
    await cleanupAll(ns);
  });

  it("serves, on node B, the routes of a service that runs only on node A (same tenant rules)", async function () {
    const c = await makeClient(a.admin, { scopes: ["notes:read", "notes:write"] });
    const d = await makeClient(a.admin, { scopes: ["notes:read"] });
    const created = await request(`${b.url}/api/v1/notes`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.apiKey}`, "content-type": "application/json" },
      body: '{"text":"via b"}',
    });
    expect(created.status, created.text).to.equal(201);
    const id = (created.json as { id: string }).id;
    expect(
      (await request(`${a.url}/api/v1/notes/${id}`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status,
    ).to.equal(200);
    const other = await request(`${b.url}/api/v1/notes/${id}`, { headers: { authorization: `Bearer ${d.apiKey}` } });
    expect(other.status).to.equal(404);
    expect(isUniformError(other.json, "NOT_FOUND")).to.equal(true);
  });

  it("a client suspended through node A's admin route is refused by node B within 5 s", async function () {
    const adminClient = await makeClient(a.admin, { scopes: ["admin"] });
    const c = await makeClient(a.admin, { scopes: ["notes:read"] });
    // Warm B's caches so that B would keep accepting the key without a notice.
    for (let i = 0; i < 3; i++)
      expect(
        (await request(`${b.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status,
      ).to.equal(200);
    const t0 = Date.now();
    const s = await request(`${a.url}/api/v1/admin/clients/${c.client.id}/suspend`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminClient.apiKey}` },
    });
    expect(s.status).to.equal(200);
    const refused = await waitFor(
      "node B to refuse the suspended client",
      async () => {
        const r = await request(`${b.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } });
        return r.status === 403 ? r : undefined;
      },
      5000,
      25,
    );
    expect(isUniformError(refused.json, "CLIENT_SUSPENDED")).to.equal(true);
    expect(Date.now() - t0).to.be.below(5000);
  });

  it("a client suspended from outside the cluster (CLI admin functions) is refused by both nodes within 5 s, and back after activation", async function () {
    const c = await makeClient(a.admin, { scopes: ["notes:read"] });
    for (const n of [a, b])
      expect(
        (await request(`${n.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status,
      ).to.equal(200);
    // What bin/clients.ts uses: its own store, Redis and NATS connections, no broker.
    const { onChange: _onChange, ...outside } = a.admin;
    const t0 = Date.now();
    await suspendClient(outside, c.client.id);
    for (const n of [a, b]) {
      await waitFor(
        `node ${n.ctx.config.nodeId} to refuse`,
        async () =>
          (await request(`${n.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status === 403,
        5000,
        25,
      );
    }
    expect(Date.now() - t0).to.be.below(5000);
    await activateClient(outside, c.client.id);
    for (const n of [a, b]) {
      await waitFor(
        `node ${n.ctx.config.nodeId} to accept again`,
        async () =>
          (await request(`${n.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status === 200,
        5000,
        25,
      );
    }
  });

  it("without a notice (lost NATS message), the short in-process TTL still applies the suspension", async function () {
    const c = await makeClient(a.admin, { scopes: ["notes:read"] });
    expect((await request(`${a.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status).to.equal(
      200,
    );
    // Node A's TTL is the default 5 s; no NATS connection: no notice at all.
    const { nc: _nc, onChange: _change, ...noNotice } = a.admin;
    const t0 = Date.now();
    await suspendClient(noNotice, c.client.id);
    await waitFor(
      "node A to refuse by TTL",
      async () =>
        (await request(`${a.url}/api/v1/me`, { headers: { authorization: `Bearer ${c.apiKey}` } })).status === 403,
      7000,
      100,
    );
    expect(Date.now() - t0).to.be.below(6500);
  });
});
