/** Shared parts of the payment provider simulators: run-time faults, idempotency, webhook delivery with retries. */
import { httpRequest } from "../../lib/http-client";
import type { Logger } from "../../lib/logger";

/** Faults and behaviour settable at run time (`PUT /admin/config`). */
export interface ProviderSimConfig {
  /** Refuse every API call with 503 (no state change). */
  readonly outage: boolean;
  /** Added to every API answer. */
  readonly latencyMs: number;
  /** Where webhooks go ("" for none). */
  readonly webhookUrl: string;
  /**
   * When the webhook of a state change is sent: "after" the API answer (default), "before" it
   * (delivered, then the answer), or "none" (lost: only a status query finds the change).
   */
  readonly webhook: "after" | "before" | "none";
  /** Delay of an "after" webhook. */
  readonly webhookDelayMs: number;
  /** Send every webhook twice. */
  readonly duplicateWebhooks: boolean;
  /** Amounts (minor units) that are declined. */
  readonly declineAmounts: readonly number[];
  /** Card: answer authorisations 202 pending (result by webhook only). Wallet: approve checkouts at once (no buyer redirect). */
  readonly async: boolean;
}

/** Defaults: healthy, webhooks right after the answer. */
export const DEFAULT_PROVIDER_SIM: ProviderSimConfig = {
  outage: false,
  latencyMs: 0,
  webhookUrl: "",
  webhook: "after",
  webhookDelayMs: 0,
  duplicateWebhooks: false,
  declineAmounts: [],
  async: false,
};

/** Merges a JSON patch into `c`, or lists what is wrong with it. */
export function mergeProviderSim(
  c: ProviderSimConfig,
  patch: unknown,
): { config: ProviderSimConfig } | { problems: string[] } {
  if (typeof patch !== "object" || patch === null) return { problems: ["the configuration is a JSON object"] };
  const p: Record<string, unknown> = { ...patch };
  const problems: string[] = [];
  const out: { -readonly [K in keyof ProviderSimConfig]: ProviderSimConfig[K] } = { ...c };
  for (const [k, v] of Object.entries(p)) {
    if ((k === "outage" || k === "duplicateWebhooks" || k === "async") && typeof v === "boolean") out[k] = v;
    else if ((k === "latencyMs" || k === "webhookDelayMs") && typeof v === "number" && v >= 0 && v <= 600_000)
      out[k] = v;
    else if (k === "webhookUrl" && typeof v === "string") out.webhookUrl = v;
    else if (k === "webhook" && (v === "after" || v === "before" || v === "none")) out.webhook = v;
    else if (k === "declineAmounts" && Array.isArray(v) && v.every((n) => typeof n === "number"))
      out.declineAmounts = v.filter((n): n is number => typeof n === "number");
    else problems.push(`${k}: unknown setting or bad value`);
  }
  return problems.length > 0 ? { problems } : { config: out };
}

/** Counters every provider simulator keeps (`GET /admin/summary`). */
export interface ProviderSimCounters {
  requests: number;
  outageRefusals: number;
  /** Calls that repeated an idempotency key (answered from the first call, nothing done again). */
  duplicates: number;
  webhooksSent: number;
  webhooksFailed: number;
}

/** Remembers the answer of each idempotency key. */
export class IdempotencyBook {
  private readonly answers = new Map<string, { status: number; body: unknown }>();
  constructor(private readonly counters: ProviderSimCounters) {}
  /** The first answer of `key`, counting the repeat. */
  replay(key: string): { status: number; body: unknown } | undefined {
    const a = this.answers.get(key);
    if (a) this.counters.duplicates++;
    return a;
  }
  record(key: string, status: number, body: unknown): void {
    this.answers.set(key, { status, body });
  }
}

/** Delivers signed webhooks, retrying failures (1 s doubling, 8 tries); `close` stops retries. */
export class WebhookSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  constructor(
    private readonly log: Logger,
    private readonly counters: ProviderSimCounters,
  ) {}

  /** Sends once now; resolves when answered (2xx) or after the first failure (then retried in the background). */
  async send(url: string, body: string, headers: Record<string, string>, attempt = 1): Promise<boolean> {
    if (this.closed || url === "") return false;
    let ok = false;
    try {
      const res = await httpRequest(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body,
        signal: AbortSignal.timeout(5000),
      });
      ok = res.status >= 200 && res.status < 300;
      if (!ok) this.log.debug({ status: res.status, url }, "webhook refused");
    } catch (err) {
      this.log.debug({ err: String(err), url }, "webhook not delivered");
    }
    if (ok) this.counters.webhooksSent++;
    else {
      this.counters.webhooksFailed++;
      if (attempt < 8)
        this.later(Math.min(30_000, 1000 * 2 ** (attempt - 1)), () => void this.send(url, body, headers, attempt + 1));
    }
    return ok;
  }

  /** Runs `fn` after `ms` unless closed. */
  later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
