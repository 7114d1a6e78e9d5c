/**
 * The notify job `trknotify` (I/O), one per `nearby`: pushes to the civilian through the
 * notifications domain (`notifications.send`, event `tracking.nearby`, whose own outbox retries
 * the push provider) and scores the encounter through `rewards.score`. Both take the meeting's
 * id as idempotency key (`trk-<meeting>`), so a job run again changes nothing. The job is
 * retried with backoff until its deadline, then dead-lettered (`{ns}.dlq.job.trknotify.<id>`).
 * The payload carries the officer's cell, never the officer's position.
 */
import type { ServiceBroker } from "moleculer";
import { Counter, type Registry } from "prom-client";
import type { DomainJob } from "../../node/domain";
import { ErrorCodes, RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import type { ProximityEvent } from "./proximity";

/** The job's name. */
export const NOTIFY_JOB = "trknotify";

/** What the job needs: the node's broker and what a `nearby` causes. */
export interface NotifyDeps {
  broker(): ServiceBroker | undefined;
  readonly push: boolean;
  readonly score: boolean;
  readonly radiusM: number;
  readonly outcomes: Counter;
}

/** The notifications' outcome counter (sent, failed, dlq). */
export function notifyCounter(registry: Registry): Counter {
  return new Counter({
    name: "switchyard_tracking_notifications_total",
    help: "Nearby notifications handed to the push and scoring actions: sent, failed (an attempt, retried), dlq (given up)",
    labelNames: ["outcome"],
    registers: [registry],
  });
}

function statusOf(err: unknown): number {
  if (typeof err !== "object" || err === null || !("code" in err)) return 0;
  const code = err.code;
  if (typeof code === "number") return code;
  return Object.entries(ErrorCodes).find(([k]) => k === code)?.[1] ?? 0;
}

async function call(b: ServiceBroker, action: string, params: object): Promise<unknown> {
  try {
    return await b.call(action, params);
  } catch (err) {
    const status = statusOf(err);
    if (status >= 400 && status < 500 && status !== 408 && status !== 429)
      throw new TerminalError(`${action} refused: ${errorMessage(err)}`);
    throw new RetryableError(`${action} failed: ${errorMessage(err)}`);
  }
}

const BACKOFF = { baseMs: 200, maxMs: 10_000 };

/** The notify job. */
export function notifyJob(): DomainJob<ProximityEvent, { pushed: boolean; scored: boolean }, NotifyDeps> {
  return {
    name: NOTIFY_JOB,
    concurrency: 64,
    timeoutMs: 15_000,
    backoff: BACKOFF,
    // one civilian's refusal says nothing of the others': no breaker
    breaker: { failures: Number.MAX_SAFE_INTEGER, openMs: 1 },
    async run(e, ctx, deps) {
      const b = deps.broker();
      if (!b) throw new RetryableError("tracking service not started on this node yet", 500);
      const id = `trk-${e.meetingId}`;
      try {
        if (deps.push)
          await call(b, "notifications.send", {
            event: "tracking.nearby",
            to: e.civilianUser,
            id,
            data: { cell: e.cell, radius: deps.radiusM },
          });
        if (deps.score)
          await call(b, "rewards.score", { id, kind: "encounter", from: e.civilianUser, to: e.officerUser });
        deps.outcomes.inc({ outcome: "sent" });
        return { pushed: deps.push, scored: deps.score };
      } catch (err) {
        deps.outcomes.inc({ outcome: "failed" });
        // the runtime dead-letters a final refusal, or a failure whose next try would pass the deadline
        if (err instanceof TerminalError || Date.now() + BACKOFF.maxMs >= ctx.deadline)
          deps.outcomes.inc({ outcome: "dlq" });
        throw err;
      }
    },
  };
}
