/**
 * A concurrency limit for the engine's JetStream operations (KV writes, event publishes): a
 * burst of cell changes or meetings waits its turn instead of flooding the server with more
 * requests than it answers within their timeout (which would time out and retry, and grow).
 */

/**
 * Runs at most `max` operations at once, in the order they were asked for. A finished operation
 * hands its slot to the oldest waiter directly. The waiting queue is read from a head index: a
 * burst of a city's meetings queues tens of thousands, and `shift()` on such an array costs its
 * length each time.
 */
export class Limiter {
  private active = 0;
  private queue: ((() => void) | undefined)[] = [];
  private head = 0;

  constructor(private readonly max: number) {}

  /** Operations running or waiting. */
  get pending(): number {
    return this.active + this.queue.length - this.head;
  }

  /** Runs `fn` once a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // a waiter is woken with the slot of the operation that ended (active stays counted)
    if (this.active >= this.max) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      this.handOver();
    }
  }

  private handOver(): void {
    if (this.head >= this.queue.length) {
      this.active--;
      return;
    }
    const wake = this.queue[this.head];
    this.queue[this.head++] = undefined;
    // drop the consumed head once it is most of the array
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    wake?.();
  }
}
