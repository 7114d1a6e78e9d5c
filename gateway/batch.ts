/**
 * Batches (`POST /api/v1/batch`), the pure parts: the request and answer schemas, the plan of
 * an item's dependencies and the substitution of references.
 *
 * A later item may use an earlier item's answer with a reference `${items.<ref>.<field>...}`:
 * `<ref>` is the earlier item's `id` or its index, the fields start at `status`, `headers` or
 * `body`, array elements by index, e.g. `${items.cart.body.id}` or `${items.0.body.items.0.qty}`.
 * A string that is exactly one reference takes the referenced value as it is (a number stays a
 * number); a reference inside a longer string is replaced by its text. In `path` every
 * substituted value is percent-encoded, so a reference never adds a segment or a query. An item
 * referring to a later item, to itself or to an unknown id is refused (400) before anything
 * runs; an item whose dependency failed (status >= 400) or lacks the field is answered 424
 * FAILED_DEPENDENCY without running.
 */
import { AppError } from "../lib/errors";
import { HTTP_METHODS, type HttpMethod, type JsonSchema } from "./routes";

/** Most items in one batch. */
export const MAX_BATCH_ITEMS = 100;

/** One sub-request. */
export interface BatchItem {
  readonly id?: string;
  readonly method: HttpMethod;
  /** Path and query, e.g. `/api/v1/carts/c1?include=products`. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One sub-answer, in the order of the items. */
export interface BatchResult {
  readonly id: string;
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const ITEM_ID = { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } as const;

/** JSON Schema of a batch request. */
export const BATCH_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  required: ["items"],
  additionalProperties: false,
  properties: {
    items: {
      type: "array",
      minItems: 1,
      maxItems: MAX_BATCH_ITEMS,
      items: {
        type: "object",
        required: ["method", "path"],
        additionalProperties: false,
        properties: {
          id: { ...ITEM_ID, description: "Default: the item's index" },
          method: { type: "string", enum: [...HTTP_METHODS] },
          path: { type: "string", pattern: "^/", maxLength: 2048, description: "Path and query" },
          body: { description: "A JSON body (batch items are JSON only)" },
          headers: {
            type: "object",
            maxProperties: 20,
            additionalProperties: { type: "string", maxLength: 1024 },
            description:
              "Request headers the route reads (e.g. Idempotency-Key); Authorization is never taken from here",
          },
        },
      },
    },
  },
};

/** JSON Schema of a batch answer. */
export const BATCH_RESPONSE_SCHEMA: JsonSchema = {
  type: "object",
  required: ["items"],
  properties: {
    items: {
      type: "array",
      items: {
        type: "object",
        required: ["id", "status", "body"],
        properties: {
          id: { type: "string" },
          status: { type: "integer" },
          headers: { type: "object", additionalProperties: { type: "string" } },
          body: { description: "The route's answer, or the uniform error shape" },
        },
      },
    },
  },
};

const REF = /\$\{items\.([A-Za-z0-9_-]{1,64})((?:\.[A-Za-z0-9_-]+)+)\}/g;
const WHOLE_REF = /^\$\{items\.([A-Za-z0-9_-]{1,64})((?:\.[A-Za-z0-9_-]+)+)\}$/;

/** The ids of `items` (their `id`, else their index), in order. */
export function itemIds(items: readonly BatchItem[]): string[] {
  return items.map((it, i) => it.id ?? String(i));
}

function refsIn(v: unknown, out: Set<string>): void {
  if (typeof v === "string") {
    for (const m of v.matchAll(REF)) out.add(m[1]!);
  } else if (Array.isArray(v)) {
    for (const x of v) refsIn(x, out);
  } else if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) refsIn(x, out);
  }
}

/**
 * The earlier items each item depends on (indexes), or 400 BAD_REQUEST naming every item that
 * repeats an id or refers to itself, a later item or an unknown one.
 */
export function planBatch(items: readonly BatchItem[]): number[][] {
  const ids = itemIds(items);
  const problems: { path: string; message: string }[] = [];
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    if (seen.has(id)) problems.push({ path: `/items/${i}/id`, message: `id ${id} is used by item ${seen.get(id)}` });
    else seen.set(id, i);
  });
  const indexOf = (ref: string): number | undefined =>
    seen.get(ref) ?? (/^[0-9]{1,3}$/.test(ref) && Number(ref) < items.length ? Number(ref) : undefined);
  const deps = items.map((it, i) => {
    const refs = new Set<string>();
    refsIn([it.path, it.body, it.headers], refs);
    const out: number[] = [];
    for (const ref of refs) {
      const j = indexOf(ref);
      if (j === undefined) problems.push({ path: `/items/${i}`, message: `refers to unknown item ${ref}` });
      else if (j >= i) problems.push({ path: `/items/${i}`, message: `refers to item ${ref}, which is not earlier` });
      else if (!out.includes(j)) out.push(j);
    }
    return out;
  });
  if (problems.length > 0) throw new AppError("BAD_REQUEST", "invalid batch references", problems.slice(0, 100));
  return deps;
}

/** Why a reference could not be substituted. */
export class FailedDependency extends Error {}

function lookup(ref: string, fields: string, results: ReadonlyMap<string, BatchResult>): unknown {
  const r = results.get(ref);
  if (!r) throw new FailedDependency(`item ${ref} has no answer`);
  if (r.status >= 400) throw new FailedDependency(`item ${ref} failed with status ${r.status}`);
  let v: unknown = r;
  for (const f of fields.slice(1).split(".")) {
    if (typeof v !== "object" || v === null || !Object.prototype.hasOwnProperty.call(v, f))
      throw new FailedDependency(`item ${ref} has no ${fields.slice(1)}`);
    v = (v as Record<string, unknown>)[f];
  }
  if (v === undefined) throw new FailedDependency(`item ${ref} has no ${fields.slice(1)}`);
  return v;
}

const text = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

function substitute(v: unknown, results: ReadonlyMap<string, BatchResult>, encode: boolean): unknown {
  if (typeof v === "string") {
    const whole = WHOLE_REF.exec(v);
    if (whole && !encode) return lookup(whole[1]!, whole[2]!, results);
    return v.replace(REF, (_m, ref: string, fields: string) => {
      const t = text(lookup(ref, fields, results));
      return encode ? encodeURIComponent(t) : t;
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, results, encode));
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, results, encode)]));
  return v;
}

/**
 * `item` with its references replaced by the answers in `results` (by id and by index);
 * throws {@link FailedDependency} when one failed or lacks the field.
 */
export function resolveItem(item: BatchItem, results: ReadonlyMap<string, BatchResult>): BatchItem {
  const path = substitute(item.path, results, true) as string;
  const headers = item.headers
    ? Object.fromEntries(Object.entries(item.headers).map(([k, v]) => [k, text(substitute(v, results, false))]))
    : undefined;
  return {
    ...item,
    path,
    ...(item.body !== undefined ? { body: substitute(item.body, results, false) } : {}),
    ...(headers ? { headers } : {}),
  };
}
