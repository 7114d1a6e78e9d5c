/**
 * Configuration of the gateway's defences against callers it does not know (gateway/throttle.ts,
 * gateway/connection-cap.ts, gateway/client-ip.ts) and of the rate limiter while Redis is down
 * (the client registry's rate limiter), and the negative credential cache.
 */
import type { EnvReader } from "./env";
import { proxyItemProblem } from "../gateway/client-ip";

/** What the per-client rate limiter does while Redis is unreachable (RATE_LIMIT_REDIS_DOWN). */
export type RedisDownPolicy = "open" | "closed";

/** Per-IP limits, the connection cap, trusted proxies, negative caching and the Redis-down policy. */
export interface ThrottleConfig {
  /** Failed authentications per client IP and node: sustained per second (0: no limit). */
  readonly unauthPerSec: number;
  /** ... and burst. */
  readonly unauthBurst: number;
  /** POST /oauth/token attempts per client IP and node: sustained per second (0: no limit). */
  readonly tokenPerSec: number;
  /** ... and burst. */
  readonly tokenBurst: number;
  /** Open connections per remote address and node (0: no cap); trusted proxies are exempt. */
  readonly maxConnectionsPerIp: number;
  /** Proxies (IPs or CIDRs) whose X-Forwarded-For is believed. Empty: the header is ignored. */
  readonly trustedProxies: readonly string[];
  /** How long "no such key / client" is remembered in memory. */
  readonly negativeCacheTtlMs: number;
  /** Unknown ids remembered at most (least recently used go first). */
  readonly negativeCacheMax: number;
  /**
   * Redis down: `open` limits each client in this node's memory instead (at its own rate, per
   * node); `closed` answers 503 with Retry-After.
   */
  readonly redisDown: RedisDownPolicy;
}

/** Reads the throttle settings (problems go to `r`). */
export function throttleConfig(r: EnvReader): ThrottleConfig {
  const trustedProxies = r.list("TRUSTED_PROXIES", []);
  for (const item of trustedProxies) {
    const problem = proxyItemProblem(item);
    if (problem) r.problems.push(`TRUSTED_PROXIES: ${problem}`);
  }
  return {
    unauthPerSec: r.int("GATEWAY_UNAUTH_PER_SEC", 10, 0, 1_000_000),
    unauthBurst: r.int("GATEWAY_UNAUTH_BURST", 100, 1, 10_000_000),
    tokenPerSec: r.int("GATEWAY_TOKEN_PER_SEC", 10, 0, 1_000_000),
    tokenBurst: r.int("GATEWAY_TOKEN_BURST", 50, 1, 10_000_000),
    maxConnectionsPerIp: r.int("GATEWAY_MAX_CONNECTIONS_PER_IP", 512, 0, 1_000_000),
    trustedProxies,
    negativeCacheTtlMs: r.int("GATEWAY_NEGATIVE_CACHE_TTL_MS", 30_000, 0, 3_600_000),
    negativeCacheMax: r.int("GATEWAY_NEGATIVE_CACHE_MAX", 10_000, 1, 10_000_000),
    redisDown: r.match("RATE_LIMIT_REDIS_DOWN", "open", /^(open|closed)$/, "open or closed") as RedisDownPolicy,
  };
}
