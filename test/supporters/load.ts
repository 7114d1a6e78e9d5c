/**
 * A load driver shared by the supporters tests and `npm run bench:supporters`: N supporters,
 * each sending M messages one after the other (the next once the previous was acknowledged),
 * spread over five producers of three kinds (HTTP on two nodes, NATS request/reply, JetStream
 * publish), many supporters at once. It records every acknowledgement's latency and checks that
 * each answer carries the expected identity hash.
 */
import { LatencyHistogram } from "../../lib/histogram";
import type { SupporterPayload } from "../../services/supporters/schema";
import { call, expectedHash, payloadOf, type Producers } from "./harness";

/** One producer: where and how it sends. */
export type Producer =
  | {
      readonly kind: "http";
      readonly url: string;
      readonly apiKey: string;
      readonly source: SupporterPayload["source"];
    }
  | { readonly kind: "request"; readonly source: SupporterPayload["source"] }
  | { readonly kind: "publish"; readonly source: SupporterPayload["source"] };

/** The five producers of the tests: HTTP on two gateways, two NATS requesters, one JetStream publisher. */
export function fiveProducers(urls: readonly string[], apiKey: string): Producer[] {
  return [
    { kind: "http", url: urls[0]!, apiKey, source: "giftaid" },
    { kind: "http", url: urls[1 % urls.length]!, apiKey, source: "payments" },
    { kind: "request", source: "sms" },
    { kind: "request", source: "shop" },
    { kind: "publish", source: "justgiving" },
  ];
}

/** The message id Switchyard gives message `k` of supporter `i` from `p`. */
export function messageIdOf(p: Producer, i: number, k: number): string {
  return `${p.source}.s${i}-m${k}`;
}

/** The producer of message `k` of supporter `i`. */
export function producerOf(producers: readonly Producer[], i: number, k: number): Producer {
  return producers[(i + k) % producers.length]!;
}

/** Sends one message; resolves once acknowledged (throws on a refusal or a wrong hash). */
export async function sendOne(nats: Producers, p: Producer, i: number, k: number): Promise<void> {
  const payload = payloadOf(i, k, p.source);
  if (p.kind === "http") {
    const a = await call(`${p.url}/api/v1/supporter-events`, p.apiKey, {
      method: "POST",
      body: JSON.stringify(payload),
    });
    if (a.status !== 202) throw new Error(`HTTP ${a.status}: ${a.text.slice(0, 300)}`);
    if (a.json.hash !== expectedHash(i)) throw new Error(`wrong hash for supporter ${i}`);
    return;
  }
  const { source: _source, ...natsPayload } = payload;
  if (p.kind === "request") {
    const r = await nats.request(p.source, natsPayload);
    if (!r.ok) throw new Error(`request refused: ${JSON.stringify(r.error)}`);
    if (r.hash !== expectedHash(i)) throw new Error(`wrong hash for supporter ${i}`);
    return;
  }
  await nats.publish(p.source, natsPayload, `${p.source}.s${i}-m${k}`);
}

/** Counters of a load run. */
export interface LoadResult {
  readonly sent: number;
  readonly failures: number;
  readonly elapsedMs: number;
  readonly latency: LatencyHistogram;
  readonly byKind: Record<Producer["kind"], LatencyHistogram>;
  /** The first few errors of failed sends (each was retried). */
  readonly errors: readonly string[];
}

/**
 * Sends `perSupporter` messages for each supporter in `supporters`, `concurrency` supporters at
 * a time; a failed send is retried (the message id makes it idempotent) up to 5 times.
 */
export async function runLoad(opts: {
  nats: Producers;
  producers: readonly Producer[];
  supporters: readonly number[];
  perSupporter: number;
  firstMessage?: number;
  concurrency: number;
  onProgress?: (sent: number) => void;
}): Promise<LoadResult> {
  const latency = new LatencyHistogram();
  const byKind = { http: new LatencyHistogram(), request: new LatencyHistogram(), publish: new LatencyHistogram() };
  let sent = 0;
  let failures = 0;
  let next = 0;
  const errors: string[] = [];
  const from = opts.firstMessage ?? 0;
  const start = Date.now();
  async function worker(): Promise<void> {
    for (;;) {
      const idx = next++;
      if (idx >= opts.supporters.length) return;
      const i = opts.supporters[idx]!;
      for (let k = from; k < from + opts.perSupporter; k++) {
        const p = producerOf(opts.producers, i, k);
        for (let attempt = 1; ; attempt++) {
          const t0 = performance.now();
          try {
            await sendOne(opts.nats, p, i, k);
            const ms = performance.now() - t0;
            latency.record(ms);
            byKind[p.kind].record(ms);
            break;
          } catch (err) {
            failures++;
            if (errors.length < 10) errors.push(`${p.kind}: ${(err as Error).message}`.slice(0, 300));
            if (attempt >= 5) throw err;
          }
        }
        sent++;
        if (opts.onProgress && sent % 1000 === 0) opts.onProgress(sent);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.supporters.length) }, () => worker()));
  return { sent, failures, elapsedMs: Date.now() - start, latency, byKind, errors };
}

/** Sends until it succeeds (the message id makes repeats harmless); counts failed tries. */
async function sendSure(nats: Producers, p: Producer, i: number, k: number, onFailure: () => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOne(nats, p, i, k);
    } catch (err) {
      onFailure();
      if (attempt >= 10) throw err;
    }
  }
}

/**
 * Sends at a steady `ratePerSec` for `durationMs`: each tick picks the next supporters (round
 * robin) whose previous message was acknowledged, so each supporter's messages stay in order.
 * Resolves with the messages sent per supporter and the acknowledgement latencies.
 */
export async function runPaced(opts: {
  nats: Producers;
  producers: readonly Producer[];
  supporters: readonly number[];
  ratePerSec: number;
  durationMs: number;
}): Promise<{ sent: Map<number, number>; total: number; failures: number; latency: LatencyHistogram }> {
  const sent = new Map<number, number>(opts.supporters.map((i) => [i, 0]));
  const busy = new Set<number>();
  const latency = new LatencyHistogram();
  const pending = new Set<Promise<void>>();
  let failures = 0;
  let total = 0;
  let cursor = 0;
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((opts.ratePerSec * tickMs) / 1000));
  const end = Date.now() + opts.durationMs;
  let next = Date.now();
  while (Date.now() < end) {
    for (let j = 0; j < perTick; j++) {
      let i: number | undefined;
      for (let scan = 0; scan < opts.supporters.length; scan++) {
        const cand = opts.supporters[cursor++ % opts.supporters.length]!;
        if (!busy.has(cand)) {
          i = cand;
          break;
        }
      }
      if (i === undefined) break;
      const who = i;
      const k = sent.get(who)!;
      busy.add(who);
      const t0 = performance.now();
      const p: Promise<void> = sendSure(opts.nats, producerOf(opts.producers, who, k), who, k, () => failures++).then(
        () => {
          latency.record(performance.now() - t0);
          sent.set(who, k + 1);
          total++;
          busy.delete(who);
          pending.delete(p);
        },
      );
      pending.add(p);
    }
    // pacing the load generator (not waiting for a condition)
    next += tickMs;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  return { sent, total, failures, latency };
}
