/**
 * Checks one HTTP answer of the gateway against the OpenAPI document: the status is declared
 * for the route that answered, the content type is one the status declares, and a JSON body
 * matches the declared schema. Pure (no I/O): the recorder (openapi-recorder.ts) feeds it every
 * answer the tests receive, and a unit test feeds it made-up answers to prove it bites.
 */
import type { ValidateFunction } from "ajv/dist/2020";
import { createAjv } from "../../lib/ajv";
import { createRouter, type Router } from "../../gateway/router";
import type { OpenApiDocument } from "../../gateway/openapi";
import type { RouteSpec } from "../../gateway/routes";

/** One answer as a test received it. */
export interface RecordedResponse {
  readonly method: string;
  /** Path and query, e.g. `/api/v1/receipts?limit=2`. */
  readonly target: string;
  readonly status: number;
  /** The Content-Type header ("" when absent). */
  readonly contentType: string;
  readonly body: string;
}

/** What the checker says of one answer. */
export type CheckResult =
  | { readonly kind: "unmatched" }
  | { readonly kind: "ok"; readonly route: string }
  | { readonly kind: "problem"; readonly route: string; readonly problem: string };

/** Checks answers against one document. */
export interface ResponseChecker {
  check(r: RecordedResponse): CheckResult;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Follows local `#/...` references of `doc` (inlines them, recursively) so ajv sees one schema. */
function inline(doc: OpenApiDocument, v: unknown, depth = 0): unknown {
  if (depth > 40) return v;
  if (Array.isArray(v)) return v.map((x) => inline(doc, x, depth + 1));
  if (!isObj(v)) return v;
  const ref = v["$ref"];
  if (typeof ref === "string" && ref.startsWith("#/")) {
    let t: unknown = doc;
    for (const k of ref.slice(2).split("/")) t = isObj(t) ? t[k.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
    return inline(doc, t, depth + 1);
  }
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) out[k] = inline(doc, x, depth + 1);
  return out;
}

function mediaType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

/**
 * A checker for `doc`, whose operations are those of `routes` (the route table the document
 * was built from; it matches request targets to route templates exactly as the gateway does).
 */
export function createResponseChecker(doc: OpenApiDocument, routes: readonly RouteSpec[]): ResponseChecker {
  const router: Router = createRouter(routes);
  // OpenAPI keywords (example, deprecated, ...) are not JSON Schema: not strict.
  const ajv = createAjv({ trust: "trusted", strict: false, allErrors: true });
  const compiled = new Map<string, ValidateFunction>();

  function validator(key: string, schema: unknown): ValidateFunction {
    let v = compiled.get(key);
    if (!v) {
      v = ajv.compile(isObj(schema) ? schema : {});
      compiled.set(key, v);
    }
    return v;
  }

  return {
    check(r) {
      const m = router.match(r.method, r.target);
      if (m.kind !== "found") return { kind: "unmatched" };
      const route = `${m.spec.method} ${m.spec.path}`;
      const op = doc.paths[m.spec.path]?.[m.spec.method.toLowerCase()];
      if (!isObj(op)) return { kind: "problem", route, problem: "the route is not in the document" };
      const responses = isObj(op["responses"]) ? op["responses"] : {};
      const declared = responses[String(r.status)];
      if (declared === undefined)
        return {
          kind: "problem",
          route,
          problem: `status ${r.status} is not declared (declared: ${Object.keys(responses).join(", ")})`,
        };
      const resp = inline(doc, declared);
      const content = isObj(resp) && isObj(resp["content"]) ? resp["content"] : undefined;
      if (!content || Object.keys(content).length === 0) {
        return r.body.length === 0
          ? { kind: "ok", route }
          : { kind: "problem", route, problem: `status ${r.status} declares no body, got ${r.body.length} bytes` };
      }
      const mt = mediaType(r.contentType);
      const media = Object.keys(content).find((k) => mediaType(k) === mt || k === "*/*");
      if (media === undefined)
        return {
          kind: "problem",
          route,
          problem: `status ${r.status}: content type ${JSON.stringify(r.contentType)} not declared (${Object.keys(content).join(", ")})`,
        };
      const entry = content[media];
      const schema = isObj(entry) ? entry["schema"] : undefined;
      if (!isObj(schema)) return { kind: "ok", route };
      let value: unknown = r.body;
      if (mt === "application/json" || mt.endsWith("+json")) {
        try {
          value = JSON.parse(r.body);
        } catch {
          return { kind: "problem", route, problem: `status ${r.status}: the body is not JSON` };
        }
      }
      const validate = validator(`${route} ${r.status} ${media}`, schema);
      if (validate(value)) return { kind: "ok", route };
      const errs = (validate.errors ?? [])
        .slice(0, 5)
        .map((e) => `${e.instancePath || "/"} ${e.message ?? e.keyword}`)
        .join("; ");
      return { kind: "problem", route, problem: `status ${r.status}: the body does not match the schema: ${errs}` };
    },
  };
}
