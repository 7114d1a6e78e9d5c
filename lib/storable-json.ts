/**
 * Will a parsed JSON value be stored as sent? Pure checks shared by every domain's intake: JSON
 * that would not round-trip (non-finite numbers such as 1e400, integers beyond 2^53, strings and
 * keys with lone UTF-16 surrogates, too deep nesting) and, for values stored in Postgres text or
 * jsonb, the NUL character (`\u0000`), which neither type can hold.
 */
import type { ErrorDetail } from "./errors";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` is not well-formed UTF-16 (it would not survive UTF-8 encoding). */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/** True when `s` contains U+0000, which Postgres text and jsonb refuse. */
export function hasNul(s: string): boolean {
  return s.includes("\u0000");
}

/** What {@link roundTripProblems} checks besides round-tripping. */
export interface StorableRules {
  /** Deepest nesting of objects and arrays allowed. */
  readonly maxDepth: number;
  /** Refuse U+0000 in strings and keys (the value goes to Postgres text or jsonb). Default false. */
  readonly refuseNul?: boolean;
}

/** JSON pointer of `key` under `path`. */
function pointer(path: string, key: string): string {
  return `${path}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
}

/** The problems of one string (a value or a key) at `path`. */
function stringProblems(
  s: string,
  path: string,
  what: "string" | "key",
  rules: StorableRules,
  out: ErrorDetail[],
): void {
  if (hasLoneSurrogate(s)) out.push({ path, message: `${what} contains a lone UTF-16 surrogate` });
  if (rules.refuseNul === true && hasNul(s))
    out.push({ path, message: `${what} contains the NUL character (\\u0000), which cannot be stored` });
}

/**
 * Problems of a JSON value that would not survive storage unchanged, each at its JSON pointer
 * under `base`: non-finite numbers, integers outside ±(2^53-1), strings and keys with lone
 * surrogates (and NUL with `refuseNul`), nesting deeper than `maxDepth`. Iterative (hostile
 * input cannot exhaust the stack); at most 20 problems. Empty when the value is storable.
 */
export function roundTripProblems(value: unknown, base: string, r: StorableRules): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const stack: Array<[unknown, string, number]> = [[value, base, 0]];
  while (stack.length > 0 && out.length < 20) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) out.push({ path, message: "number is out of range (not finite)" });
      else if (Number.isInteger(v) && !Number.isSafeInteger(v))
        out.push({ path, message: "integer beyond 2^53 loses precision: send it as a string" });
    } else if (typeof v === "string") {
      stringProblems(v, path, "string", r, out);
    } else if (typeof v === "object" && v !== null) {
      if (depth + 1 > r.maxDepth) {
        out.push({ path, message: `nesting deeper than ${r.maxDepth} levels` });
        continue;
      }
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}/${i}`, depth + 1]);
      } else {
        for (const [k, child] of Object.entries(v)) {
          const p = pointer(path, k);
          stringProblems(k, p, "key", r, out);
          stack.push([child, p, depth + 1]);
        }
      }
    }
  }
  return out;
}
