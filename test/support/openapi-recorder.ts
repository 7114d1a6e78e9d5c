/**
 * Records every answer a Switchyard gateway gives the tests of this run and checks each one
 * against the OpenAPI document (openapi-check.ts): status declared for the route, content type
 * declared, body matching its schema.
 *
 * Importing this module (the shared HTTP helpers do: support/http.ts, support/namespace.ts)
 * installs it once per process:
 * - `globalThis.fetch` is wrapped: an answer carrying `X-Request-Id` (every gateway answer
 *   does; simulators and webhook receivers do not) is read from a clone and recorded; helpers
 *   on node:http call {@link recordResponse} themselves;
 * - a root `after` hook (registered while mocha loads the first spec file that imports this)
 *   writes every record of the run to `var/openapi-responses/<time>-<pid>.jsonl` and fails,
 *   listing each undeclared status or mismatching body once per route and status.
 * So it works whichever test files run: only answers of the tests that ran are checked.
 * Routes the document does not hold (the gateway tests' own "notes" domain, unknown paths,
 * wrong methods) are not checked. `OPENAPI_RESPONSE_CHECK=off` turns the check off.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../node/config";
import { allRoutes, declareDomains } from "../../node/assemble";
import { collectRoutes } from "../../services/gateway/service";
import { buildOpenApi } from "../../gateway/openapi";
import { createResponseChecker, type RecordedResponse, type ResponseChecker } from "./openapi-check";

interface Recorder {
  readonly lines: string[];
  /** "ROUTE STATUS: problem" -> how often */
  readonly problems: Map<string, number>;
  readonly seen: Map<string, number>;
  readonly pending: Set<Promise<void>>;
  checker?: ResponseChecker;
}

const KEY = Symbol.for("switchyard.openapi-recorder");
const g = globalThis as typeof globalThis & { [KEY]?: Recorder };

function checker(rec: Recorder): ResponseChecker {
  if (!rec.checker) {
    const routes = collectRoutes(allRoutes(declareDomains(loadConfig({}))));
    rec.checker = createResponseChecker(buildOpenApi(routes, { title: "Switchyard API", version: "1" }), routes);
  }
  return rec.checker;
}

/** Records one gateway answer (for helpers that do not use fetch). */
export function recordResponse(r: RecordedResponse): void {
  const rec = g[KEY];
  if (!rec) return;
  const res = checker(rec).check(r);
  if (res.kind === "unmatched") return;
  const key = `${res.route} ${r.status}`;
  rec.seen.set(key, (rec.seen.get(key) ?? 0) + 1);
  if (res.kind === "problem") {
    const p = `${res.route}: ${res.problem}`;
    rec.problems.set(p, (rec.problems.get(p) ?? 0) + 1);
  }
  rec.lines.push(
    JSON.stringify({
      method: r.method,
      route: res.route,
      status: r.status,
      contentType: r.contentType,
      body: r.body.length > 500 ? `${r.body.slice(0, 500)}…` : r.body,
      ...(res.kind === "problem" ? { problem: res.problem } : {}),
    }),
  );
}

/** The problems recorded so far, one line per distinct problem (with its count). */
export function recordedProblems(): string[] {
  const rec = g[KEY];
  return rec ? [...rec.problems].map(([p, n]) => `${p} (${n}x)`) : [];
}

function install(): void {
  if (g[KEY] || process.env["OPENAPI_RESPONSE_CHECK"] === "off") return;
  const rec: Recorder = { lines: [], problems: new Map(), seen: new Map(), pending: new Set() };
  g[KEY] = rec;
  const original = globalThis.fetch;
  globalThis.fetch = async function recordingFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const res = await original(input, init);
    if (!res.headers.has("x-request-id")) return res;
    // after a followed redirect the answer is the last URL's (a GET)
    const url = new URL(
      res.redirected ? res.url : typeof input === "string" || input instanceof URL ? input : input.url,
    );
    const method = res.redirected
      ? "GET"
      : (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const p = res
      .clone()
      .text()
      .then(
        (body) =>
          recordResponse({
            method,
            target: `${url.pathname}${url.search}`,
            status: res.status,
            contentType: res.headers.get("content-type") ?? "",
            body,
          }),
        () => undefined,
      )
      .finally(() => rec.pending.delete(p));
    rec.pending.add(p);
    return res;
  };
  // A root hook: mocha is loading spec files when this module is first imported.
  if (typeof after === "function") {
    after("every gateway answer matches the OpenAPI document", async function () {
      this.timeout(30_000);
      await Promise.race([Promise.allSettled([...rec.pending]), new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (rec.lines.length > 0) {
        const dir = path.join(__dirname, "..", "..", "var", "openapi-responses");
        mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}.jsonl`);
        writeFileSync(file, `${rec.lines.join("\n")}\n`);
      }
      const problems = recordedProblems();
      if (problems.length > 0)
        throw new Error(
          `${problems.length} gateway answer(s) do not match the OpenAPI document:\n  ${problems.join("\n  ")}`,
        );
    });
  }
}

install();
