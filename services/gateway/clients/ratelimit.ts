/**
 * Per-client rate limits shared by every gateway node: a token bucket per client in Redis,
 * refilled at `perSec` up to `burst`, checked by one Lua script (atomic, clock from Redis `TIME`
 * so nodes' clocks do not matter). Checks made in the same event-loop turn go to Redis as one
 * pipeline: one round trip for all of them.
 *
 * When Redis is unreachable (not connected, an error, or no answer within 250 ms) the policy
 * decides (RATE_LIMIT_REDIS_DOWN):
 *   - `open` (default): each client is limited in this node's memory at its own rate instead,
 *     so limits hold per node (multiplied by the node count) rather than vanish. Redis only
 *     counts; the credentials it caches come from Postgres when it is down, so the API stays up.
 *   - `closed`: refused as unavailable (the gateway answers 503 with Retry-After), for
 *     deployments where exceeding a contract's rate is worse than an outage.
 * While Redis is not connected nothing is sent to it: no request waits for the 250 ms timeout.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../../../lib/logger";
import { createTokenBuckets } from "../../../lib/token-buckets";
import type { RateLimit } from "./types";

import type { RedisDownPolicy } from "../../../config/throttle";

export type { RedisDownPolicy };

/** Retry-After of a refusal because Redis is down (fail-closed), in ms. */
export const REDIS_DOWN_RETRY_MS = 5000;

/** The outcome of one check. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** When refused: milliseconds until one token is back. */
  readonly retryAfterMs: number;
  readonly limit: RateLimit;
  /** Refused because Redis is down and the policy is `closed` (not because of the client's rate). */
  readonly unavailable?: boolean;
  /** Decided in this node's memory because Redis is down (policy `open`). */
  readonly local?: boolean;
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

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  readonly redis: Redis;
  readonly namespace: string;
  readonly logger?: Logger;
  /** While Redis is down: limit in memory (`open`, default) or refuse (`closed`). */
  readonly redisDown?: RedisDownPolicy;
  /** Clients tracked in memory while Redis is down, at most. Default 100,000. */
  readonly maxLocalClients?: number;
}

/** Builds a limiter over `redis`; bucket keys are `{namespace}:rl:{clientId}`. */
export function createRateLimiter({
  redis,
  namespace,
  logger,
  redisDown = "open",
  maxLocalClients = 100_000,
}: RateLimiterOptions): RateLimiter {
  // defineCommand loads the script once per connection (EVALSHA, EVAL on NOSCRIPT), pipelines too.
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
  let batch: Pending[] = [];
  let lastWarn = 0;
  const local = createTokenBuckets({ maxKeys: maxLocalClients });

  function flush(): void {
    const items = batch;
    batch = [];
    const pipe = redis.pipeline();
    for (const it of items) {
      (pipe as unknown as Record<string, BucketCommand>)[COMMAND]!(
        `${namespace}:rl:${it.clientId}`,
        it.limit.perSec,
        it.limit.burst,
        1,
      );
    }
    let settled = false;
    // A disconnected client queues commands; do not hold requests hostage to it.
    const timer = setTimeout(() => {
      settled = true;
      for (const it of items) it.resolve(whenDown(it, new Error("redis did not answer within 250 ms")));
    }, 250);
    pipe.exec().then(
      (results) => {
        clearTimeout(timer);
        if (settled) return;
        items.forEach((it, i) => {
          const [err, value] = results?.[i] ?? [new Error("no result"), null];
          if (err || !Array.isArray(value)) return it.resolve(whenDown(it, err));
          const [allowed, remaining, retry] = value as number[];
          it.resolve({ allowed: allowed === 1, remaining: remaining ?? 0, retryAfterMs: retry ?? 0, limit: it.limit });
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        for (const it of items) it.resolve(whenDown(it, err));
      },
    );
  }

  /** The decision while Redis is down, by policy. */
  function redisDownDecision(clientId: string, limit: RateLimit, err: unknown): RateDecision {
    if (Date.now() - lastWarn > 10_000) {
      lastWarn = Date.now();
      const what =
        redisDown === "closed" ? "refusing requests (RATE_LIMIT_REDIS_DOWN=closed)" : "limiting in this node's memory";
      logger?.warn(
        { err: err instanceof Error ? err.message : String(err) },
        `rate limiter: redis unavailable, ${what}`,
      );
    }
    if (redisDown === "closed")
      return { allowed: false, remaining: 0, retryAfterMs: REDIS_DOWN_RETRY_MS, limit, unavailable: true };
    const d = local.take(clientId, limit);
    return { ...d, limit, local: true };
  }

  function whenDown(it: Pending, err: unknown): RateDecision {
    return redisDownDecision(it.clientId, it.limit, err);
  }

  return {
    take(clientId, limit) {
      // Not connected (reconnecting, closed): decide now rather than queue behind the outage.
      if (redis.status !== "ready")
        return Promise.resolve(redisDownDecision(clientId, limit, new Error(`redis ${redis.status}`)));
      return new Promise<RateDecision>((resolve) => {
        if (batch.length === 0) setImmediate(flush);
        batch.push({ clientId, limit, resolve });
      });
    },
  };
}
