/**
 * The OpenAPI document: valid OpenAPI 3.1 (checked by @seriousme/openapi-schema-validator),
 * and in step with what the gateway serves: every alias moleculer-web actually routes is
 * documented (the check fails when one is missing), and every documented operation is routed.
 */
import { expect } from "chai";
import { Validator } from "@seriousme/openapi-schema-validator";
import { freshNamespace } from "../support/namespace";
import { startGatewayNode, request, cleanupAll, isUniformError, type GatewayNode } from "./harness";
import { buildOpenApi, missingFromOpenApi, type OpenApiDocument } from "../../gateway";
import { gatewayRoutes } from "../../services/gateway/routes";
import { loadConfig } from "../../node/config";
import { collectRoutes } from "../../services/gateway/service";
import { allRoutes, declareDomains } from "../../node/assemble";

interface ServedAlias {
  readonly methods: string;
  readonly fullPath: string;
}

describe("OpenAPI document", function () {
  const ns = freshNamespace("tgo");
  let gw: GatewayNode;
  let doc: OpenApiDocument;
  let served: { method: string; path: string }[];

  before(async function () {
    gw = await startGatewayNode({ ns, nodeId: "o1", notes: true });
    const r = await request(`${gw.url}/api/openapi.json`);
    expect(r.status).to.equal(200);
    doc = r.json as OpenApiDocument;
    // What moleculer-web really routes, from the running service.
    const aliases = await gw.node.broker.call<ServedAlias[], Record<string, never>>(
      "gateway.listAliases",
      {},
      { nodeID: gw.ctx.config.nodeId },
    );
    served = aliases.map((a) => ({ method: a.methods, path: a.fullPath }));
  });

  after(async function () {
    await gw?.stop();
    await cleanupAll(ns);
  });

  it("is a valid OpenAPI 3.1 document", async function () {
    const v = new Validator();
    const res = await v.validate(doc);
    expect(res.errors ?? [], JSON.stringify(res.errors, null, 1)?.slice(0, 2000)).to.deep.equal([]);
    expect(res.valid).to.equal(true);
    expect(v.version).to.equal("3.1");
  });

  it("documents every alias the gateway serves", function () {
    expect(served.length).to.be.at.least(gatewayRoutes.length);
    expect(missingFromOpenApi(served, doc)).to.deep.equal([]);
  });

  it("the coverage check fails when a served route is missing from the document", function () {
    const victim = served.find((s) => s.path.includes(":")) ?? served[0]!;
    const openapiPath = victim.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const copy = JSON.parse(JSON.stringify(doc)) as OpenApiDocument;
    delete copy.paths[openapiPath]![victim.method.toLowerCase()];
    expect(missingFromOpenApi(served, copy)).to.deep.equal([`${victim.method} ${openapiPath}`]);
    expect(missingFromOpenApi([...served, { method: "GET", path: "/api/v1/undocumented/:id" }], doc)).to.deep.equal([
      "GET /api/v1/undocumented/{id}",
    ]);
  });

  it("routes every documented operation (no documented path answers 'no such route')", async function () {
    const ops: [string, string][] = [];
    for (const [p, item] of Object.entries(doc.paths))
      for (const m of Object.keys(item)) ops.push([m.toUpperCase(), p]);
    expect(ops.length).to.equal(served.length);
    for (const [method, p] of ops) {
      const url = gw.url + p.replace(/\{[^}]+\}/g, "x");
      const r = await request(url, {
        method,
        ...(method === "POST" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}),
      });
      expect(r.status, `${method} ${p}`).not.to.equal(405);
      if (r.status === 404)
        expect((r.json as { error: { message: string } }).error.message, `${method} ${p}`).not.to.equal(
          "no such route",
        );
      if (r.status >= 400)
        expect(isUniformError(r.json) || p === "/health/ready", `${method} ${p}: ${r.text.slice(0, 200)}`).to.equal(
          true,
        );
      // Other domains' routes are served too; their services do not run in this test (503).
      if (r.status >= 500)
        expect(isUniformError(r.json, "UNAVAILABLE"), `${method} ${p}: ${r.status} ${r.text.slice(0, 200)}`).to.equal(
          true,
        );
    }
  });

  it("is generated from the same table as the aliases (all domains, plus test routes)", function () {
    const routes = collectRoutes(allRoutes(declareDomains(loadConfig({}))));
    const fromTable = buildOpenApi(routes, { title: "t", version: "1" });
    for (const r of routes)
      expect(fromTable.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).to.not.equal(undefined);
    for (const r of routes)
      expect(doc.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).to.not.equal(undefined);
  });
});
