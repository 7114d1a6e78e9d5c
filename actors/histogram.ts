/**
 * A fixed-memory latency histogram (log-spaced buckets from 0.1 ms to ~100 s) that answers
 * percentiles within a few percent. Used for publish-to-handled latency.
 */
const BUCKETS_PER_DECADE = 20;
const MIN_MS = 0.1;
const DECADES = 6;
const SIZE = BUCKETS_PER_DECADE * DECADES + 1;

/** Counts of values per log-spaced bucket. */
export class Histogram {
  private readonly counts = new Array<number>(SIZE).fill(0);
  count = 0;

  /** Records one value in milliseconds. */
  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const i = Math.min(SIZE - 1, Math.floor(Math.log10(v / MIN_MS) * BUCKETS_PER_DECADE));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
  }

  /** The value at quantile q (0..1), as the upper edge of its bucket; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return Number((MIN_MS * 10 ** ((i + 1) / BUCKETS_PER_DECADE)).toFixed(2));
    }
    return Number((MIN_MS * 10 ** DECADES).toFixed(2));
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }
}
