/** Waiting for an actor to have handled a message: its state's `seq` reaches the message's sequence. */
import { AppError } from "../../lib/errors";

/**
 * Polls `read` (1 ms, doubling to 16 ms) until the state's `seq` is at least `seq`; 503
 * UNAVAILABLE (retry) after `timeoutMs`. The message stays in the mailbox and is handled later.
 */
export async function waitApplied<S extends { readonly seq: number }>(
  read: () => Promise<S | undefined>,
  seq: number,
  timeoutMs: number,
): Promise<S> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const s = await read();
    if (s && s.seq >= seq) return s;
    if (Date.now() > deadline)
      throw new AppError("UNAVAILABLE", "the change is queued but not applied yet: read again shortly", undefined, {
        "Retry-After": "1",
      });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(16, delay * 2);
  }
}
