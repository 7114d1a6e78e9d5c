/**
 * Waiting for the cart actor to have handled a message: its state's `seq` reaches the
 * message's sequence. After each stored change the actor broadcasts `carts.changed {cartId,
 * owner, seq, cart?}`, where `cart` is the state right after that message (left out of large
 * carts). {@link Waiters} hands that state to the request waiting for it, so the usual answer
 * costs no state read at all; a broadcast is at most once, so a slow poll of the stored state
 * (first after 100 ms, then every 250 ms) covers a missed one.
 */
import { AppError } from "../../lib/errors";

/** What a request waits for: the state after its message (`seq`). */
interface Waiter<S> {
  seq: number;
  /** The state carried by a broadcast at or past `seq` (or the newest seen before `seq` was known). */
  got: S | undefined;
  wake: (() => void) | null;
}

/** Requests waiting per cart, handed the states the cart's `carts.changed` broadcasts carry. */
export class Waiters<S extends { readonly seq: number }> {
  private readonly byKey = new Map<string, Set<Waiter<S>>>();

  /** A broadcast of `key` at `seq`, with the state after it when it carried one. */
  notify(key: string, seq: number, state: S | undefined): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const w of set) {
      if (state && state.seq === seq && (!w.got || w.got.seq < seq)) w.got = state;
      if (seq >= w.seq) w.wake?.();
    }
  }

  /**
   * Starts listening to `key` before the message is sent (so that a broadcast that comes before
   * the publish ack is not missed); `done` once the request no longer waits.
   */
  listen(key: string): { waiter: Waiter<S>; done(): void } {
    const set = this.byKey.get(key) ?? new Set<Waiter<S>>();
    this.byKey.set(key, set);
    const waiter: Waiter<S> = { seq: Number.MAX_SAFE_INTEGER, got: undefined, wake: null };
    set.add(waiter);
    return {
      waiter,
      done: () => {
        set.delete(waiter);
        if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
      },
    };
  }
}

/** Resolves after `ms` or when `w` is woken, whichever first. */
function sleepOrWake<S>(w: Waiter<S>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      w.wake = null;
      resolve();
    }, ms);
    w.wake = () => {
      clearTimeout(t);
      w.wake = null;
      resolve();
    };
  });
}

/**
 * The state once its `seq` is at least `seq`: from the broadcast the waiter got, else read
 * (`read`) after a quiet spell; 503 UNAVAILABLE (retry) after `timeoutMs`. The message stays queued.
 */
export async function waitApplied<S extends { readonly seq: number }>(
  read: () => Promise<S | undefined>,
  w: Waiter<S>,
  seq: number,
  timeoutMs: number,
): Promise<S> {
  w.seq = seq;
  const deadline = Date.now() + timeoutMs;
  let quiet = 100;
  for (;;) {
    if (w.got && w.got.seq >= seq) return w.got;
    await sleepOrWake(w, Math.max(0, Math.min(quiet, deadline - Date.now())));
    if (w.got && w.got.seq >= seq) return w.got;
    // woken without a state (a large cart), or nothing came: the stored state says
    const s = await read();
    if (s && s.seq >= seq) return s;
    if (Date.now() > deadline)
      throw new AppError("UNAVAILABLE", "the change is queued but not applied yet: read again shortly", undefined, {
        "Retry-After": "1",
      });
    quiet = 250;
  }
}
