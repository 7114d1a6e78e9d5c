/**
 * The order's jobs: each calls one action of another domain by name, as this node, and hands
 * the answer back to the order's mailbox. Refusals (4xx) are final (the order compensates);
 * anything else is retried with backoff until the job's deadline.
 *
 *   ordreserve → catalog.reserve     ordcommit → catalog.commit     ordrelease → catalog.release
 *   ordpay     → payments.authorize  ordsync   → payments.status    ordcapture → payments.capture
 *   ordrefund  → payments.refund     ordvoid   → payments.cancel    ordnotify  → notifications.send
 */
import type { ServiceBroker } from "moleculer";
import type { DomainJob } from "../../node/domain";
import { ErrorCodes, RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import { ORDER_JOBS } from "./order.actor";

/** What the order's jobs need: the node's broker. */
export interface OrderJobDeps {
  broker(): ServiceBroker | undefined;
}

/** The HTTP-like status of an error thrown by a Moleculer call (0 when it has none). */
export function statusOf(err: unknown): number {
  if (typeof err !== "object" || err === null || !("code" in err)) return 0;
  const code = err.code;
  if (typeof code === "number") return code;
  return Object.entries(ErrorCodes).find(([k]) => k === code)?.[1] ?? 0;
}

/** A job that calls `action` with its data (mapped by `params`) and answers what it answers. */
function actionJob<D extends object, R>(
  ref: { readonly name: string },
  action: string,
  opts: { concurrency?: number; timeoutMs?: number; params?: (d: D) => object } = {},
): DomainJob<D, R, OrderJobDeps> {
  return {
    name: ref.name,
    concurrency: opts.concurrency ?? 128,
    timeoutMs: opts.timeoutMs ?? 15_000,
    backoff: { baseMs: 200, maxMs: 15_000 },
    // a down provider fails the calls of many orders: no breaker here, each order keeps its backoff
    breaker: { failures: Number.MAX_SAFE_INTEGER, openMs: 1 },
    async run(data, _ctx, deps) {
      const b = deps.broker();
      if (!b) throw new RetryableError("orders service not started on this node yet", 500);
      try {
        return await b.call<R, object>(action, opts.params ? opts.params(data) : { ...data });
      } catch (err) {
        const status = statusOf(err);
        if (status >= 400 && status < 500 && status !== 408 && status !== 429)
          throw new TerminalError(`${action} refused: ${errorMessage(err)}`);
        throw new RetryableError(`${action} failed: ${errorMessage(err)}`);
      }
    },
  };
}

/** Builds the order jobs; payment calls name `notify`, the action the hub reports payment events to. */
export function orderJobs(notifyAction: string) {
  return [
    // The catalogue's and the hub's work is Postgres statements (the node's pool queues them).
    // These run as local jobs: beyond concurrency x 8 waiting runs a local job goes to the jobs
    // stream (job and result messages), so the slots are sized for a burst of checkouts.
    actionJob(ORDER_JOBS.reserve, "catalog.reserve", { concurrency: 64 }),
    actionJob(ORDER_JOBS.commit, "catalog.commit", { concurrency: 64 }),
    actionJob(ORDER_JOBS.release, "catalog.release", { concurrency: 4 }),
    actionJob<{ paymentId: string; orderId: string; amount: number; currency: string; buyer: string }, unknown>(
      ORDER_JOBS.pay,
      "payments.authorize",
      {
        timeoutMs: 20_000,
        concurrency: 64,
        params: (d) => ({
          paymentId: d.paymentId,
          amount: d.amount,
          currency: d.currency,
          reference: d.orderId,
          customer: d.buyer,
          notify: notifyAction,
        }),
      },
    ),
    actionJob(ORDER_JOBS.sync, "payments.status", { concurrency: 8 }),
    actionJob(ORDER_JOBS.capture, "payments.capture", { timeoutMs: 20_000, concurrency: 64 }),
    actionJob(ORDER_JOBS.refund, "payments.refund", { timeoutMs: 20_000, concurrency: 8 }),
    actionJob(ORDER_JOBS.void, "payments.cancel", { timeoutMs: 20_000, concurrency: 8 }),
    actionJob(ORDER_JOBS.notify, "notifications.send", { concurrency: 64 }),
  ];
}
