/**
 * The recheck sweeper: finds receipts that have been REGISTERING for longer than the callback
 * wait (in Postgres, through a small partial index) and sends each a `recheck` message, so an
 * actor whose callback was lost asks the service again, and one past its deadline fails. Every
 * node may run it: the message id `recheck-{id}-{window}` makes concurrent sweeps send one
 * message per receipt per window.
 */
import type { Logger } from "../lib/logger";
import type { ActorRuntime } from "../actors/types";
import { RECEIPT_KIND, type ReceiptCommand } from "../actors/receipt.actor";
import { errorMessage } from "../lib/errors";
import type { ReceiptStore } from "./store";

/** Starts sweeping every `intervalMs`; returns a stop function. */
export function startRecheckSweeper(opts: {
  store: ReceiptStore;
  runtime: ActorRuntime;
  logger: Logger;
  /** A callback awaited this long is overdue. */
  callbackWaitMs: number;
  /** Receipts older than the deadline plus this margin are not looked at. */
  deadlineMs: number;
  intervalMs?: number;
  batch?: number;
}): { stop(): void; sweep(): Promise<number> } {
  const intervalMs = opts.intervalMs ?? Math.max(250, Math.min(60_000, Math.floor(opts.callbackWaitMs / 2)));
  const batch = opts.batch ?? 1000;
  let running = false;

  async function sweep(): Promise<number> {
    if (running) return 0;
    running = true;
    try {
      const now = Date.now();
      const ids = await opts.store.stalled(new Date(now - opts.callbackWaitMs), new Date(now - opts.deadlineMs - 24 * 3600_000), batch);
      const window = Math.floor(now / opts.callbackWaitMs);
      const msg: ReceiptCommand = { type: "recheck" };
      await Promise.all(ids.map((id) => opts.runtime.send(RECEIPT_KIND, id, msg, { id: `recheck-${id}-${window}` })));
      return ids.length;
    } finally {
      running = false;
    }
  }

  const timer = setInterval(() => {
    sweep().catch((err: unknown) => opts.logger.warn({ err: errorMessage(err) }, "recheck sweep failed"));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
