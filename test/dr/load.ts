/**
 * A steady flow of JetStream publishes for the DR tests (supporter messages and tenant events,
 * beside the receipts' HTTP load): `rate` per second, each acked publish recorded with the time
 * of its ack, so a test can ask which were acked before a given moment.
 */
import type { NatsHandles } from "../../nats";

/** One acked publish. */
export interface Acked {
  readonly id: string;
  readonly seq: number;
  readonly at: number;
}

/** Publishes `make(i)` to its subject at `rate` per second until stopped. */
export class PublishFlow {
  readonly acked: Acked[] = [];
  failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private n = 0;

  constructor(
    private readonly h: NatsHandles,
    private readonly make: (i: number) => { subject: string; id: string; body: string },
  ) {}

  /** Starts publishing. */
  start(rate: number): void {
    const t0 = Date.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      while (this.n < due) {
        const m = this.make(this.n++);
        const p = this.h.js.publish(m.subject, m.body, { msgID: m.id, timeout: 10_000 }).then(
          (ack) => void this.acked.push({ id: m.id, seq: ack.seq, at: Date.now() }),
          () => void this.failures++,
        );
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }, 20);
  }

  /** Stops and waits for the publishes in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.inflight]);
  }

  /** Ids acked before `t`. */
  ackedBefore(t: number): string[] {
    return this.acked.filter((a) => a.at < t).map((a) => a.id);
  }
}
