/**
 * A fixed-memory, mergeable latency histogram (log-spaced buckets from 0.1 ms to ~100 s, 20 per
 * decade: percentiles within ~12%). Used for publish-to-handled latency of actors and per-client
 * latency of messages; several merge into one distribution (the p99 of a group is not the p99 of
 * their p99s).
 */
const PER_DECADE = 20;
const MIN_MS = 0.1;
const DECADES = 6;
const SIZE = PER_DECADE * DECADES + 1;

/** Counts of latencies per bucket. */
export class LatencyHistogram {
  private readonly counts = new Array<number>(SIZE).fill(0);
  count = 0;
  max = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const i = Math.min(SIZE - 1, Math.floor(Math.log10(v / MIN_MS) * PER_DECADE));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  /** Adds `other`'s counts to this one. */
  merge(other: LatencyHistogram): this {
    for (let i = 0; i < SIZE; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
    return this;
  }

  /** The latency at quantile q (0..1) as its bucket's upper edge; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return Number(Math.min(this.max, MIN_MS * 10 ** ((i + 1) / PER_DECADE)).toFixed(2));
    }
    return Number(this.max.toFixed(2));
  }
}
