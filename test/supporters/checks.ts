/**
 * What the supporters tests check at the simulators: per supporter, the user service and the
 * ERP service received exactly the expected messages, each once, in order, and each message's
 * step 1 (user) before its step 2 (ERP).
 */
import type { Sims } from "./harness";
import { expectedHash } from "./harness";
import { messageIdOf, producerOf, type Producer } from "./load";

/** Supporter `i`'s expected message ids, in sending order. */
export function expectedIds(producers: readonly Producer[], i: number, from: number, to: number): string[] {
  const out: string[] = [];
  for (let k = from; k < to; k++) out.push(messageIdOf(producerOf(producers, i, k), i, k));
  return out;
}

/** Messages expected per supporter: a number for all, or per supporter. */
export type Expected = number | ((i: number) => number);

const countOf = (to: Expected, i: number): number => (typeof to === "number" ? to : to(i));

/** True when both services have every expected message of every supporter. */
export function allDelivered(
  sims: Sims,
  _producers: readonly Producer[],
  supporters: readonly number[],
  to: Expected,
): boolean {
  return supporters.every(
    (i) =>
      sims.erp.book.deliveries(expectedHash(i)).length >= countOf(to, i) &&
      sims.user.book.deliveries(expectedHash(i)).length >= countOf(to, i),
  );
}

/** Counts of delivered messages at both services. */
export function deliveredCount(sims: Sims): { user: number; erp: number } {
  return { user: sims.user.book.size().deliveries, erp: sims.erp.book.size().deliveries };
}

/** How `got` differs from `want`: missing and extra ids, and the first position out of order. */
export function listDifference(got: readonly string[], want: readonly string[]): string {
  const g = new Set(got);
  const w = new Set(want);
  const missing = want.filter((id) => !g.has(id));
  const extra = got.filter((id) => !w.has(id));
  const seen = new Set<string>();
  const twice = got.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  const common = got.filter((id) => w.has(id));
  const wantCommon = want.filter((id) => g.has(id));
  const at = common.findIndex((id, k) => id !== wantCommon[k]);
  const parts: string[] = [];
  const few = (ids: readonly string[]): string =>
    JSON.stringify(ids.slice(0, 5)) + (ids.length > 5 ? ` (+${ids.length - 5})` : "");
  if (missing.length > 0) parts.push(`missing ${few(missing)}`);
  if (extra.length > 0) parts.push(`extra ${few(extra)}`);
  if (twice.length > 0) parts.push(`twice ${few(twice)}`);
  if (at >= 0)
    parts.push(
      `out of order from ${common[at]} (expected ${wantCommon[at]}), got ${few(common.slice(Math.max(0, at - 1), at + 4))}`,
    );
  return parts.join("; ");
}

/**
 * Every problem with what the services received for `supporters` (messages 0..to-1): missing,
 * extra or out-of-order messages, and step 2 before step 1. Empty when all is well; it stops
 * after `limit` problems.
 */
export function orderProblems(
  sims: Sims,
  producers: readonly Producer[],
  supporters: readonly number[],
  to: Expected,
  limit = 20,
): string[] {
  const problems: string[] = [];
  for (const i of supporters) {
    const hash = expectedHash(i);
    const want = expectedIds(producers, i, 0, countOf(to, i));
    const user = sims.user.book.deliveries(hash);
    const erp = sims.erp.book.deliveries(hash);
    const u = user.map((d) => d.messageId);
    const e = erp.map((d) => d.messageId);
    if (JSON.stringify(u) !== JSON.stringify(want))
      problems.push(`supporter ${i}: user service ${listDifference(u, want)} (${u.length} of ${want.length})`);
    if (JSON.stringify(e) !== JSON.stringify(want))
      problems.push(`supporter ${i}: ERP service ${listDifference(e, want)} (${e.length} of ${want.length})`);
    const userOrder = new Map(user.map((d) => [d.messageId, d.order]));
    for (const d of erp) {
      const uo = userOrder.get(d.messageId);
      if (uo === undefined || uo > d.order)
        problems.push(`supporter ${i}: ${d.messageId} reached the ERP service before the user service`);
    }
    if (problems.length > limit) break;
  }
  return problems;
}
