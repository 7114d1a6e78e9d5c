/**
 * Canaries, the pure parts: the record kept in KV, its schemas, which version a call goes to,
 * and the verdict over a window of observed answers.
 *
 * A version of a service is what its instances declare: the service schema's
 * `metadata.version`, else its node's `metadata.version`, else {@link DEFAULT_VERSION}. A canary
 * `{ service, version, share, state, baseline, thresholds }` sends `share` of the gateway's
 * calls to that service's instances of `version` and the rest to the others ("running"); all of
 * them to `version` once "promoted"; none once "rolled-back". The verdict compares the canary's
 * error rate (5xx answers) and mean latency with the baseline's over the window.
 */
import type { JsonSchema } from "./routes";

/** The version of an instance that declares none. */
export const DEFAULT_VERSION = "default";

/** States of a canary. */
export const CANARY_STATES = ["running", "promoted", "rolled-back"] as const;
export type CanaryState = (typeof CANARY_STATES)[number];

/** When a canary is judged worse (or good enough). */
export interface CanaryThresholds {
  /** Roll back when the canary's error rate exceeds the baseline's by more than this (0..1). */
  readonly maxErrorRateDelta: number;
  /** Roll back when the canary's mean latency exceeds the baseline's times this. */
  readonly maxLatencyRatio: number;
  /** No verdict before the canary answered this many calls in the window. */
  readonly minRequests: number;
  /** The window of answers compared, milliseconds. */
  readonly windowMs: number;
  /** Promote on its own once healthy for this long with minRequests answered (0: only an admin promotes). */
  readonly promoteAfterMs: number;
}

/** Defaults of {@link CanaryThresholds}. */
export const DEFAULT_THRESHOLDS: CanaryThresholds = {
  maxErrorRateDelta: 0.05,
  maxLatencyRatio: 2,
  minRequests: 20,
  windowMs: 60_000,
  promoteAfterMs: 0,
};

/** A canary, as kept in KV (key: the service) and sent in `gateway.canary.changed`. */
export interface CanaryRecord {
  readonly service: string;
  readonly version: string;
  /** Share of calls sent to the canary while running (0..1). */
  readonly share: number;
  readonly state: CanaryState;
  /** The version compared against; null: every other version of the service. */
  readonly baseline: string | null;
  readonly thresholds: CanaryThresholds;
  /** When it started running (ISO). */
  readonly startedAt: string;
  /** When it last changed (ISO). */
  readonly updatedAt: string;
  /** Why it last changed. */
  readonly reason: string;
  /** Who changed it last: an operator, a client id, or `gateway:<node>` for the gateway's own verdicts. */
  readonly by: string;
}

const THRESHOLDS_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    maxErrorRateDelta: { type: "number", minimum: 0, maximum: 1 },
    maxLatencyRatio: { type: "number", minimum: 1, maximum: 1000 },
    minRequests: { type: "integer", minimum: 1, maximum: 1_000_000 },
    windowMs: { type: "integer", minimum: 1000, maximum: 86_400_000 },
    promoteAfterMs: { type: "integer", minimum: 0, maximum: 7 * 86_400_000 },
  },
} as const;

const VERSION = { type: "string", pattern: "^[A-Za-z0-9._-]{1,64}$" } as const;

/** Path parameter `service`. */
export const SERVICE_NAME_SCHEMA = { type: "string", pattern: "^[a-z][a-z0-9-]{0,63}$" } as const;

/** Body of `PUT /api/v1/admin/canaries/{service}`: start or change a canary, or promote / roll it back. */
export const CANARY_INPUT_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    version: VERSION,
    share: { type: "number", minimum: 0, maximum: 1 },
    state: { type: "string", enum: [...CANARY_STATES] },
    baseline: { anyOf: [VERSION, { type: "null" }] },
    thresholds: THRESHOLDS_SCHEMA,
    reason: { type: "string", maxLength: 500 },
  },
} as const;

/** What an admin sends. */
export interface CanaryInput {
  readonly version?: string;
  readonly share?: number;
  readonly state?: CanaryState;
  readonly baseline?: string | null;
  readonly thresholds?: Partial<CanaryThresholds>;
  readonly reason?: string;
}

/** JSON Schema of a canary record. */
export const CANARY_SCHEMA: JsonSchema = {
  type: "object",
  required: [
    "service",
    "version",
    "share",
    "state",
    "baseline",
    "thresholds",
    "startedAt",
    "updatedAt",
    "reason",
    "by",
  ],
  properties: {
    service: { type: "string" },
    version: { type: "string" },
    share: { type: "number" },
    state: { type: "string", enum: [...CANARY_STATES] },
    baseline: { type: ["string", "null"] },
    thresholds: { ...THRESHOLDS_SCHEMA, additionalProperties: true },
    startedAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
    reason: { type: "string" },
    by: { type: "string" },
  },
};

/**
 * The record after `input` is applied to `prev` (undefined: no canary yet) at `now` by `by`;
 * a message when the input is not a valid change (a new canary needs a version and a share).
 */
export function applyCanaryInput(
  service: string,
  prev: CanaryRecord | undefined,
  input: CanaryInput,
  by: string,
  now: Date,
): CanaryRecord | string {
  const version = input.version ?? prev?.version;
  if (version === undefined) return "a new canary needs a version";
  const restart = !prev || (input.version !== undefined && input.version !== prev.version);
  const share = input.share ?? (restart ? undefined : prev?.share);
  if (share === undefined) return "a new canary needs a share";
  const state = input.state ?? (restart ? "running" : prev!.state);
  const at = now.toISOString();
  return {
    service,
    version,
    share,
    state,
    baseline: input.baseline !== undefined ? input.baseline : (prev?.baseline ?? null),
    thresholds: { ...DEFAULT_THRESHOLDS, ...(restart ? {} : prev?.thresholds), ...input.thresholds },
    startedAt: restart || (state === "running" && prev?.state !== "running") ? at : prev.startedAt,
    updatedAt: at,
    reason: input.reason ?? (restart ? "started" : state !== prev?.state ? state : "changed"),
    by,
  };
}

/** The version group a call goes to under `canary`: `rand` in [0,1). */
export function canaryTarget(canary: CanaryRecord, rand: number): "canary" | "baseline" {
  if (canary.state === "promoted") return "canary";
  if (canary.state === "rolled-back") return "baseline";
  return rand < canary.share ? "canary" : "baseline";
}

/** True when an instance of `version` belongs to the baseline of `canary`. */
export function isBaseline(canary: CanaryRecord, version: string): boolean {
  return version !== canary.version && (canary.baseline === null || canary.baseline === version);
}

/** Answers of one group in the window. */
export interface GroupStats {
  readonly requests: number;
  readonly errors: number;
  readonly meanMs: number;
}

/** What the gateway does about a running canary. */
export type CanaryVerdict =
  | { readonly action: "none"; readonly reason: string }
  | { readonly action: "rollback" | "promote"; readonly reason: string };

/**
 * The verdict on a running canary from its window: roll back when its error rate exceeds the
 * baseline's by more than the threshold, or its mean latency exceeds the baseline's times the
 * ratio (with at least minRequests canary answers); promote once it has been healthy for
 * promoteAfterMs (when set) with minRequests answers; else nothing.
 */
export function judgeCanary(
  canary: CanaryRecord,
  canaryStats: GroupStats,
  baseline: GroupStats,
  now: number,
): CanaryVerdict {
  if (canary.state !== "running") return { action: "none", reason: `not running (${canary.state})` };
  const t = canary.thresholds;
  if (canaryStats.requests < t.minRequests)
    return { action: "none", reason: `${canaryStats.requests} of ${t.minRequests} canary answers` };
  const rate = (g: GroupStats) => (g.requests === 0 ? 0 : g.errors / g.requests);
  const cr = rate(canaryStats);
  const br = rate(baseline);
  if (cr - br > t.maxErrorRateDelta)
    return {
      action: "rollback",
      reason: `error rate ${(cr * 100).toFixed(1)}% against the baseline's ${(br * 100).toFixed(1)}% (threshold +${(t.maxErrorRateDelta * 100).toFixed(1)} points)`,
    };
  // Latency is compared only against a baseline that answered: with none there is no reference.
  if (baseline.requests > 0 && baseline.meanMs > 0 && canaryStats.meanMs > baseline.meanMs * t.maxLatencyRatio)
    return {
      action: "rollback",
      reason: `mean latency ${canaryStats.meanMs.toFixed(1)} ms against the baseline's ${baseline.meanMs.toFixed(1)} ms (threshold x${t.maxLatencyRatio})`,
    };
  if (t.promoteAfterMs > 0 && now - Date.parse(canary.startedAt) >= t.promoteAfterMs)
    return {
      action: "promote",
      reason: `healthy for ${Math.round((now - Date.parse(canary.startedAt)) / 1000)} s: error rate ${(cr * 100).toFixed(1)}% (baseline ${(br * 100).toFixed(1)}%), ${canaryStats.requests} answers`,
    };
  return { action: "none", reason: "healthy" };
}

/** A sliding window of answers per group (canary, baseline), in memory. */
export class CanaryWindow {
  private readonly samples: { at: number; canary: boolean; error: boolean; ms: number }[] = [];
  constructor(private readonly windowMs: () => number) {}

  /** Records one answer. */
  observe(canary: boolean, error: boolean, ms: number, now: number): void {
    this.samples.push({ at: now, canary, error, ms });
    this.trim(now);
  }

  /** Stats of the window at `now`. */
  stats(now: number): { canary: GroupStats; baseline: GroupStats } {
    this.trim(now);
    const g = (c: boolean): GroupStats => {
      let requests = 0;
      let errors = 0;
      let total = 0;
      for (const s of this.samples)
        if (s.canary === c) {
          requests++;
          if (s.error) errors++;
          total += s.ms;
        }
      return { requests, errors, meanMs: requests === 0 ? 0 : total / requests };
    };
    return { canary: g(true), baseline: g(false) };
  }

  /** Forgets everything (a canary restarted or changed state). */
  clear(): void {
    this.samples.length = 0;
  }

  private trim(now: number): void {
    const from = now - this.windowMs();
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.at < from) drop++;
    // bound memory whatever the traffic: the most recent 10,000 answers are plenty for a verdict
    drop = Math.max(drop, this.samples.length - 10_000);
    if (drop > 0) this.samples.splice(0, drop);
  }
}
