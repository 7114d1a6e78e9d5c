/**
 * The check behind the OpenAPI response recorder (test/support/openapi-recorder.ts, which runs
 * it on every gateway answer of the test run and fails the run's root `after` hook on any
 * problem): it bites on an undeclared status, a body off its schema and an undeclared content
 * type, and leaves unknown routes alone. Plus the declarations the issue named.
 */
import { expect } from "chai";
import { buildOpenApi } from "../../gateway";
import { collectRoutes } from "../../services/gateway/service";
import { allRoutes, declareDomains } from "../../node/assemble";
import { loadConfig } from "../../node/config";
import { createResponseChecker, type RecordedResponse } from "../support/openapi-check";

type Obj = Record<string, any>;

describe("OpenAPI response check", function () {
  const routes = collectRoutes(allRoutes(declareDomains(loadConfig({}))));
  const doc = buildOpenApi(routes, { title: "t", version: "1" });
  const checker = createResponseChecker(doc, routes);
  const error = (code: string) => JSON.stringify({ error: { code, message: "m", requestId: "r1" } });
  const answer = (r: Partial<RecordedResponse> & { target: string }): RecordedResponse => ({
    method: "GET",
    status: 200,
    contentType: "application/json; charset=utf-8",
    body: "{}",
    ...r,
  });

  it("passes a declared status whose body matches its schema", function () {
    expect(checker.check(answer({ target: "/health/live", body: '{"status":"ok"}' }))).to.deep.equal({
      kind: "ok",
      route: "GET /health/live",
    });
    const r = checker.check(
      answer({ method: "POST", target: "/api/v1/receipts", status: 409, body: error("CONFLICT") }),
    );
    expect(r.kind).to.equal("ok");
  });

  it("reports an undeclared status (the check bites)", function () {
    const r = checker.check(answer({ target: "/api/v1/me", status: 418, body: error("BAD_REQUEST") }));
    expect(r.kind).to.equal("problem");
    expect(r).to.have.property("route", "GET /api/v1/me");
    expect((r as { problem: string }).problem).to.match(/^status 418 is not declared/);
  });

  it("reports a body that does not match the declared schema", function () {
    const wrong = checker.check(answer({ target: "/health/live", body: '{"status":"down"}' }));
    expect(wrong.kind).to.equal("problem");
    expect((wrong as { problem: string }).problem).to.contain("does not match the schema");
    const noId = checker.check(
      answer({ target: "/api/v1/me", status: 401, body: '{"error":{"code":"UNAUTHORIZED","message":"m"}}' }),
    );
    expect(noId.kind).to.equal("problem");
    const notJson = checker.check(answer({ target: "/api/v1/me", status: 401, body: "<html>" }));
    expect((notJson as { problem: string }).problem).to.contain("not JSON");
  });

  it("reports a content type the status does not declare", function () {
    const r = checker.check(answer({ target: "/api/v1/me", contentType: "text/html", body: "<p>" }));
    expect((r as { problem: string }).problem).to.contain("content type");
  });

  it("leaves answers of routes outside the document alone (unknown paths, wrong methods)", function () {
    expect(checker.check(answer({ target: "/api/v1/nothing-here", status: 404 }))).to.deep.equal({
      kind: "unmatched",
    });
    expect(checker.check(answer({ method: "DELETE", target: "/api/v1/me", status: 405 }))).to.deep.equal({
      kind: "unmatched",
    });
  });

  it("declares what the issue found missing: 409/422 and the headers of POST /receipts, 401 of /oauth/token", function () {
    const submit = doc.paths["/api/v1/receipts"]!["post"] as Obj;
    expect(submit["responses"]).to.include.keys("202", "409", "422", "503");
    const headers = (submit["parameters"] as Obj[]).filter((p) => p["in"] === "header").map((p) => p["name"]);
    expect(headers).to.include.members(["Idempotency-Key", "X-Callback-Url"]);
    const token = doc.paths["/oauth/token"]!["post"] as Obj;
    expect(token["responses"]).to.include.keys("200", "401", "429");
    for (const [p, item] of Object.entries(doc.paths))
      for (const [m, op] of Object.entries(item as Obj))
        if ((op as Obj)["x-access"] !== "public")
          expect((op as Obj)["responses"], `${m} ${p}`).to.include.keys("401", "403");
  });
});
