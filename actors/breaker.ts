/**
 * A circuit breaker: closed until `failures` failures in a row, then open for `openMs`
 * (calls are refused without trying), then half-open: one trial call decides whether it
 * closes again or opens for another `openMs`. The clock is injected.
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
