/**
 * A circuit breaker: closed until `failures` failures in a row, then open for `openMs`
 * (calls are refused without trying), then half-open: one trial call decides whether it
 * closes again or opens for another `openMs`. The clock is injected.
 *
 * Kept over cockatiel's `circuitBreaker(handleWhen(...), { breaker: new ConsecutiveBreaker(n),
 * halfOpenAfter })` (compared with its CircuitBreakerPolicy source, 3.x/4.0), for what
 * actors/jobs.ts needs and cockatiel does not give:
 * - Permits, not a wrapper. The job worker holds a JetStream message while the breaker is open
 *   (keeping it alive with `msg.working()`, so the delivery count counts real calls only) and
 *   must know how long to wait, to sleep that long and to give up when the job's deadline comes
 *   first: {@link CircuitBreaker.acquire} returns the milliseconds until a trial. Cockatiel's
 *   `execute(fn)` throws `BrokenCircuitError` with no time while open, and while half-open makes
 *   every other caller await the trial call, however long it runs, with no deadline.
 * - A final refusal (`TerminalError`) means the service answered: the worker calls
 *   {@link CircuitBreaker.success} and the run of failures resets. In cockatiel an error left out
 *   by `handleWhen` touches no counter while closed, so failure, refusal, failure still count as
 *   two in a row.
 * - The state shown in job stats (`jobStats()`, and the routes that show them) is what the next
 *   call meets: "half-open" once `openMs` passed. Cockatiel's `state` stays `Open` until a call
 *   is made.
 * - The clock is injected (test/unit/runtime-pure.test.ts steps it); cockatiel reads
 *   `Date.now()` itself.
 * The part is about 50 lines with no dependency; cockatiel's extras (sampling and count
 * breakers, isolation, state hydration, retry/bulkhead/timeout policies) are not used here.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;

  constructor(
    private readonly failures: number,
    private readonly openMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** "closed", "open" or "half-open", at this moment. */
  get state(): "closed" | "open" | "half-open" {
    if (this.openedAt === null) return "closed";
    return this.now() - this.openedAt >= this.openMs ? "half-open" : "open";
  }

  /**
   * Asks to make a call. Returns 0 when allowed, else the milliseconds until a call may be
   * tried. In half-open state only one trial call is allowed at a time.
   */
  acquire(): number {
    const state = this.state;
    if (state === "closed") return 0;
    if (state === "open") return this.openMs - (this.now() - (this.openedAt ?? 0));
    if (this.trialInFlight) return Math.max(1, Math.round(this.openMs / 4));
    this.trialInFlight = true;
    return 0;
  }

  /** Records a successful call: the breaker closes. */
  success(): void {
    this.consecutive = 0;
    this.openedAt = null;
    this.trialInFlight = false;
  }

  /** Records a failed call: after enough in a row (or a failed trial) the breaker opens. */
  failure(): void {
    this.consecutive++;
    if (this.trialInFlight || this.consecutive >= this.failures) {
      this.openedAt = this.now();
    }
    this.trialInFlight = false;
  }

  /** Releases a trial slot without a verdict (e.g. the call was not made). */
  release(): void {
    this.trialInFlight = false;
  }
}
