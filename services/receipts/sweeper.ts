/**
 * The sweeper: finds receipts stuck in flight (in Postgres, through a small partial index) and
 * nudges their actors.
 *   - RECEIVED for longer than `orphanAfterMs`: the record was stored but the submit message
 *     never reached the actor (the node died between the two publishes): resubmit it from the
 *     stored row (the actor ignores a second submit).
 *   - REGISTERING for longer than the callback wait: send `recheck`, so an actor whose callback
 *     was lost asks the service again, and one past its deadline fails.
 * Every node may run it: message ids (`submit-{id}-{window}`, `recheck-{id}-{window}`) make
 * concurrent sweeps send one message per receipt per window. The resubmit's id is never the
 * intake's (`submit-{id}`): a submit the cluster acknowledged and then lost with its stream's
 * replicas (seen on nats-server 2.9 after a server kill) can still sit in the duplicate window,
 * which would drop a resubmit under the same id for two minutes.
 */
import type { Logger } from "../../lib/logger";
import type { ActorRuntime } from "../../actors/types";
import { receipt, type ReceiptCommand } from "./receipt.actor";
import { errorMessage } from "../../lib/errors";
import type { ReceiptStore } from "./store";

/** Starts sweeping every `intervalMs`. */
export function startSweeper(opts: {
  store: ReceiptStore;
  runtime: ActorRuntime;
  logger: Logger;
  /** A callback awaited this long is overdue. */
  callbackWaitMs: number;
  /** A receipt RECEIVED for this long is an orphan (default 60 s). */
  orphanAfterMs?: number;
  /** Receipts older than the deadline plus a day are not looked at. */
  deadlineMs: number;
  intervalMs?: number;
  batch?: number;
}): { stop(): void; sweep(): Promise<{ resubmitted: number; rechecked: number }> } {
  const orphanAfterMs = opts.orphanAfterMs ?? 60_000;
  const intervalMs =
    opts.intervalMs ?? Math.max(250, Math.min(30_000, Math.floor(Math.min(opts.callbackWaitMs, orphanAfterMs) / 2)));
  const batch = opts.batch ?? 1000;
  const receipts = receipt.on(opts.runtime);
  let running = false;

  async function sweep(): Promise<{ resubmitted: number; rechecked: number }> {
    if (running) return { resubmitted: 0, rechecked: 0 };
    running = true;
    try {
      const now = Date.now();
      const since = new Date(now - opts.deadlineMs - 24 * 3600_000);
      const orphans = await opts.store.stalled("RECEIVED", new Date(now - orphanAfterMs), since, batch);
      let resubmitted = 0;
      const orphanWindow = Math.floor(now / orphanAfterMs);
      for (const id of orphans) {
        const receipt = await opts.store.submission(id);
        if (!receipt) continue;
        const msg: ReceiptCommand = { type: "submit", receipt };
        await receipts.send(id, msg, { id: `submit-${id}-${orphanWindow}` });
        resubmitted++;
      }
      // Under a backlog a submit may only be queued, not lost: the repeat is then ignored (the
      // actor takes one submit per receipt).
      if (resubmitted > 0)
        opts.logger.warn(
          { resubmitted, afterMs: orphanAfterMs },
          "re-sent the submit of receipts still RECEIVED (lost, or queued behind a backlog)",
        );
      const stalled = await opts.store.stalled("REGISTERING", new Date(now - opts.callbackWaitMs), since, batch);
      const window = Math.floor(now / opts.callbackWaitMs);
      const recheck: ReceiptCommand = { type: "recheck" };
      await Promise.all(stalled.map((id) => receipts.send(id, recheck, { id: `recheck-${id}-${window}` })));
      return { resubmitted, rechecked: stalled.length };
    } finally {
      running = false;
    }
  }

  const timer = setInterval(() => {
    sweep().catch((err: unknown) => opts.logger.warn({ err: errorMessage(err) }, "sweep failed"));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
