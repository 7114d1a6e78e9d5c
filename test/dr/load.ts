/**
 * A steady flow of JetStream publishes for the DR tests (supporter messages and tenant events,
 * beside the receipts' HTTP load): `rate` per second, each acked publish recorded with the time
 * of its ack, so a test can ask which were acked before a given moment.
 */
import type { JetStreamClient } from "../../nats";

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
    private readonly js: JetStreamClient,
    private readonly make: (i: number) => { subject: string; id: string; body: string },
  ) {}

  /** Starts publishing. */
  start(rate: number): void {
    const t0 = Date.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      while (this.n < due) {
        const m = this.make(this.n++);
        const p = this.js.publish(m.subject, m.body, { msgID: m.id, timeout: 10_000 }).then(
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

/**
 * Receipt submissions over HTTP at `rate` per second (no retries: a refused or failed POST is
 * counted, not repeated, so stopping never waits on a dead gateway): every 202's receipt id.
 */
export class ReceiptFlow {
  /** Receipt ids by submission, in order of acceptance, with the time of the 202. */
  readonly accepted: { id: string; at: number }[] = [];
  failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private n = 0;

  constructor(
    private readonly url: () => string,
    private readonly apiKey: string,
    private readonly bodies: readonly { body: string; type: string }[],
  ) {}

  start(rate: number): void {
    const t0 = Date.now();
    const prefix = `dr-${Math.random().toString(36).slice(2, 8)}`;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      while (this.n < due) {
        const b = this.bodies[this.n % this.bodies.length]!;
        const key = `${prefix}-${this.n++}`;
        const p = fetch(`${this.url()}/api/v1/receipts`, {
          method: "POST",
          headers: { Authorization: `Bearer ${this.apiKey}`, "Content-Type": b.type, "Idempotency-Key": key },
          body: b.body,
          signal: AbortSignal.timeout(10_000),
        })
          .then(async (res) => {
            const text = await res.text();
            if (res.status === 202) this.accepted.push({ id: (JSON.parse(text) as { id: string }).id, at: Date.now() });
            else this.failures++;
          })
          .catch(() => void this.failures++);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }, 20);
  }

  /** Stops and waits for the submissions in flight (10 s at most each). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.inflight]);
  }

  /** Ids accepted before `t`. */
  acceptedBefore(t: number): string[] {
    return this.accepted.filter((a) => a.at < t).map((a) => a.id);
  }
}
