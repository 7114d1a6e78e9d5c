/**
 * Load for the rewards domain (the fault test and `npm run bench:scoring`): a population of
 * civilians, officers and families opened over HTTP, one encounter rule, a mix of transactions
 * (encounters, donations, giveaways) with a share sent twice, sent through the NATS scoring
 * subject `{ns}.rewards.score` (what other domains use) with retries on timeouts until each
 * transaction's outcome is final. Records each transaction's final outcome and latency.
 */
import type { NatsHandles } from "../../nats";
import { waitFor } from "../support/wait";
import { json } from "./harness";

/** The population: ids per kind. */
export interface Population {
  readonly civilians: readonly string[];
  readonly officers: readonly string[];
  readonly families: readonly string[];
}

/** Opens the population's accounts over HTTP (`concurrency` at a time) and creates one encounter rule (1 point each). */
export async function setupPopulation(
  url: string,
  app: string,
  admin: string,
  n: { civilians: number; officers: number; families: number },
): Promise<Population> {
  const pop: Population = {
    civilians: Array.from({ length: n.civilians }, (_, i) => `civ${i}`),
    officers: Array.from({ length: n.officers }, (_, i) => `off${i}`),
    families: Array.from({ length: n.families }, (_, i) => `fam${i}`),
  };
  const all = [
    ...pop.civilians.map((id) => ({ id, kind: "civilian" })),
    ...pop.officers.map((id) => ({ id, kind: "officer" })),
    ...pop.families.map((id) => ({ id, kind: "family" })),
  ];
  for (let i = 0; i < all.length; i += 25) {
    const rs = await Promise.all(
      all.slice(i, i + 25).map((b) => json(`${url}/api/v1/rewards/accounts`, app, "POST", b)),
    );
    for (const r of rs) if (r.status !== 201 && r.status !== 200) throw new Error(`open failed: ${r.status} ${r.text}`);
  }
  const rule = await json(`${url}/api/v1/admin/rewards/rules`, admin, "POST", {
    name: "every encounter",
    txKind: "encounter",
    points: { from: 1, to: 1 },
  });
  if (rule.status !== 201) throw new Error(`rule: ${rule.text}`);
  await waitFor(
    "rule in force",
    async () => (await json(`${url}/api/v1/rewards/rules/${rule.json.id}`, app, "GET")).status === 200,
    10_000,
    20,
  );
  return pop;
}

/** One transaction request. */
export interface LoadTx {
  readonly id: string;
  readonly kind: "encounter" | "donation" | "giveaway";
  readonly from: string;
  readonly to: string;
  readonly amount?: number;
}

/** `n` transactions: 70% encounters, 20% donations, 10% giveaways, deterministic from `seed`. */
export function makeTransactions(pop: Population, n: number, seed = 1): LoadTx[] {
  let s = seed >>> 0;
  const rnd = (m: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % m;
  };
  const pick = <T>(xs: readonly T[]) => xs[rnd(xs.length)]!;
  return Array.from({ length: n }, (_, i): LoadTx => {
    const r = rnd(10);
    if (r < 7) return { id: `t${i}`, kind: "encounter", from: pick(pop.civilians), to: pick(pop.officers) };
    if (r < 9) return { id: `t${i}`, kind: "donation", from: pick(pop.civilians), to: pick(pop.families), amount: 1 };
    const from = pick(pop.officers);
    let to = pick(pop.officers);
    while (to === from) to = pick(pop.officers);
    return { id: `t${i}`, kind: "giveaway", from, to, amount: 1 };
  });
}

/** The send order: every transaction once, and `dupShare` of them a second time later on. */
export function withDuplicates(txs: readonly LoadTx[], dupShare: number): LoadTx[] {
  const out = [...txs];
  const every = Math.round(1 / dupShare);
  txs.forEach((t, i) => {
    if (i % every === 0) out.splice(Math.min(out.length, i + 1 + ((i * 7) % 500)), 0, t);
  });
  return out;
}

/** What the sender saw. */
export interface LoadResult {
  /** The final outcome status per transaction id. */
  readonly outcomes: Map<string, string>;
  /** Latency (ms) of every send until its final answer. */
  readonly latencies: number[];
  readonly sends: number;
  readonly retries: number;
  readonly duplicatesAnswered: number;
  readonly ms: number;
}

/**
 * Sends `order` through `{ns}.rewards.score`, `concurrency` at a time; a timeout, an error or
 * an "accepted" answer (outcome not yet known) is retried with the same id until final.
 * `onProgress(done)` is called every 500 sends.
 */
export async function sendAll(
  nats: NatsHandles,
  ns: string,
  order: readonly LoadTx[],
  concurrency: number,
  onProgress?: (done: number) => void | Promise<void>,
): Promise<LoadResult> {
  const outcomes = new Map<string, string>();
  const latencies: number[] = [];
  let retries = 0;
  let duplicatesAnswered = 0;
  let next = 0;
  let done = 0;
  const started = Date.now();
  const subject = `${ns}.rewards.score`;
  async function one(t: LoadTx): Promise<void> {
    const t0 = performance.now();
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        retries++;
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
      }
      let reply: {
        ok: boolean;
        outcome?: { status: string; duplicate?: boolean };
        error?: { code: string; message: string };
      };
      try {
        reply = (await nats.nc.request(subject, JSON.stringify(t), { timeout: 8000 })).json();
      } catch {
        continue;
      }
      if (!reply.ok) {
        if (reply.error?.code === "VALIDATION_ERROR" || reply.error?.code === "NOT_FOUND")
          throw new Error(`${t.id}: ${reply.error.message}`);
        continue;
      }
      const st = reply.outcome?.status ?? "accepted";
      if (st === "accepted") continue;
      if (reply.outcome?.duplicate) duplicatesAnswered++;
      const prev = outcomes.get(t.id);
      if (prev !== undefined && prev !== st) throw new Error(`${t.id}: answered ${prev} and then ${st}`);
      outcomes.set(t.id, st);
      latencies.push(performance.now() - t0);
      return;
    }
  }
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < order.length) {
        const t = order[next++]!;
        await one(t);
        done++;
        if (done % 500 === 0) await onProgress?.(done);
      }
    }),
  );
  return { outcomes, latencies, sends: order.length, retries, duplicatesAnswered, ms: Date.now() - started };
}

/** The p-th percentile (0..100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
