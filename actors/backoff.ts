/**
 * Exponential backoff with "full jitter" kept in the upper half: the delay for attempt n
 * (1-based) is uniformly drawn from [d/2, d] where d = min(max, base * 2^(n-1)).
 * `random` is injectable so tests are deterministic.
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
