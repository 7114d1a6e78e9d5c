/**
 * How long ready work waits for this process's CPU: the event loop's delay (p99 over short
 * windows), read with `perf_hooks.monitorEventLoopDelay`. When a node is CPU-saturated every
 * request waits this long before it is even parsed, so intake uses it to shed load: refusing a
 * new request costs a fraction of accepting it, which keeps the latency of what is accepted
 * bounded instead of letting every request queue behind the overload.
 *
 * The delay is a property of the process, not of a node: one gauge per process
 * ({@link eventLoopLag}), shared by every node and domain in it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** Sampling resolution (ms); an idle loop reads as this much, so it is taken off. */
const RESOLUTION_MS = 5;

export class EventLoopLag {
  private readonly histogram: IntervalHistogram;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private previous = 0;
  /** Windows completed so far. */
  windows = 0;

  /** `windowMs`: how often the p99 is read (and the histogram restarted). */
  constructor(private readonly windowMs = 200) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  start(): this {
    if (this.timer) return this;
    this.histogram.enable();
    let tick = performance.now();
    this.timer = setInterval(() => {
      // The window's p99 as the histogram saw it, or this timer's own lateness when that is
      // more: the histogram's timer and this one race after a stall, and the stall can land in
      // the next window's histogram, but never escapes this timer. (An empty histogram reads NaN.)
      const now = performance.now();
      const late = now - tick - this.windowMs;
      tick = now;
      const p99 = this.histogram.percentile(99) / 1e6 - RESOLUTION_MS;
      this.previous = this.last;
      this.last = Math.max(0, late, Number.isFinite(p99) ? p99 : 0);
      this.histogram.reset();
      this.windows++;
    }, this.windowMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
    this.last = 0;
    this.previous = 0;
  }

  /** The event loop delay (ms) of the last complete window (see start()); 0 before the first. */
  get ms(): number {
    return this.last;
  }

  /** The same for the window before that one. */
  get previousMs(): number {
    return this.previous;
  }
}

/**
 * Whether a process is overloaded, with hysteresis: overloaded once two windows in a row had a
 * delay over `limitMs` (one slow window is a GC pause or a large batch, not overload), and
 * again not once a window's delay is under half of it (a gate that opened and closed on every
 * window would let the overload back in half the time).
 */
export class LagGate {
  private overloaded = false;
  private seen = -1;

  constructor(
    private readonly lag: Pick<EventLoopLag, "ms" | "previousMs" | "windows">,
    private readonly limitMs: number,
  ) {}

  /** The delay (ms) while overloaded, else undefined. */
  check(): number | undefined {
    if (this.lag.windows !== this.seen) {
      this.seen = this.lag.windows;
      const ms = this.lag.ms;
      if (Math.min(ms, this.lag.previousMs) > this.limitMs) this.overloaded = true;
      else if (ms < this.limitMs / 2) this.overloaded = false;
    }
    return this.overloaded ? this.lag.ms : undefined;
  }
}

let shared: EventLoopLag | undefined;

/** This process's gauge, started on first use. */
export function eventLoopLag(): EventLoopLag {
  return (shared ??= new EventLoopLag().start());
}
