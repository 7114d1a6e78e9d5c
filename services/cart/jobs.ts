/**
 * The cart's job: `cartplace` hands a checked-out cart to the orders domain through its action
 * `orders.place` (idempotent per order id, so a retried or repeated job stores one order).
 * Retried with backoff until stored; a refusal (4xx from the action) is final and reopens the cart.
 */
import type { ServiceBroker } from "moleculer";
import type { DomainJob } from "../../node/domain";
import { ErrorCodes, RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import { placeOrderJob, type PlaceOrderData } from "./cart.actor";

/** What the cart's jobs need: the node's broker (calls go out as the node). */
export interface CartJobDeps {
  broker(): ServiceBroker | undefined;
}

/** True when `err` is a refusal that retrying will not change. */
export function isRefusal(err: unknown): boolean {
  if (typeof err !== "object" || err === null || !("code" in err)) return false;
  const code = err.code;
  // an AppError locally, or its serialised form from another node: the code names the status
  const status = typeof code === "number" ? code : (Object.entries(ErrorCodes).find(([k]) => k === code)?.[1] ?? 0);
  return status >= 400 && status < 500 && status !== 429 && status !== 408;
}

/** The cart's jobs. */
export const cartJobs: readonly DomainJob<PlaceOrderData, { orderId: string }, CartJobDeps>[] = [
  {
    name: placeOrderJob.name,
    concurrency: 128,
    timeoutMs: 10_000,
    backoff: { baseMs: 100, maxMs: 10_000 },
    async run(data, _ctx, deps) {
      const b = deps.broker();
      if (!b) throw new RetryableError("cart service not started on this node yet", 500);
      try {
        await b.call("orders.place", data);
      } catch (err) {
        if (isRefusal(err)) throw new TerminalError(`orders refused the order: ${errorMessage(err)}`);
        throw new RetryableError(`orders.place failed: ${errorMessage(err)}`);
      }
      return { orderId: data.orderId };
    },
  },
];
