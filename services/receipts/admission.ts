/**
 * Admission control of POST /receipts (pure): whether to refuse a new receipt, given how loaded
 * the node and the pipeline are. Two signals, checked in this order:
 *
 * - the node's event loop delay over `maxLagMs` in two windows in a row, and until it is back
 *   under half of it (lib/event-loop-lag.ts LagGate): its CPU is saturated, every request
 *   already waits that long before it is parsed, and accepting more would make every answer
 *   slower; refusing costs a fraction of accepting, so shedding keeps accepted receipts fast
 *   (Retry-After: 1, the overload passes quickly once it is shed);
 * - more than `maxBacklog` messages waiting in the receipt mailboxes and registration jobs:
 *   workers are far behind, and what is accepted now would wait minutes (Retry-After: 5).
 *
 * A limit of 0 turns its check off. Callbacks, reads and operator retries are never refused.
 */
import { AppError } from "../../lib/errors";

/** What the node measured (see actors/backlog.ts and lib/event-loop-lag.ts). */
export interface Load {
  /** The event loop delay while the node counts as overloaded (lib/event-loop-lag.ts LagGate), else undefined. */
  readonly overloadedLagMs: number | undefined;
  readonly backlog: number;
}

export interface AdmissionLimits {
  readonly maxLagMs: number;
  readonly maxBacklog: number;
}

/** The 503 to refuse a new receipt with, or undefined to accept it. */
export function admissionRefusal(load: Load, limits: AdmissionLimits): AppError | undefined {
  if (limits.maxLagMs > 0 && load.overloadedLagMs !== undefined) {
    return new AppError(
      "UNAVAILABLE",
      `this node is overloaded (event loop delay ${Math.round(load.overloadedLagMs)} ms, limit ${limits.maxLagMs} ms); retry later`,
      undefined,
      { "Retry-After": "1" },
    );
  }
  if (limits.maxBacklog > 0 && load.backlog > limits.maxBacklog) {
    return new AppError(
      "UNAVAILABLE",
      `receipts arrive faster than they are registered (${load.backlog} messages and registrations waiting, limit ${limits.maxBacklog}); retry later`,
      undefined,
      { "Retry-After": "5" },
    );
  }
  return undefined;
}
