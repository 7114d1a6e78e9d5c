/**
 * Waiting for the cart actor to have handled a message: its state's `seq` reaches the
 * message's sequence. The actor broadcasts `carts.changed {cartId, owner, seq}` after each
 * stored change; {@link Waiters} wakes the requests waiting on that cart at once, and a slow
 * poll of the state covers a missed broadcast (they are at most once).
 */
import { AppError } from "../../lib/errors";

/** Requests waiting per cart, woken by the cart's `carts.changed` broadcasts. */
export class Waiters {
  private readonly byKey = new Map<string, Set<{ seq: number; wake: () => void }>>();

  /** Wakes the waiters of `key` whose message is at or below `seq`. */
  notify(key: string, seq: number): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const w of set) if (w.seq <= seq) w.wake();
  }

  /** Resolves when `key` reached `seq` (by broadcast) or after `ms`, whichever first. */
  wait(key: string, seq: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.byKey.get(key) ?? new Set();
      this.byKey.set(key, set);
      const w = {
        seq,
        wake: () => {
          clearTimeout(t);
          set.delete(w);
          if (set.size === 0) this.byKey.delete(key);
          resolve();
        },
      };
      const t = setTimeout(w.wake, ms);
      set.add(w);
    });
  }
}

/**
 * Reads the state until its `seq` is at least `seq`, waking on broadcasts (`waiters`) and
 * polling every 25 ms; 503 UNAVAILABLE (retry) after `timeoutMs`. The message stays queued.
 */
export async function waitApplied<S extends { readonly seq: number }>(
  read: () => Promise<S | undefined>,
  waiters: { wait(seq: number, ms: number): Promise<void> },
  seq: number,
  timeoutMs: number,
): Promise<S> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await read();
    if (s && s.seq >= seq) return s;
    if (Date.now() > deadline)
      throw new AppError("UNAVAILABLE", "the change is queued but not applied yet: read again shortly", undefined, {
        "Retry-After": "1",
      });
    await waiters.wait(seq, 25);
  }
}
