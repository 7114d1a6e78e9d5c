/**
 * The one pagination scheme of the HTTP API: a list takes `cursor` (opaque: pass back the
 * `nextCursor` of the previous page) and `limit`, and answers `{ items, nextCursor }`, where
 * `nextCursor` is null once there is nothing more (a polling feed, which never ends, always
 * answers one). Older names (`after` in, `next` / `cursor` out) keep working for one release
 * and are marked `deprecated` in the OpenAPI document.
 */
import type { JsonSchema } from "./routes";

/** The query properties `cursor` and its deprecated alias `after` (whose schema may differ). */
export function cursorQuery(
  cursor: JsonSchema,
  after: JsonSchema = cursor,
): { readonly cursor: JsonSchema; readonly after: JsonSchema } {
  return {
    cursor: { ...cursor, description: "Continue from here: the `nextCursor` of the previous page" },
    after: {
      ...after,
      deprecated: true,
      description: "Deprecated (removed in the next release): the old name of `cursor`",
    },
  };
}

/** A cursor made of a sequence number (what DLQs and event logs page by). */
export const SEQ_CURSOR: JsonSchema = { type: "string", pattern: "^[0-9]{1,15}$", maxLength: 15 };

/** The cursor a list query asks for: `cursor`, else the deprecated `after`; undefined for the first page. */
export function cursorOf(query: { readonly cursor?: unknown; readonly after?: unknown }): string | undefined {
  for (const v of [query.cursor, query.after]) {
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

/** A sequence cursor as a number (0, the start, when absent). */
export function seqCursorOf(query: { readonly cursor?: unknown; readonly after?: unknown }): number {
  const c = cursorOf(query);
  const n = c === undefined ? 0 : Number(c);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * The `nextCursor` of a page of `items` paged by sequence: the last item's sequence when the
 * page is full (there may be more), else null.
 */
export function nextSeqCursor(items: readonly { readonly seq: number | null }[], limit: number): string | null {
  const last = items.at(-1);
  return items.length >= limit && last && last.seq !== null ? String(last.seq) : null;
}

/** The query properties of a list paged by an integer id: `cursor` and the deprecated `old` name. */
export function intCursorQuery(old: string): Record<string, JsonSchema> {
  return {
    cursor: { ...SEQ_CURSOR, description: "Continue from here: the `nextCursor` of the previous page" },
    [old]: {
      type: "integer",
      minimum: 1,
      deprecated: true,
      description: "Deprecated (removed in the next release): the old name of `cursor`",
    },
  };
}

/** An integer id cursor from `cursor`, else the deprecated name's value; undefined on the first page. */
export function intCursorOf(cursor: unknown, old: unknown): number | undefined {
  const v = typeof cursor === "string" && cursor !== "" ? Number(cursor) : old;
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** The `nextCursor` property of a page answered with the older `next`. */
export const NEXT_CURSOR: JsonSchema = {
  type: ["string", "null"],
  description: "Pass as `cursor` for the next page; null on the last",
};

/** A page answered under the older name `next`, also under the one scheme (`nextCursor`). */
export function withNextCursor<T extends { readonly next: string | number | null }>(
  page: T,
): T & { readonly nextCursor: string | null } {
  return { ...page, nextCursor: page.next === null ? null : String(page.next) };
}
