/**
 * The device actor (pure): one per device, in memory on the owner of the device's partition.
 * It keeps the last accepted position, its cell and speed, and decides for each position
 * received whether it is accepted (filters by time, distance and accuracy, as AWS Location
 * trackers do) and whether the cell changed (only then is KV cell membership written).
 * A position that is filtered out still proves the device is alive (`seenAt`).
 */
import { haversineM, latLngToCell, type Cell } from "./cells";

/** A device's role: whom it is looking for, or who is looked for. */
export type Role = "civilian" | "officer";

/** One reported position (the intake's payload). */
export interface Position {
  readonly deviceId: string;
  readonly lat: number;
  readonly lng: number;
  /** Horizontal accuracy (m, 68%). */
  readonly accuracy: number;
  /** Ground speed (m/s) if the device measured it; otherwise derived from the last position. */
  readonly speed?: number;
  /** When it was measured (ms since the epoch). */
  readonly at: number;
}

/** The filters of a deployment. */
export interface FilterSettings {
  /** Positions less than this long after the last accepted one are dropped (time filter). */
  readonly minIntervalMs: number;
  /** Positions closer than this to the last accepted one are dropped (distance filter)... */
  readonly minDistanceM: number;
  /** ...unless the last accepted one is this old (a parked device stays fresh). */
  readonly heartbeatMs: number;
  /** Positions less accurate than this are dropped (accuracy filter). */
  readonly maxAccuracyM: number;
  /** The cells' resolution. */
  readonly res: number;
}

/** A device's state. */
export interface DeviceState {
  readonly id: string;
  readonly role: Role;
  readonly user: string;
  readonly lat: number;
  readonly lng: number;
  readonly at: number;
  readonly speed: number;
  readonly cell: Cell | null;
  /** When the last position (accepted or not) arrived, by the owner's clock. */
  readonly seenAt: number;
}

/** Why a position was not accepted. */
export type DropReason = "stale" | "accuracy" | "interval" | "distance";

/** What one position does to a device. */
export type PositionOutcome =
  | { readonly accepted: false; readonly reason: DropReason; readonly state: DeviceState }
  | { readonly accepted: true; readonly state: DeviceState; readonly previousCell: Cell | null };

/** A device that has reported nothing yet. */
export function newDevice(id: string, role: Role, user: string, now: number): DeviceState {
  return { id, role, user, lat: 0, lng: 0, at: 0, speed: 0, cell: null, seenAt: now };
}

/** Applies one position received at `now` (pure). */
export function applyPosition(s: DeviceState, p: Position, now: number, f: FilterSettings): PositionOutcome {
  const seen = { ...s, seenAt: now };
  const first = s.cell === null;
  if (!first && p.at <= s.at) return { accepted: false, reason: "stale", state: seen };
  if (p.accuracy > f.maxAccuracyM) return { accepted: false, reason: "accuracy", state: seen };
  const dt = p.at - s.at;
  const moved = first ? Infinity : haversineM(s.lat, s.lng, p.lat, p.lng);
  if (!first && dt < f.minIntervalMs) return { accepted: false, reason: "interval", state: seen };
  if (!first && moved < f.minDistanceM && dt < f.heartbeatMs)
    return { accepted: false, reason: "distance", state: seen };
  const speed = p.speed ?? (first || dt <= 0 ? 0 : moved / (dt / 1000));
  const cell = latLngToCell(p.lat, p.lng, f.res);
  return {
    accepted: true,
    previousCell: s.cell,
    state: { ...seen, lat: p.lat, lng: p.lng, at: p.at, speed, cell },
  };
}
