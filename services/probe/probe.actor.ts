/**
 * The probe actor: a small built-in kind that operators and tests use to check the runtime end
 * to end (order, folds, poison handling, effects). Each message carries a per-key counter `n`;
 * the state keeps the count, the last `n`, order violations and a digest that folds every `n`
 * in the order handled, so a test can recompute the expected digest from what it published.
 */
import { defineKind } from "../../actors/refs";
import { TerminalError } from "../../lib/errors";

/** A message to a probe. */
export interface ProbeMessage {
  /** Per-key counter, 0, 1, 2, ... in publish order. */
  readonly n: number;
  /** Optional payload (benchmarks send 2 KB here); not kept in state. */
  readonly pad?: string;
  /** The handler throws on this message every time (to exercise retries and the DLQ). */
  readonly poison?: boolean;
  /** Forward `{ n }` to another probe (to exercise effects). */
  readonly forwardTo?: string;
  /** The probe that forwarded this message, if any. */
  readonly from?: string;
}

/** A probe's state. */
export interface ProbeState {
  readonly count: number;
  readonly last: number;
  readonly violations: number;
  readonly digest: number;
  /** When the last message was published (ms since the epoch). */
  readonly lastPublishedAt: number;
}

/** Folds `n` into a digest (order-sensitive, 32-bit). */
export function foldDigest(digest: number, n: number): number {
  return (Math.imul(digest, 31) + n + 1) >>> 0;
}

/** The probe kind's typed reference: `probe.on(runtime).send(key, { n })`, `probe.send(...)` as an effect. */
export const probe = defineKind<ProbeState, ProbeMessage>("probe");

/** The probe kind. */
export const probeKind = probe.implement({
  initialState: () => ({ count: 0, last: -1, violations: 0, digest: 0, lastPublishedAt: 0 }),
  handle(state, msg) {
    const m = msg.data;
    if (typeof m !== "object" || m === null || typeof m.n !== "number" || !Number.isInteger(m.n)) {
      throw new TerminalError("probe message needs an integer n");
    }
    if (m.poison) throw new Error(`poison message n=${m.n}`);
    const next: ProbeState = {
      count: state.count + 1,
      last: m.n,
      violations: state.violations + (m.n === state.last + 1 ? 0 : 1),
      digest: foldDigest(state.digest, m.n),
      lastPublishedAt: msg.publishedAt,
    };
    return {
      state: next,
      effects: m.forwardTo ? [probe.send(m.forwardTo, { n: m.n, from: msg.key })] : [],
    };
  },
  retry: { maxAttempts: 3, backoffMs: 50, maxBackoffMs: 500 },
  // operators read a probe's last revisions and their diffs (the console's actor page)
  stateHistory: 16,
});
