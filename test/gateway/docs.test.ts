/**
 * The docs page (/api/docs) renders, from the OpenAPI document, a curl line per operation,
 * each response's schema and an example, and the "getting a key" steps. The page's own script
 * runs here in a VM against the document the gateway serves (no browser needed).
 */
import vm from "node:vm";
import { expect } from "chai";
import { docsHtml } from "../../services/gateway/docs";
import { buildOpenApi } from "../../gateway";
import { collectRoutes } from "../../services/gateway/service";
import { allRoutes, declareDomains } from "../../node/assemble";
import { loadConfig } from "../../node/config";
import { waitFor } from "../support/wait";

describe("API docs page", function () {
  const routes = collectRoutes(allRoutes(declareDomains(loadConfig({}))));
  const doc = buildOpenApi(routes, { title: "Switchyard API", version: "1" });
  const html = docsHtml("/api/openapi.json");
  let main = "";

  before(async function () {
    const script = html.split("<script>")[1]!.split("</script>")[0]!;
    const els: Record<string, { innerHTML: string; textContent: string }> = {};
    const document = { getElementById: (id: string) => (els[id] ??= { innerHTML: "", textContent: "" }), title: "" };
    const fetch = async () => ({ ok: true, json: async () => doc });
    vm.runInNewContext(script, { document, fetch });
    main = await waitFor("the page rendered", () => els["main"]?.innerHTML || undefined, 5_000, 10);
  });

  it("has a curl line for every operation, with its auth, headers and an example body", function () {
    const curls = [...main.matchAll(/<pre class='curl'>([^<]*)<\/pre>/g)].map((m) => m[1]!.replace(/&quot;/g, '"'));
    expect(curls).to.have.length(routes.length);
    for (const r of routes) {
      const path = r.path.replace(/\{([^}]+)\}/g, "&lt;$1&gt;");
      const line = curls.find(
        (c) =>
          c.includes(`"$BASE${path}"`) && (r.method === "GET" ? !c.includes(" -X ") : c.includes(`-X ${r.method} `)),
      );
      expect(line, `${r.method} ${r.path}`).to.be.a("string");
      expect(line!.includes("Authorization: Bearer $TOKEN"), `${r.method} ${r.path}`).to.equal(r.access !== "public");
    }
    expect(curls.find((c) => c.includes('/api/v1/receipts"') && c.includes("-X POST"))).to.contain("Idempotency-Key");
  });

  it("shows each success response's schema and an example, and the error shape once", function () {
    expect(main).to.contain("schema and example");
    expect(main).to.contain("(the error shape, below)");
    expect(main).to.contain("<h2>Errors</h2>");
  });

  it("explains how an operator gets a client its key (CLI, REPL, token)", function () {
    expect(html).to.contain("Getting a key");
    expect(html).to.contain("npm run -s clients -- create --name acme --scopes");
    expect(html).to.contain("clients-create --name acme");
    expect(html).to.contain("/oauth/token");
  });
});
