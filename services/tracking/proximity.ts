/**
 * Proximity between a civilian and an officer (pure): the pair's state machine, like Tile38's
 * roaming fences with NODWELL. A pair is `near` once the exact distance is within the radius,
 * both positions are within the time window of each other and neither party moves faster than
 * the maximum speed (no alert for an officer driving past). Entering `near` starts a meeting
 * and emits `nearby` once; staying near emits nothing. The pair leaves `near` when the
 * distance exceeds the exit radius (radius times the hysteresis, so jitter at the edge does
 * not flap) or when either device is gone (silent past the expiry, or paused): that emits
 * `faraway`. A new approach within the cooldown of the last `nearby` is silent: no `nearby`,
 * and no `faraway` when it ends.
 */
import { createHash } from "node:crypto";
import { haversineM } from "./cells";

/** The rule's conditions. */
export interface ProximityRules {
  readonly radiusM: number;
  /** Exit radius = radius × hysteresis (≥ 1). */
  readonly hysteresis: number;
  /** Both positions must be this close in time. */
  readonly windowMs: number;
  /** Neither party faster than this (m/s). */
  readonly maxSpeedMps: number;
  /** After a `nearby`, a new approach within this long sends nothing. */
  readonly cooldownMs: number;
}

/** One party as the rule sees it. */
export interface Party {
  readonly id: string;
  readonly user: string;
  readonly lat: number;
  readonly lng: number;
  readonly at: number;
  readonly speed: number;
  readonly cell: string;
}

/** What the entry conditions read of a party. */
export type Moving = Pick<Party, "lat" | "lng" | "at" | "speed">;

/** A pair's durable state (KV `{ns}_trk_pairs`, key `<partition>.<civilian>.<officer>`). */
export interface PairState {
  readonly civ: string;
  readonly off: string;
  /** When this pair was first recorded: part of every meeting id, so ids never repeat. */
  readonly epoch: number;
  readonly meetings: number;
  readonly near: boolean;
  /** True while near without a `nearby` (cooldown). */
  readonly silent: boolean;
  /** The position time of the last `nearby` (the cooldown runs from it). */
  readonly notifiedAt: number;
  /** Events decided but not yet known to be published (re-published after a takeover). */
  readonly outbox: readonly ProximityEvent[];
}

/** A civilian-facing event: the officer's cell, never the officer's position. */
export interface ProximityEvent {
  readonly type: "nearby" | "faraway";
  /** The meeting's id (idempotency key of everything it causes). */
  readonly id: string;
  readonly meetingId: string;
  readonly civilian: string;
  readonly civilianUser: string;
  readonly officer: string;
  readonly officerUser: string;
  /** The officer's cell (at the deployment's resolution). */
  readonly cell: string;
  /** faraway: why. */
  readonly reason?: "parted" | "gone";
  /** Position times of both parties when decided (the bench measures latency from them). */
  readonly civilianAt: number;
  readonly officerAt: number;
  readonly at: number;
}

/** A pair never seen. */
export function newPair(civ: string, off: string, epoch: number): PairState {
  return { civ, off, epoch, meetings: 0, near: false, silent: false, notifiedAt: 0, outbox: [] };
}

/** The id of meeting `n` of a pair (stable, short, one KV/subject token). */
export function meetingId(p: PairState, n: number): string {
  return `m${createHash("sha256").update(`${p.civ}|${p.off}|${p.epoch}|${n}`).digest("base64url").slice(0, 22)}`;
}

function event(
  p: PairState,
  type: ProximityEvent["type"],
  c: Party,
  o: Party,
  now: number,
  reason?: "parted" | "gone",
): ProximityEvent {
  const mid = meetingId(p, p.meetings);
  return {
    type,
    id: `${type === "nearby" ? "n" : "f"}${mid}`,
    meetingId: mid,
    civilian: c.id,
    civilianUser: c.user,
    officer: o.id,
    officerUser: o.user,
    cell: o.cell,
    ...(reason ? { reason } : {}),
    civilianAt: c.at,
    officerAt: o.at,
    at: now,
  };
}

/** The outcome of one evaluation: the new state, and the event it emits (if any). */
export interface PairOutcome {
  readonly pair: PairState;
  readonly event?: ProximityEvent;
}

/** True when the two parties meet the rule's entry conditions. */
export function meets(c: Moving, o: Moving, r: ProximityRules): boolean {
  if (Math.abs(c.at - o.at) > r.windowMs) return false;
  if (c.speed > r.maxSpeedMps || o.speed > r.maxSpeedMps) return false;
  return haversineM(c.lat, c.lng, o.lat, o.lng) <= r.radiusM;
}

/** Evaluates a pair after either party moved (pure). */
export function evaluatePair(p: PairState, c: Party, o: Party, now: number, r: ProximityRules): PairOutcome {
  if (!p.near) {
    if (!meets(c, o, r)) return { pair: p };
    if (p.meetings > 0 && c.at - p.notifiedAt < r.cooldownMs) return { pair: { ...p, near: true, silent: true } };
    const started: PairState = { ...p, near: true, silent: false, meetings: p.meetings + 1, notifiedAt: c.at };
    const e = event(started, "nearby", c, o, now);
    return { pair: { ...started, outbox: [...p.outbox, e] }, event: e };
  }
  if (haversineM(c.lat, c.lng, o.lat, o.lng) <= r.radiusM * r.hysteresis) return { pair: p };
  return part(p, c, o, now, "parted");
}

/** Ends a pair's meeting because a party is gone (silent past the expiry, or paused). */
export function goneFromPair(p: PairState, c: Party, o: Party, now: number): PairOutcome {
  if (!p.near) return { pair: p };
  return part(p, c, o, now, "gone");
}

function part(p: PairState, c: Party, o: Party, now: number, reason: "parted" | "gone"): PairOutcome {
  const ended: PairState = { ...p, near: false, silent: false };
  if (p.silent) return { pair: ended };
  const e = event(p, "faraway", c, o, now, reason);
  return { pair: { ...ended, outbox: [...p.outbox, e] }, event: e };
}
