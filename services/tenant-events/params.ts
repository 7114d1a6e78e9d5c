/**
 * The inputs of the events service's actions, parsed from what Moleculer hands over: the
 * gateway's shape (`{ params, query, body }`, already checked against the route's schemas) or
 * the flat shape of a broker call (the REPL, tests, other nodes). Pure; nothing here is cast.
 */
import { AppError } from "../../lib/errors";
import { checkTypeDefinition } from "./registry";
import type { TypeDefinition } from "./types-store";
import { isJsonObject } from "./model";

/** `params[key]` as an object, or an empty one. */
function part(params: unknown, key: "params" | "query" | "body"): Record<string, unknown> {
  const v = isJsonObject(params) ? params[key] : undefined;
  return isJsonObject(v) ? v : {};
}

/** The gateway's `part` when it carries `field`, else the flat params. */
function source(params: unknown, key: "params" | "query" | "body", field: string): Record<string, unknown> {
  const p = part(params, key);
  if (field in p) return p;
  return isJsonObject(params) ? params : {};
}

/** A number, or a string of one (query strings and REPL options); otherwise undefined. */
function numeric(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "") return Number(v);
  return undefined;
}

/** The event type name of `events.type` and `events.defineType` (path parameter or flat `name`). */
export function typeNameOf(params: unknown): string {
  const v = source(params, "params", "name")["name"];
  return typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
}

/**
 * The input of `events.defineType`: the name, and the definition from the body (HTTP) or from
 * the flat params (REPL). A schema that is not a JSON object is refused here, with the same
 * problems the type store would list (422 VALIDATION_ERROR).
 */
export function defineTypeInput(params: unknown): { name: string; def: TypeDefinition } {
  const name = typeNameOf(params);
  const body = part(params, "body");
  const from = "schema" in body ? body : isJsonObject(params) ? params : {};
  const schema = from["schema"];
  const description = from["description"];
  if (!isJsonObject(schema))
    throw new AppError("VALIDATION_ERROR", "invalid event type definition", checkTypeDefinition(name, schema));
  return { name, def: { schema, ...(typeof description === "string" ? { description } : {}) } };
}

/** The input of `events.dlqList` (query string or flat): one tenant, after a DLQ sequence, a page size. */
export function dlqListInput(params: unknown): { tenant?: string; afterSeq?: number; limit?: number } {
  const q =
    isJsonObject(params) && isJsonObject(params["query"]) ? params["query"] : isJsonObject(params) ? params : {};
  const tenant = q["tenant"];
  const after = numeric(q["after"]);
  const limit = numeric(q["limit"]);
  return {
    ...(typeof tenant === "string" && tenant !== "" ? { tenant } : {}),
    ...(after !== undefined ? { afterSeq: after } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}

/** The DLQ sequences of `events.dlqReplay` (body or flat `seqs`, one or a list); 422 when there is none. */
export function dlqReplayInput(params: unknown): number[] {
  const raw = source(params, "body", "seqs")["seqs"];
  const seqs = (Array.isArray(raw) ? raw : [raw]).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
  if (seqs.length === 0)
    throw new AppError("VALIDATION_ERROR", "seqs must list DLQ sequences", [
      { path: "/seqs", message: "at least one positive integer" },
    ]);
  return seqs;
}

/** The polling feed's query: the cursor to continue after and the page size (default 100). */
export function feedInput(params: unknown): { after: string | undefined; limit: number } {
  const q = part(params, "query");
  const after = q["after"];
  const limit = numeric(q["limit"]);
  return { after: typeof after === "string" ? after : undefined, limit: limit ?? 100 };
}

/** The tenants of `events.latency` (checked by the action's params schema). */
export function tenantsInput(params: unknown): string[] {
  const t = isJsonObject(params) ? params["tenants"] : undefined;
  return Array.isArray(t) ? t.filter((x): x is string => typeof x === "string") : [];
}
