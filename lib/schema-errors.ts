/**
 * Ajv's errors, made readable for the one error shape: every problem at once, one line per
 * problem, without the noise of alternatives. Ajv reports a failed `anyOf` / `oneOf` as one
 * error per branch ("must be string", "must be integer") plus "must match a schema in anyOf";
 * here they become one line ("must be string, or be integer"). An `enum` lists its allowed
 * values ("must be one of: a, b, c"), so a caller sees what would have been accepted.
 */
import type { ErrorObject } from "ajv/dist/2020";
import type { ErrorDetail } from "./errors";

/** Most allowed values an enum message lists (longer enums say how many there are). */
const MAX_LISTED = 30;

/** The message of one (already collapsed) error. */
export function schemaErrorMessage(e: ErrorObject): string {
  if (e.keyword === "enum") {
    const allowed = (e.params as { allowedValues?: unknown }).allowedValues;
    if (Array.isArray(allowed)) {
      const shown = allowed.slice(0, MAX_LISTED).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
      return `must be one of: ${shown.join(", ")}${allowed.length > MAX_LISTED ? `, ... (${allowed.length} values)` : ""}`;
    }
  }
  return e.message ?? "is invalid";
}

/**
 * The errors with every failed `anyOf` / `oneOf` folded into one error carrying its branches'
 * messages; branch errors are dropped. Order is kept (first error of each place first).
 */
export function collapseAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  const alternatives = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  if (alternatives.length === 0) return [...errors];
  const branchOf = (e: ErrorObject): ErrorObject | undefined =>
    alternatives.find(
      (a) => a !== e && e.instancePath.startsWith(a.instancePath) && e.schemaPath.startsWith(`${a.schemaPath}/`),
    );
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (branchOf(e)) continue;
    if (!alternatives.includes(e)) {
      out.push(e);
      continue;
    }
    const branches = errors.filter((b) => b !== e && branchOf(b) === e).map(schemaErrorMessage);
    const unique = [...new Set(branches)].map((m, i) => (i === 0 ? m : m.replace(/^must /, "")));
    out.push({ ...e, message: unique.length > 0 ? unique.join(", or ") : "matches none of the allowed forms" });
  }
  return out;
}

/**
 * Ajv's errors as details with JSON pointers under `base` (e.g. "/body"): alternatives folded,
 * enums listed, `required` and `additionalProperties` pointing at the property. At most `max`.
 */
export function schemaErrorDetails(
  errors: readonly ErrorObject[] | null | undefined,
  base: string,
  max = 100,
): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const e of collapseAlternatives(errors ?? [])) {
    if (out.length >= max) break;
    let path = `${base}${e.instancePath}`;
    if (e.keyword === "additionalProperties")
      path += `/${String((e.params as { additionalProperty?: string }).additionalProperty)}`;
    if (e.keyword === "required") path += `/${String((e.params as { missingProperty?: string }).missingProperty)}`;
    const d = { path: path || "/", message: schemaErrorMessage(e) };
    if (!out.some((o) => o.path === d.path && o.message === d.message)) out.push(d);
  }
  return out;
}
