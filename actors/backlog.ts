/**
 * The backlog of an actor kind: messages waiting in its mailbox stream (every partition,
 * delivered or not, until acked), read from the stream's state every `intervalMs`. Intake uses
 * it for admission control: while the actors are far behind, new work is refused with a 503
 * instead of accepted into a backlog that would take minutes to reach, so what is accepted is
 * handled in bounded time. Works on API nodes too (it reads the stream, not local state).
 */
import type { JetStreamManager } from "../nats";

export class BacklogGauge {
  private value = 0;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
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
      this.value = (await this.jsm.streams.info(this.stream)).state.messages;
    } catch {
      // keep the last reading: a NATS hiccup must not open or close the gate by itself
    } finally {
      this.reading = false;
    }
  }
}
