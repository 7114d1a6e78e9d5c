/**
 * Settings of the tracking domain (TRACKING_*): the proximity rule (radius, hysteresis, time
 * window, maximum speed, cooldown), the position filters (time, distance, accuracy), expiry,
 * partitions, history retention, and what a `nearby` causes (push, scoring).
 */
import type { EnvReader } from "../../config/env";
import { resolutionFor } from "./cells";
import type { FilterSettings } from "./device.actor";
import type { ProximityRules } from "./proximity";

declare module "../../config" {
  interface DomainConfigs {
    /** Tracking and proximity (services/tracking/). */
    readonly tracking: TrackingConfig;
  }
}

/** Settings of the tracking domain. */
export interface TrackingConfig {
  readonly rules: ProximityRules;
  readonly filters: FilterSettings;
  /** A device that sent nothing for this long is gone: its pairs part, its cells are removed. */
  readonly silenceMs: number;
  /** Partitions of the devices (each owned by one node at a time, by lease). */
  readonly partitions: number;
  readonly leaseTtlMs: number;
  /** How long accepted positions are kept in the history stream (default 30 days). */
  readonly historyMs: number;
  /** ... at most this many bytes (the oldest go first). */
  readonly historyMaxBytes: number;
  /** A `nearby` is pushed to the civilian through `notifications.send`. */
  readonly push: boolean;
  /** A `nearby` scores an encounter through `rewards.score`. */
  readonly score: boolean;
  /** How long the notify job retries before it dead-letters. */
  readonly notifyDeadlineMs: number;
  /** Officer updates are broadcast to every node in batches this often (ms). */
  readonly flushMs: number;
  /**
   * While the node reads its intake this far behind (ms), position batches are dropped unread
   * (counted), so that it catches up instead of being cut off as a slow consumer; 0: never.
   */
  readonly shedLagMs: number;
}

/** Reads the tracking section of the environment. */
export function trackingConfig(r: EnvReader): TrackingConfig {
  const radiusM = r.int("TRACKING_RADIUS_M", 200, 10, 50_000);
  return {
    rules: {
      radiusM,
      hysteresis: r.int("TRACKING_EXIT_PERCENT", 125, 100, 400) / 100,
      windowMs: r.int("TRACKING_WINDOW_MS", 30_000, 1000, 3_600_000),
      maxSpeedMps: r.int("TRACKING_MAX_SPEED_KMH", 15, 1, 500) / 3.6,
      cooldownMs: r.int("TRACKING_COOLDOWN_MS", 600_000, 0, 30 * 86_400_000),
    },
    filters: {
      minIntervalMs: r.int("TRACKING_MIN_INTERVAL_MS", 1000, 0, 3_600_000),
      minDistanceM: r.int("TRACKING_MIN_DISTANCE_M", 5, 0, 10_000),
      heartbeatMs: r.int("TRACKING_HEARTBEAT_MS", 20_000, 1000, 3_600_000),
      maxAccuracyM: r.int("TRACKING_MAX_ACCURACY_M", 100, 1, 100_000),
      res: r.int("TRACKING_RESOLUTION", resolutionFor(radiusM), 0, 15),
    },
    silenceMs: r.int("TRACKING_SILENCE_MS", 60_000, 1000, 86_400_000),
    partitions: r.int("TRACKING_PARTITIONS", 16, 1, 1024),
    leaseTtlMs: r.int("TRACKING_LEASE_TTL_MS", 5000, 500, 120_000),
    historyMs: r.int("TRACKING_HISTORY_DAYS", 30, 1, 3650) * 86_400_000,
    historyMaxBytes: r.int("TRACKING_HISTORY_MAX_MB", 1024, 1, 10_000_000) * 1024 * 1024,
    push: r.bool("TRACKING_PUSH", true),
    score: r.bool("TRACKING_SCORE", true),
    notifyDeadlineMs: r.int("TRACKING_NOTIFY_DEADLINE_MS", 3_600_000, 1000, 7 * 86_400_000),
    flushMs: r.int("TRACKING_FLUSH_MS", 50, 5, 5000),
    shedLagMs: r.int("TRACKING_SHED_LAG_MS", 8000, 0, 600_000),
  };
}
