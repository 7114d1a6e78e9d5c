/**
 * Exponential backoff with "full jitter" kept in the upper half: the delay for attempt n
 * (1-based) is uniformly drawn from [d/2, d] where d = min(max, base * 2^(n-1)).
 * `random` is injectable so tests are deterministic.
 *
 * Kept over cockatiel's `ExponentialBackoff` with `halfJitterGenerator` (the same delay model,
 * uniform in [d/2, d]): that one is a chain of objects that carries its state from one attempt
 * to the next (`next()`) inside one process, while every caller here knows only the attempt
 * number, from JetStream's delivery count (`msg.info.deliveryCount`) of a message that may have
 * been redelivered to another node, and needs the delay for that number alone, as a pure
 * function of (attempt, base, max, random). Cockatiel's generators also read `Math.random`
 * themselves. Two lines do not need a dependency.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
