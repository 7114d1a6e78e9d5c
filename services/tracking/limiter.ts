/**
 * A concurrency limit for the engine's JetStream operations (KV writes, event publishes): a
 * burst of cell changes or meetings waits its turn instead of flooding the server with more
 * requests than it answers within their timeout (which would time out and retry, and grow).
 */

/** Runs at most `max` operations at once, in the order they were asked for. */
export class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Operations running or waiting. */
  get pending(): number {
    return this.active + this.queue.length;
  }

  /** Runs `fn` once a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}
