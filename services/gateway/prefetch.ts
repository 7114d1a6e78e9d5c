/**
 * `?include=`: the related resources of an answer, read through the dispatcher (the caller's
 * authorization, scope and rate limit, per related read) and answered under
 * `included.<relation>`. Relations that point at the sessions domain's cached reads (e.g. a
 * cart's products through `GET /api/v1/sessions/products/{id}`) warm the session cache as they
 * are read, so the storefront's follow-up reads of the same resources hit it.
 */
import { idsAt, relatedPath, DEFAULT_INCLUDE_MAX, type IncludedItem } from "../../gateway/includes";
import type { RouteSpec } from "../../gateway/routes";
import type { Principal } from "./clients";
import type { Dispatch, SubResponse } from "./sub-request";

/** Counts one related read by relation and outcome. */
export type IncludeCounter = (relation: string, outcome: "ok" | "error") => void;

/**
 * The related resources of `body` (the answer of `spec`) for the relations `names`, read for
 * `principal`; `requestId` prefixes the related reads' ids. `answered` sees every related read.
 */
export async function includeRelated(
  dispatch: Dispatch,
  principal: Principal | undefined,
  spec: RouteSpec,
  names: readonly string[],
  body: unknown,
  requestId: string,
  count: IncludeCounter,
  answered?: (r: SubResponse, requestId: string, ms: number) => void,
): Promise<Record<string, IncludedItem[]>> {
  const out: Record<string, IncludedItem[]> = {};
  await Promise.all(
    names.map(async (name) => {
      const rel = spec.includes?.[name];
      if (!rel) return;
      const ids = idsAt(body, rel.from, rel.max ?? DEFAULT_INCLUDE_MAX);
      out[name] = await Promise.all(
        ids.map(async (id, k) => {
          const subId = `${requestId}.${name}.${k}`;
          const started = process.hrtime.bigint();
          const r = await dispatch(principal, { method: "GET", path: relatedPath(rel, id), requestId: subId });
          answered?.(r, subId, Number(process.hrtime.bigint() - started) / 1e6);
          count(name, r.status < 400 ? "ok" : "error");
          return { id, status: r.status, body: r.body };
        }),
      );
    }),
  );
  return out;
}
