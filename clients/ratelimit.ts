/**
 * Per-client rate limits shared by every gateway node: a token bucket per client in Redis,
 * refilled at `perSec` up to `burst`, checked by one Lua script (atomic, clock from Redis `TIME`
 * so nodes' clocks do not matter). Checks made in the same event-loop turn go to Redis as one
 * pipeline: one round trip for all of them.
 *
 * When Redis is unreachable the limiter lets requests through (and logs): rate limiting
 * protects capacity; refusing all traffic because the limiter is down would be worse.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../lib/logger";
import type { RateLimit } from "./types";

/** The outcome of one check. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** When refused: milliseconds until one token is back. */
  readonly retryAfterMs: number;
  readonly limit: RateLimit;
}

/** Checks requests against per-client buckets. */
export interface RateLimiter {
  take(clientId: string, limit: RateLimit): Promise<RateDecision>;
}

/** KEYS[1] bucket; ARGV rate/s, burst, cost. Returns {allowed, remaining, retryAfterMs}. */
export const TOKEN_BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate / 1000)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tk', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, math.floor(tokens), retry}
`;

const COMMAND = "switchyardTokenBucket";

interface Pending {
  readonly clientId: string;
  readonly limit: RateLimit;
  resolve(d: RateDecision): void;
}

type BucketCommand = (key: string, rate: number, burst: number, cost: number) => unknown;

/** Builds a limiter over `redis`; bucket keys are `{namespace}:rl:{clientId}`. */
export function createRateLimiter({ redis, namespace, logger }: { redis: Redis; namespace: string; logger?: Logger }): RateLimiter {
  // defineCommand loads the script once per connection (EVALSHA, EVAL on NOSCRIPT), pipelines too.
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
  let batch: Pending[] = [];
  let lastWarn = 0;

  function flush(): void {
    const items = batch;
    batch = [];
    const pipe = redis.pipeline();
    for (const it of items) {
      (pipe as unknown as Record<string, BucketCommand>)[COMMAND]!(`${namespace}:rl:${it.clientId}`, it.limit.perSec, it.limit.burst, 1);
    }
    let settled = false;
    // A disconnected client queues commands; do not hold requests hostage to it.
    const timer = setTimeout(() => {
      settled = true;
      for (const it of items) it.resolve(failOpen(it, new Error("redis did not answer within 250 ms")));
    }, 250);
    pipe.exec().then(
      (results) => {
        clearTimeout(timer);
        if (settled) return;
        items.forEach((it, i) => {
          const [err, value] = results?.[i] ?? [new Error("no result"), null];
          if (err || !Array.isArray(value)) return it.resolve(failOpen(it, err));
          const [allowed, remaining, retry] = value as number[];
          it.resolve({ allowed: allowed === 1, remaining: remaining ?? 0, retryAfterMs: retry ?? 0, limit: it.limit });
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        for (const it of items) it.resolve(failOpen(it, err));
      },
    );
  }

  function failOpen(it: Pending, err: unknown): RateDecision {
    if (Date.now() - lastWarn > 10_000) {
      lastWarn = Date.now();
      logger?.warn({ err: err instanceof Error ? err.message : String(err) }, "rate limiter: redis unavailable, letting requests through");
    }
    return { allowed: true, remaining: it.limit.burst, retryAfterMs: 0, limit: it.limit };
  }

  return {
    take(clientId, limit) {
      return new Promise<RateDecision>((resolve) => {
        if (batch.length === 0) setImmediate(flush);
        batch.push({ clientId, limit, resolve });
      });
    },
  };
}
