/**
 * The chaos rig's steady loads besides receipts (test/receipts/harness.ts has that one). Each
 * behaves as a careful producer: a send that fails (connection refused or reset, 5xx, 429) is
 * retried with the same message or event id on the next gateway, so nothing is lost or doubled
 * by the producer itself; what the platform then loses or doubles is the platform's.
 */
import type { Sims as SupporterSims } from "../supporters/harness";
import { expectedHash, payloadOf } from "../supporters/harness";
import { orderProblems } from "../supporters/checks";
import type { Producer } from "../supporters/load";
import { answerOf, type Answer } from "../support/http";

/** POSTs JSON with the API key; gives up after 10 s (a stalled node must not stall the load). */
async function post(url: string, apiKey: string, body: string): Promise<Answer> {
  const res = await fetch(url, {
    method: "POST",
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return answerOf(res);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const backoff = (attempt: number): number => Math.min(2000, 100 * 2 ** attempt);

/** Counts an error by its code. */
function count(errors: Map<string, number>, code: string): void {
  errors.set(code, (errors.get(code) ?? 0) + 1);
}

const codeOf = (err: unknown): string =>
  (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code ?? (err as Error).name;

/** Retryable answers: the producer tries again (same id). */
const retryable = (status: number): boolean => status >= 500 || status === 429;

/**
 * A supporter sends at most one message per this interval (20 supporters: 40 messages/s). Steady
 * load the two nodes deliver on this box, each message to two services one after the other; the
 * previous pace (as fast as acknowledged, 50 ms apart) offered more than the per-supporter
 * delivery rate, so a row's backlog, not its fault, decided whether it drained within the settle
 * time, and the accepted counts varied from 3,000 to 21,000 between runs of the same row.
 */
export const SUPPORTER_INTERVAL_MS = 500;

/**
 * Supporters, each sending its messages one after the other (the next once the previous was
 * acknowledged), so per-supporter order is defined: the services must receive m0, m1, ... in
 * that order, each once.
 */
export class SupporterLoad {
  readonly errors = new Map<string, number>();
  /** Supporter index → messages acknowledged. */
  private readonly acked = new Map<number, number>();
  private readonly loops: Promise<void>[] = [];
  private running = false;
  /** Supporter indexes of this load (fresh ones per load, so rows do not share supporters). */
  private readonly base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 100;
  private static readonly producer: Producer = { kind: "publish", source: "giftaid" };

  constructor(
    private readonly gateways: () => readonly string[],
    private readonly apiKey: string,
  ) {}

  /** Starts `n` supporters. */
  start(n: number): void {
    this.running = true;
    for (let j = 0; j < n; j++) this.loops.push(this.supporter(this.base + j));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async supporter(i: number): Promise<void> {
    this.acked.set(i, 0);
    for (let k = 0; this.running; k++) {
      const started = Date.now();
      if (!(await this.send(i, k))) return;
      this.acked.set(i, k + 1);
      await sleep(Math.max(0, SUPPORTER_INTERVAL_MS - (Date.now() - started)));
    }
  }

  /** Sends message k of supporter i until acknowledged; false if refused for good. */
  private async send(i: number, k: number): Promise<boolean> {
    const body = JSON.stringify(payloadOf(i, k, "giftaid"));
    for (let attempt = 0; attempt < 200; attempt++) {
      const gws = this.gateways();
      const gw = gws[(i + attempt) % Math.max(1, gws.length)];
      if (gw !== undefined) {
        try {
          const a = await post(`${gw}/api/v1/supporter-events`, this.apiKey, body);
          if (a.status === 202) {
            if (a.json?.hash !== expectedHash(i)) count(this.errors, "wrong hash");
            return true;
          }
          count(this.errors, String(a.status));
          if (!retryable(a.status)) return false;
        } catch (err) {
          count(this.errors, codeOf(err));
        }
      }
      await sleep(backoff(attempt));
    }
    count(this.errors, "gave up");
    return false;
  }

  /** Messages acknowledged. */
  acceptedCount(): number {
    return [...this.acked.values()].reduce((a, b) => a + b, 0);
  }

  private expected(i: number): string[] {
    return Array.from({ length: this.acked.get(i) ?? 0 }, (_, k) => `giftaid.s${i}-m${k}`);
  }

  /** Acknowledged messages that have not reached both services. */
  missing(sims: SupporterSims): number {
    let n = 0;
    for (const i of this.acked.keys()) {
      const hash = expectedHash(i);
      const user = new Set(sims.user.book.deliveries(hash).map((d) => d.messageId));
      const erp = new Set(sims.erp.book.deliveries(hash).map((d) => d.messageId));
      for (const id of this.expected(i)) if (!user.has(id) || !erp.has(id)) n++;
    }
    return n;
  }

  /** Acknowledged messages missing at each service. */
  missingAt(sims: SupporterSims): { user: number; erp: number } {
    let user = 0;
    let erp = 0;
    for (const i of this.acked.keys()) {
      const hash = expectedHash(i);
      const u = new Set(sims.user.book.deliveries(hash).map((d) => d.messageId));
      const e = new Set(sims.erp.book.deliveries(hash).map((d) => d.messageId));
      for (const id of this.expected(i)) {
        if (!u.has(id)) user++;
        if (!e.has(id)) erp++;
      }
    }
    return { user, erp };
  }

  /** Per supporter (identity hash) with acknowledged messages missing at a service: those message ids. */
  missingBySupporter(sims: SupporterSims): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const i of this.acked.keys()) {
      const hash = expectedHash(i);
      const user = new Set(sims.user.book.deliveries(hash).map((d) => d.messageId));
      const erp = new Set(sims.erp.book.deliveries(hash).map((d) => d.messageId));
      const ids = this.expected(i).filter((id) => !user.has(id) || !erp.has(id));
      if (ids.length > 0) out.set(hash, ids);
    }
    return out;
  }

  /** Messages a service received as a second first delivery (a double effect). */
  doubleDeliveries(sims: SupporterSims): number {
    let n = 0;
    for (const i of this.acked.keys()) {
      const hash = expectedHash(i);
      for (const book of [sims.user.book, sims.erp.book]) {
        const ids = book.deliveries(hash).map((d) => d.messageId);
        n += ids.length - new Set(ids).size;
      }
    }
    return n;
  }

  /** Per-supporter order problems (missing, extra, out of order, ERP before the user service). */
  orderViolations(sims: SupporterSims): string[] {
    return orderProblems(
      sims,
      [SupporterLoad.producer],
      [...this.acked.keys()],
      (i) => this.acked.get(i) ?? 0,
      Infinity,
    );
  }
}

/** Tenant events in batches of ten, every eventId unique, retried with the same ids. */
export class TenantEventLoad {
  readonly errors = new Map<string, number>();
  /** Event ids acknowledged with 202. */
  readonly accepted = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private n = 0;
  private readonly prefix = `ev-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly gateways: () => readonly string[],
    private readonly apiKey: string,
    private readonly clientId: string,
  ) {}

  /** Starts `rate` events per second. */
  start(rate: number): void {
    const started = Date.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent + 10 <= due) {
        const ids = Array.from({ length: 10 }, () => `${this.prefix}-${this.n++}`);
        sent += 10;
        const p = this.submit(ids);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }, 100);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async submit(ids: readonly string[]): Promise<void> {
    const body = JSON.stringify(
      ids.map((eventId, j) => ({
        clientId: this.clientId,
        eventId,
        type: "chaos.tick",
        timestamp: new Date().toISOString(),
        data: { n: j },
      })),
    );
    for (let attempt = 0; attempt < 200; attempt++) {
      const gws = this.gateways();
      const gw = gws[attempt % Math.max(1, gws.length)];
      if (gw !== undefined) {
        try {
          const a = await post(`${gw}/api/v1/events`, this.apiKey, body);
          if (a.status === 202) {
            for (const id of ids) this.accepted.add(id);
            return;
          }
          count(this.errors, String(a.status));
          if (!retryable(a.status)) return;
        } catch (err) {
          count(this.errors, codeOf(err));
        }
      }
      await sleep(backoff(attempt));
    }
    count(this.errors, "gave up");
  }
}
