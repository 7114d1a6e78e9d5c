/**
 * What operators see of one supporter: its queue (pending items per lane, what is in flight,
 * for how long, with which error), parked items, counters. Never personal data. Pure.
 */
import type { Lane, QueueItem, SupporterState } from "../actors/supporter.actor";

/** One queued item as shown. */
export interface QueueItemView {
  readonly id: string;
  readonly kind: "msg" | "forget";
  readonly source: string | null;
  readonly receivedAt: string;
  readonly types: readonly string[];
  readonly user: string;
  readonly erp: string;
}

/** One lane as shown. */
export interface LaneView {
  readonly inFlight: string | null;
  readonly job: string | null;
  readonly since: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
}

/** A supporter as shown to operators. */
export interface SupporterView {
  readonly hash: string;
  readonly known: boolean;
  readonly pending: { readonly user: number; readonly erp: number; readonly total: number };
  readonly lanes: { readonly user: LaneView; readonly erp: LaneView };
  /** The first 50 queued items, in order. */
  readonly queue: readonly QueueItemView[];
  readonly parked: SupporterState["parked"];
  readonly counts: SupporterState["counts"];
  readonly firstAt: string | null;
  readonly lastAt: string | null;
  readonly forgottenAt: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function lane(l: Lane): LaneView {
  return { inFlight: l.item, job: l.job, since: iso(l.since), attempts: l.attempts, lastError: l.lastError, lastErrorAt: iso(l.lastErrorAt) };
}

function item(i: QueueItem): QueueItemView {
  if (i.kind === "forget") return { id: i.id, kind: "forget", source: null, receivedAt: new Date(i.at).toISOString(), types: [], user: i.done ? "done" : "pending", erp: "none" };
  return { id: i.id, kind: "msg", source: i.source, receivedAt: new Date(i.receivedAt).toISOString(), types: i.types, user: i.user, erp: i.erp };
}

/** The operator view of `state` (undefined: a supporter never seen). */
export function supporterView(hash: string, state: SupporterState | undefined): SupporterView {
  if (!state) {
    const idle: LaneView = { inFlight: null, job: null, since: null, attempts: 0, lastError: null, lastErrorAt: null };
    return { hash, known: false, pending: { user: 0, erp: 0, total: 0 }, lanes: { user: idle, erp: idle }, queue: [], parked: [], counts: { received: 0, userDelivered: 0, erpDelivered: 0, parked: 0, duplicates: 0, erased: 0, forgets: 0, reissued: 0 }, firstAt: null, lastAt: null, forgottenAt: null };
  }
  const user = state.queue.filter((i) => (i.kind === "forget" ? !i.done : i.user === "pending")).length;
  const erp = state.queue.filter((i) => i.kind === "msg" && i.erp === "pending").length;
  return {
    hash,
    known: true,
    pending: { user, erp, total: state.queue.length },
    lanes: { user: lane(state.lanes.user), erp: lane(state.lanes.erp) },
    queue: state.queue.slice(0, 50).map(item),
    parked: state.parked,
    counts: state.counts,
    firstAt: iso(state.firstAt),
    lastAt: iso(state.lastAt),
    forgottenAt: iso(state.forgottenAt),
  };
}
