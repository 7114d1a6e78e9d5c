/**
 * `POST /api/v1/batch`: up to 100 sub-requests in one, each run through the dispatcher with the
 * caller's own credentials, scopes and rate limit (one token per item), answered per item in
 * order. Items run at once up to GATEWAY_BATCH_CONCURRENCY; an item with references waits for
 * the items it refers to (gateway/batch.ts). Every item is an interaction of its own
 * (`batch: true`, request id `{batch request id}.{index}`).
 */
import { AppError } from "../../lib/errors";
import { errorBody, toHttpError } from "../../gateway/errors";
import {
  FailedDependency,
  itemIds,
  planBatch,
  resolveItem,
  type BatchItem,
  type BatchResult,
} from "../../gateway/batch";
import type { Interaction } from "../../gateway/interactions";
import type { Principal } from "./clients";
import type { Dispatch, SubResponse } from "./dispatch";

/** What a batch needs. */
export interface BatchDeps {
  readonly dispatch: Dispatch;
  readonly concurrency: number;
  /** Called once per item answered (interactions, metrics, canary windows). */
  readonly answered: (r: SubResponse, i: Omit<Interaction, "route" | "service" | "version" | "status">) => void;
}

/** Runs the batch `items` for `principal`; `requestId` is the batch request's id. */
export async function runBatch(
  deps: BatchDeps,
  principal: Principal | undefined,
  items: readonly BatchItem[],
  requestId: string,
): Promise<BatchResult[]> {
  const deps$ = planBatch(items);
  const ids = itemIds(items);
  const byRef = new Map<string, BatchResult>();
  const results: (BatchResult | undefined)[] = new Array(items.length);
  const done: Promise<void>[] = new Array(items.length);
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    if (running < deps.concurrency) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  const runItem = async (i: number): Promise<void> => {
    await Promise.all(deps$[i]!.map((j) => done[j]!));
    const id = ids[i]!;
    const subId = `${requestId}.${i}`;
    const at = new Date();
    const started = process.hrtime.bigint();
    let result: BatchResult;
    try {
      const item = resolveItem(items[i]!, byRef);
      await slot();
      let r: SubResponse;
      try {
        r = await deps.dispatch(principal, { ...item, requestId: subId });
      } finally {
        release();
      }
      result = {
        id,
        status: r.status,
        ...(Object.keys(r.headers).length > 0 ? { headers: r.headers } : {}),
        body: r.body,
      };
      deps.answered(r, {
        at: at.toISOString(),
        method: item.method,
        client: principal?.client.id ?? "anonymous",
        latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
        requestId: subId,
        batch: true,
      });
    } catch (err) {
      const e = toHttpError(err instanceof FailedDependency ? new AppError("FAILED_DEPENDENCY", err.message) : err);
      result = { id, status: e.status, body: errorBody(e, subId) };
    }
    results[i] = result;
    byRef.set(id, result);
    // an index names its item unless some item took that index as its id
    if (!ids.includes(String(i))) byRef.set(String(i), result);
  };

  for (let i = 0; i < items.length; i++) done[i] = runItem(i);
  await Promise.all(done);
  return results.map((r, i) => r ?? { id: ids[i]!, status: 500, body: null });
}
