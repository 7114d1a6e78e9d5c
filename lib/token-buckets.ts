/**
 * Token buckets in this process's memory, one per key, bounded in number: the least recently
 * used bucket goes first when `maxKeys` is reached (a forgotten bucket comes back full, so the
 * bound trades a little leniency for bounded memory). Pure apart from the clock, which is
 * injected; no I/O. Used for per-IP limits at the gateway and as the rate limiter's stand-in
 * while Redis is down.
 */

/** A bucket's shape: refilled at `perSec` tokens a second, holding at most `burst`. */
export interface BucketLimit {
  readonly perSec: number;
  readonly burst: number;
}

/** The outcome of one check. */
export interface BucketDecision {
  readonly allowed: boolean;
  /** Whole tokens left (0 when refused or in debt). */
  readonly remaining: number;
  /** When refused: milliseconds until one token is back; 0 otherwise. */
  readonly retryAfterMs: number;
}

/** A bounded set of token buckets keyed by string. */
export interface TokenBuckets {
  /** Takes one token when there is one (allowed), else refuses and takes nothing. */
  take(key: string, limit: BucketLimit): BucketDecision;
  /** Allowed when at least one token is there; takes nothing. */
  peek(key: string, limit: BucketLimit): BucketDecision;
  /**
   * Takes one token whether or not there is one: the bucket may go into debt, down to
   * `-burst`, so that a burst that got past {@link peek} at once is paid back before the next.
   */
  charge(key: string, limit: BucketLimit): void;
  /** Buckets held. */
  size(): number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Builds the buckets; `maxKeys` bounds memory, `now` is the clock in ms (tests inject one). */
export function createTokenBuckets({ maxKeys, now = Date.now }: { maxKeys: number; now?: () => number }): TokenBuckets {
  const buckets = new Map<string, Bucket>();

  /** The key's bucket refilled to `t`, moved to the most recently used end. */
  function touch(key: string, limit: BucketLimit, t: number): Bucket {
    let b = buckets.get(key);
    if (b) {
      buckets.delete(key);
      const elapsed = Math.max(0, t - b.at);
      b.tokens = Math.min(limit.burst, b.tokens + (elapsed * limit.perSec) / 1000);
      b.at = t;
    } else {
      b = { tokens: limit.burst, at: t };
      if (buckets.size >= maxKeys) {
        const oldest = buckets.keys().next();
        if (!oldest.done) buckets.delete(oldest.value);
      }
    }
    buckets.set(key, b);
    return b;
  }

  function decision(b: Bucket, limit: BucketLimit, allowed: boolean): BucketDecision {
    const retryAfterMs = allowed ? 0 : Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / limit.perSec));
    return { allowed, remaining: Math.max(0, Math.floor(b.tokens)), retryAfterMs };
  }

  return {
    take(key, limit) {
      const b = touch(key, limit, now());
      if (b.tokens < 1) return decision(b, limit, false);
      b.tokens -= 1;
      return decision(b, limit, true);
    },
    peek(key, limit) {
      const b = touch(key, limit, now());
      return decision(b, limit, b.tokens >= 1);
    },
    charge(key, limit) {
      const b = touch(key, limit, now());
      b.tokens = Math.max(-limit.burst, b.tokens - 1);
    },
    size: () => buckets.size,
  };
}
