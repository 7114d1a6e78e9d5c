/**
 * The backlog of a pipeline of actors and jobs: messages waiting in an actor kind's mailbox
 * stream (every partition, delivered or not, until acked) plus those a job's consumer has not
 * finished (pending and in flight), read from the server every `intervalMs`. Intake uses it
 * for admission control: while the pipeline is far behind, new work is refused with a 503
 * instead of accepted into a backlog that would take minutes to reach, so what is accepted is
 * handled in bounded time. Works on API nodes too (it reads the server, not local state).
 */
import type { JetStreamManager } from "../nats";

/** Where work waits: a whole stream, or what one consumer of a stream has not finished. */
export type BacklogSource = { readonly stream: string; readonly consumer?: string };

export class BacklogGauge {
  private value = 0;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly sources: readonly BacklogSource[],
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.timer) return;
    void this.read();
    this.timer = setInterval(() => void this.read(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Messages waiting at the last reading (0 before the first). */
  get messages(): number {
    return this.value;
  }

  private async read(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const counts = await Promise.all(
        this.sources.map(async (s) => {
          if (s.consumer === undefined) return (await this.jsm.streams.info(s.stream)).state.messages;
          const c = await this.jsm.consumers.info(s.stream, s.consumer);
          return c.num_pending + c.num_ack_pending;
        }),
      );
      this.value = counts.reduce((a, b) => a + b, 0);
    } catch {
      // keep the last reading: a NATS hiccup must not open or close the gate by itself
    } finally {
      this.reading = false;
    }
  }
}
