/**
 * Per-IP limits for callers the gateway does not know yet, kept in this node's memory:
 *   - failed authentications (no, malformed, unknown or wrong credentials, suspended clients):
 *     a caller whose bucket is empty is answered 429 before any credential lookup, so a flood
 *     of made-up keys costs neither Redis nor Postgres. Only failures take tokens: a caller
 *     whose credentials work is never slowed by this limit (it has its own per-client one).
 *   - token exchanges (POST /oauth/token): every attempt takes a token, as at any login.
 *
 * In memory, not Redis: the check must cost nothing next to the lookups it protects (a Redis
 * round trip per unauthenticated request is the cost being bounded) and must hold while Redis
 * is down. The price: each node counts alone, so behind N nodes a caller gets N times the limit.
 */
import { createTokenBuckets, type BucketDecision, type BucketLimit } from "../lib/token-buckets";
import { AppError } from "../lib/errors";
import { ipKey } from "./client-ip";

/** Limits of {@link createIpThrottle}; a `perSec` of 0 turns that limit off. */
export interface IpThrottleLimits {
  readonly unauthenticated: BucketLimit;
  readonly token: BucketLimit;
  /** Callers remembered per limit at most (least recently seen go first). Default 100,000. */
  readonly maxTracked?: number;
}

/** Which per-IP limit refused a request. */
export type IpLimitName = "unauthenticated" | "token";

/** The per-IP limits of one node. */
export interface IpThrottle {
  /** Allowed unless `ip` has used up its failed authentications; takes nothing. */
  mayAuthenticate(ip: string): BucketDecision;
  /** Records one failed authentication by `ip`. */
  failedAuthentication(ip: string): void;
  /** Takes one token exchange attempt of `ip`. */
  tokenExchange(ip: string): BucketDecision;
}

const ALLOW: BucketDecision = { allowed: true, remaining: Number.MAX_SAFE_INTEGER, retryAfterMs: 0 };

/** Builds the throttle; `now` is the clock (tests inject one). */
export function createIpThrottle(limits: IpThrottleLimits, now: () => number = Date.now): IpThrottle {
  const maxKeys = limits.maxTracked ?? 100_000;
  const unauth = createTokenBuckets({ maxKeys, now });
  const token = createTokenBuckets({ maxKeys, now });
  const on = (l: BucketLimit) => l.perSec > 0 && l.burst > 0;
  return {
    mayAuthenticate: (ip) => (on(limits.unauthenticated) ? unauth.peek(ipKey(ip), limits.unauthenticated) : ALLOW),
    failedAuthentication(ip) {
      if (on(limits.unauthenticated)) unauth.charge(ipKey(ip), limits.unauthenticated);
    },
    tokenExchange: (ip) => (on(limits.token) ? token.take(ipKey(ip), limits.token) : ALLOW),
  };
}

/** The 429 for a refused per-IP check, in the one error shape, with Retry-After (whole seconds). */
export function ipLimitError(which: IpLimitName, d: BucketDecision): AppError {
  const what =
    which === "token"
      ? "too many token requests from this address"
      : "too many failed authentications from this address";
  return new AppError("RATE_LIMITED", `${what}: retry later`, undefined, {
    "Retry-After": String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))),
  });
}
