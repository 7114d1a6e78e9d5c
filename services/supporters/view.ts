/**
 * What operators see of one supporter: its queue (pending items per lane, what is in flight,
 * for how long, with which error), parked items, counters. Never personal data. Pure.
 *
 * Two views: the operator's (everything), and one client's: only the items it sent, a lane only
 * while it carries one of them, and counters from its own rows of the event log (a client never
 * learns what other tenants sent about the same supporter, nor how much).
 */
import type { Lane, QueueItem, QueuedMessage, SupporterState } from "./supporter.actor";
import type { ClientLogSummary } from "./store";

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

/** The counters a client sees: its own messages only (from its rows of the event log). */
export type ClientCounts = Pick<
  SupporterState["counts"],
  "received" | "userDelivered" | "erpDelivered" | "parked" | "erased"
>;

/** A supporter as one client sees it: {@link SupporterView} of its own items, with its own counters. */
export type ClientSupporterView = Omit<SupporterView, "counts"> & { readonly counts: ClientCounts };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function lane(l: Lane): LaneView {
  return {
    inFlight: l.item,
    job: l.job,
    since: iso(l.since),
    attempts: l.attempts,
    lastError: l.lastError,
    lastErrorAt: iso(l.lastErrorAt),
  };
}

function item(i: QueueItem): QueueItemView {
  if (i.kind === "forget")
    return {
      id: i.id,
      kind: "forget",
      source: null,
      receivedAt: new Date(i.at).toISOString(),
      types: [],
      user: i.done ? "done" : "pending",
      erp: "none",
    };
  return {
    id: i.id,
    kind: "msg",
    source: i.source,
    receivedAt: new Date(i.receivedAt).toISOString(),
    types: i.types,
    user: i.user,
    erp: i.erp,
  };
}

/** True when `client` sent a message that `state` still holds (queued or parked). */
export function holdsItemOf(state: SupporterState | undefined, client: string): boolean {
  if (!state) return false;
  return (
    state.queue.some((i) => i.kind === "msg" && i.client === client) || state.parked.some((p) => p.client === client)
  );
}

/**
 * The view of `state` for `client`: its own queued and parked items, a lane only while it
 * carries one of them, counters and times from `summary` (its rows of the event log), and the
 * supporter's forget time only when that forget came after the client's first message (it
 * erased the client's data). The caller checked that the client owns something of `hash`.
 */
export function clientSupporterView(
  hash: string,
  state: SupporterState | undefined,
  client: string,
  summary: ClientLogSummary,
): ClientSupporterView {
  const all = supporterView(hash, state);
  const mine = (state?.queue ?? []).filter((i): i is QueuedMessage => i.kind === "msg" && i.client === client);
  const ids = new Set(mine.map((i) => i.id));
  const idle: LaneView = { inFlight: null, job: null, since: null, attempts: 0, lastError: null, lastErrorAt: null };
  const own = (l: LaneView): LaneView => (l.inFlight !== null && ids.has(l.inFlight) ? l : idle);
  const user = mine.filter((i) => i.user === "pending").length;
  const erp = mine.filter((i) => i.erp === "pending").length;
  // The event log may trail the actor by a batch: its queue fills in what the log has not yet.
  const firstMs = summary.firstAt !== null ? Date.parse(summary.firstAt) : (mine[0]?.receivedAt ?? null);
  const lastMs = summary.lastAt !== null ? Date.parse(summary.lastAt) : (mine[mine.length - 1]?.receivedAt ?? null);
  const forgot = state?.forgottenAt ?? null;
  return {
    hash,
    known: true,
    pending: { user, erp, total: mine.length },
    lanes: { user: own(all.lanes.user), erp: own(all.lanes.erp) },
    queue: mine.slice(0, 50).map(item),
    parked: (state?.parked ?? []).filter((p) => p.client === client),
    counts: {
      received: summary.received,
      userDelivered: summary.userDelivered,
      erpDelivered: summary.erpDelivered,
      parked: summary.parked,
      erased: summary.erased,
    },
    firstAt: iso(firstMs),
    lastAt: iso(lastMs),
    forgottenAt: forgot !== null && firstMs !== null && forgot >= firstMs ? iso(forgot) : null,
  };
}

/** The operator view of `state` (undefined: a supporter never seen). */
export function supporterView(hash: string, state: SupporterState | undefined): SupporterView {
  if (!state) {
    const idle: LaneView = { inFlight: null, job: null, since: null, attempts: 0, lastError: null, lastErrorAt: null };
    return {
      hash,
      known: false,
      pending: { user: 0, erp: 0, total: 0 },
      lanes: { user: idle, erp: idle },
      queue: [],
      parked: [],
      counts: {
        received: 0,
        userDelivered: 0,
        erpDelivered: 0,
        parked: 0,
        duplicates: 0,
        erased: 0,
        forgets: 0,
        reissued: 0,
      },
      firstAt: null,
      lastAt: null,
      forgottenAt: null,
    };
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
