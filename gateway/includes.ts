/**
 * Prefetching with `?include=`: a route declares the relations of its resource
 * (`RouteSpec.includes`), the gateway fetches the related resources through its own pipeline
 * (the caller's authorization, scopes and rate limit, per related resource) and answers them
 * under `included.<name>` next to the resource. Pure parts only: the route table rewrite that
 * documents and admits `include`, the parsing of its value and the extraction of related ids.
 */
import { AppError } from "../lib/errors";
import { pathParamNames, routeKey, type IncludeSpec, type JsonSchema, type RouteSpec } from "./routes";

/** The query parameter. */
export const INCLUDE_PARAM = "include";

/** Default and largest number of related resources per relation. */
export const DEFAULT_INCLUDE_MAX = 20;

/** One related resource as answered under `included.<name>`: its id, the status of its read and the body. */
export interface IncludedItem {
  readonly id: string;
  readonly status: number;
  readonly body: unknown;
}

/** JSON Schema of `included` (status 200 bodies are the related route's resource, others the error shape). */
export const INCLUDED_SCHEMA: JsonSchema = {
  type: "object",
  description: "Related resources asked for with ?include=, by relation name",
  additionalProperties: {
    type: "array",
    items: {
      type: "object",
      required: ["id", "status", "body"],
      properties: { id: { type: "string" }, status: { type: "integer" }, body: {} },
    },
  },
};

const NAME = "[a-z][A-Za-z0-9]{0,31}";

/**
 * The route table with `include` admitted and documented on every route that declares
 * relations: a query parameter (names listed), and `included` in its 2xx bodies.
 */
export function withIncludes(routes: readonly RouteSpec[]): RouteSpec[] {
  return routes.map((r) => {
    const inc = r.includes;
    if (!inc || Object.keys(inc).length === 0) return r;
    const names = Object.keys(inc);
    const param: JsonSchema = {
      type: "string",
      pattern: `^${NAME}(,${NAME})*$`,
      description: `Related resources to answer with this one, comma-separated: ${names
        .map((n) => `${n} (${inc[n]!.description})`)
        .join("; ")}`,
    };
    const query: JsonSchema = r.query
      ? {
          ...r.query,
          properties: { ...((r.query["properties"] ?? {}) as Record<string, unknown>), [INCLUDE_PARAM]: param },
        }
      : { type: "object", properties: { [INCLUDE_PARAM]: param } };
    const responses: Record<number, RouteSpec["responses"][number]> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      const s = Number(status);
      const schema = resp.schema;
      responses[s] =
        s >= 200 && s < 300 && schema && (schema["type"] === "object" || schema["properties"] !== undefined)
          ? {
              ...resp,
              schema: {
                ...schema,
                properties: { ...((schema["properties"] ?? {}) as Record<string, unknown>), included: INCLUDED_SCHEMA },
              },
            }
          : resp;
    }
    return { ...r, query, responses };
  });
}

/**
 * Problems of the relations in a route table (one line each): the related route must exist, be
 * a GET with exactly one path parameter, and the pointer must be a JSON pointer.
 */
export function checkIncludes(routes: readonly RouteSpec[]): string[] {
  const byKey = new Map(routes.map((r) => [routeKey(r), r]));
  const problems: string[] = [];
  for (const r of routes) {
    for (const [name, spec] of Object.entries(r.includes ?? {})) {
      const at = `${routeKey(r)} include ${name}`;
      if (!new RegExp(`^${NAME}$`).test(name)) problems.push(`${at}: bad relation name`);
      const target = byKey.get(spec.route);
      if (!target) problems.push(`${at}: no route ${spec.route}`);
      else if (target.method !== "GET" || pathParamNames(target.path).length !== 1)
        problems.push(`${at}: ${spec.route} is not a GET with one path parameter`);
      if (!spec.from.startsWith("/")) problems.push(`${at}: "from" is not a JSON pointer`);
    }
  }
  return problems;
}

/** The relation names asked for in `value` (a validated comma list); 400 for an unknown one. */
export function parseInclude(value: unknown, spec: RouteSpec): string[] {
  if (value === undefined || value === "") return [];
  const names = [...new Set(String(value).split(","))];
  const known = Object.keys(spec.includes ?? {});
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new AppError("INVALID_PARAMETER", "invalid query parameter", [
      {
        path: `/query/${INCLUDE_PARAM}`,
        message: `unknown relation ${unknown.join(", ")}; this route includes ${known.join(", ") || "nothing"}`,
      },
    ]);
  return names;
}

/** The string ids at `pointer` in `doc` (`*` segments fan out over arrays), deduplicated, at most `max`. */
export function idsAt(doc: unknown, pointer: string, max = DEFAULT_INCLUDE_MAX): string[] {
  const segments = pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  let current: unknown[] = [doc];
  for (const seg of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if (typeof v !== "object" || v === null) continue;
      if (seg === "*" && Array.isArray(v)) next.push(...(v as unknown[]));
      else if (Object.prototype.hasOwnProperty.call(v, seg)) next.push((v as Record<string, unknown>)[seg]);
    }
    current = next;
  }
  const out: string[] = [];
  for (const v of current) {
    if (typeof v === "string" && v !== "" && !out.includes(v)) out.push(v);
    if (out.length >= Math.min(max, DEFAULT_INCLUDE_MAX * 5)) break;
  }
  return out;
}

/** The path of `spec.route` for related id `id` (percent-encoded). */
export function relatedPath(spec: IncludeSpec, id: string): string {
  const path = spec.route.slice(spec.route.indexOf(" ") + 1);
  return path.replace(/\{[A-Za-z][A-Za-z0-9]*\}/, encodeURIComponent(id));
}
