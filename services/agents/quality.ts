/**
 * The quality agent's pure core: the quality model (data: SLOs per service and route, and the
 * freshness limits of queues), the interaction window it is measured on, error budgets and burn
 * rates over a short and a long window, and the forecast of a canary from its observed share.
 *
 * An interaction is bad for availability when its status is 5xx (a 4xx is the caller's error)
 * and slow when its latency is above the SLO's `p99Ms`. The SLO says what fraction must be good
 * (`availability`, e.g. 0.99) and that 99% must be fast; the error budget is the rest
 * (1 - target). A burn rate is the bad fraction divided by the budget: 1 spends the budget
 * exactly over the window, above 1 spends it faster.
 */
import { LatencyHistogram } from "../../lib/histogram";
import type { JsonSchema } from "../../gateway/routes";
import type { Observation, Severity } from "./findings";

/** One record of the interactions stream (the gateway publishes them; no bodies, no secrets). */
import type { Interaction } from "../../gateway/interactions";
export type { Interaction };

/** Parses an interaction record; undefined for anything that is not one. */
export function interactionOf(v: unknown): Interaction | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof r[k] === "string" ? r[k] : undefined);
  const at = str("at");
  const route = str("route");
  const method = str("method");
  const service = str("service");
  const status = r["status"];
  const latencyMs = r["latencyMs"];
  if (!at || !route || !method || !service || Number.isNaN(Date.parse(at))) return undefined;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) return undefined;
  if (typeof latencyMs !== "number" || !Number.isFinite(latencyMs) || latencyMs < 0) return undefined;
  return {
    at,
    route,
    method,
    service,
    version: str("version") ?? "",
    client: str("client") ?? "",
    status,
    latencyMs,
    requestId: str("requestId") ?? "",
    ...(r["batch"] === true ? { batch: true } : {}),
  };
}

/** One SLO: of a service (`*`: each service on its own), optionally of one route (`METHOD /path`). */
export interface Slo {
  readonly id: string;
  readonly service: string;
  readonly route?: string;
  /** Fraction of interactions that must not be 5xx, e.g. 0.99. */
  readonly availability: number;
  /** 99% of interactions must be at most this fast (ms). */
  readonly p99Ms: number;
}

/** Freshness of the queues: streams matching `stream` (suffix after `{NS}_`, `*`: all). */
export interface FreshnessSlo {
  readonly stream: string;
  /** The oldest message a consumer has not acked may be at most this old (ms). */
  readonly maxAgeMs: number;
  /** A consumer may have at most this many messages not yet acked. */
  readonly maxPending: number;
}

/** The quality model: data, stored in KV, replaced through the admin route or the REPL. */
export interface QualityModel {
  readonly slos: readonly Slo[];
  readonly freshness: readonly FreshnessSlo[];
  /** Windows burn rates are measured over. */
  readonly windows: { readonly shortMs: number; readonly longMs: number };
  /** Fewer interactions than this in a window say nothing (no burn finding). */
  readonly minRequests: number;
}

/** The model a namespace starts with. */
export const DEFAULT_MODEL: QualityModel = {
  slos: [{ id: "service", service: "*", availability: 0.99, p99Ms: 1000 }],
  freshness: [{ stream: "*", maxAgeMs: 5 * 60_000, maxPending: 100_000 }],
  windows: { shortMs: 5 * 60_000, longMs: 60 * 60_000 },
  minRequests: 20,
};

const ID = { type: "string", pattern: "^[a-z0-9][a-z0-9_.-]{0,63}$" } as const;

/** JSON Schema of the model (the PUT route validates against it). */
export const MODEL_SCHEMA: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["slos", "freshness", "windows", "minRequests"],
  properties: {
    slos: {
      type: "array",
      maxItems: 500,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["id", "service", "availability", "p99Ms"],
        properties: {
          id: ID,
          service: { type: "string", pattern: "^(\\*|[A-Za-z0-9$][A-Za-z0-9_.$-]{0,99})$" },
          route: { type: "string", pattern: "^(GET|POST|PUT|PATCH|DELETE) /[^\\s]{0,300}$" },
          availability: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
          p99Ms: { type: "number", exclusiveMinimum: 0, maximum: 600_000 },
        },
      },
    },
    freshness: {
      type: "array",
      maxItems: 200,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["stream", "maxAgeMs", "maxPending"],
        properties: {
          stream: { type: "string", pattern: "^(\\*|[A-Z0-9_-]{1,100})$" },
          maxAgeMs: { type: "integer", minimum: 1, maximum: 30 * 86_400_000 },
          maxPending: { type: "integer", minimum: 0, maximum: 1_000_000_000 },
        },
      },
    },
    windows: {
      type: "object",
      additionalProperties: false,
      required: ["shortMs", "longMs"],
      properties: {
        shortMs: { type: "integer", minimum: 1000, maximum: 86_400_000 },
        longMs: { type: "integer", minimum: 1000, maximum: 7 * 86_400_000 },
      },
    },
    minRequests: { type: "integer", minimum: 1, maximum: 1_000_000 },
  },
  example: DEFAULT_MODEL,
};

/** What the schema cannot say: unique ids, short window within the long one. One line per problem. */
export function modelProblems(m: QualityModel): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  m.slos.forEach((s, i) => {
    if (seen.has(s.id)) out.push({ path: `/slos/${i}/id`, message: `id ${s.id} is used twice` });
    seen.add(s.id);
  });
  if (m.windows.shortMs > m.windows.longMs)
    out.push({ path: "/windows/shortMs", message: "must not be longer than longMs" });
  return out;
}

/** Counts of one bucket of time. */
interface Bucket {
  start: number;
  total: number;
  bad: number;
  readonly slowOver: Map<number, number>;
  readonly hist: LatencyHistogram;
}

/** What a window says about a set of interactions. */
export interface WindowStats {
  readonly total: number;
  /** 5xx answers. */
  readonly bad: number;
  /** Slower than the SLO's p99Ms. */
  readonly slow: number;
  readonly p99Ms: number;
}

const BUCKETS = 60;

/**
 * The interactions of the last `longMs`, in 60 buckets per (service, version, route), each with
 * counts and a latency histogram: fixed memory per key whatever the traffic.
 */
export class InteractionWindow {
  private readonly keys = new Map<string, { service: string; version: string; route: string; buckets: Bucket[] }>();
  private thresholds: readonly number[] = [];
  /** Interactions recorded since start. */
  recorded = 0;

  constructor(private longMs: number) {}

  /** The latency limits (ms) whose "slower than" counts are kept: the model's p99Ms values. */
  setThresholds(ms: readonly number[], longMs: number): void {
    this.thresholds = [...new Set(ms)].sort((a, b) => a - b);
    if (longMs !== this.longMs) {
      this.longMs = longMs;
      this.keys.clear();
    }
  }

  private get bucketMs(): number {
    return Math.max(1, Math.floor(this.longMs / BUCKETS));
  }

  /** Records one interaction (older than the window: ignored). */
  record(i: Interaction, now = Date.now()): void {
    const at = Date.parse(i.at);
    if (at < now - this.longMs) return;
    const route = `${i.method} ${i.route}`;
    const key = `${i.service}\u0000${i.version}\u0000${route}`;
    let k = this.keys.get(key);
    if (!k) {
      k = { service: i.service, version: i.version, route, buckets: [] };
      this.keys.set(key, k);
    }
    const start = at - (at % this.bucketMs);
    let b = k.buckets.find((x) => x.start === start);
    if (!b) {
      b = { start, total: 0, bad: 0, slowOver: new Map(), hist: new LatencyHistogram() };
      k.buckets.push(b);
      k.buckets.sort((x, y) => x.start - y.start);
      while (k.buckets.length > BUCKETS + 1) k.buckets.shift();
    }
    b.total++;
    if (i.status >= 500) b.bad++;
    for (const t of this.thresholds) if (i.latencyMs > t) b.slowOver.set(t, (b.slowOver.get(t) ?? 0) + 1);
    b.hist.record(i.latencyMs);
    this.recorded++;
  }

  /** Services seen in the window. */
  services(now = Date.now()): string[] {
    const out = new Set<string>();
    for (const k of this.keys.values()) if (k.buckets.some((b) => b.start >= now - this.longMs)) out.add(k.service);
    return [...out].sort();
  }

  /**
   * Stats of the last `windowMs` for interactions matching `match`, "slow" meaning above
   * `p99Ms` (one of the thresholds).
   */
  stats(
    windowMs: number,
    p99Ms: number,
    match: (k: { service: string; version: string; route: string }) => boolean,
    now = Date.now(),
  ): WindowStats {
    const from = now - windowMs;
    const hist = new LatencyHistogram();
    let total = 0;
    let bad = 0;
    let slow = 0;
    for (const k of this.keys.values()) {
      if (!match(k)) continue;
      for (const b of k.buckets) {
        // a bucket counts when it ends inside the window
        if (b.start + this.bucketMs <= from) continue;
        total += b.total;
        bad += b.bad;
        slow += b.slowOver.get(p99Ms) ?? 0;
        hist.merge(b.hist);
      }
    }
    return { total, bad, slow, p99Ms: hist.percentile(0.99) };
  }

  /** Drops buckets that left the window. */
  prune(now = Date.now()): void {
    for (const [key, k] of this.keys) {
      k.buckets = k.buckets.filter((b) => b.start + this.bucketMs > now - this.longMs);
      if (k.buckets.length === 0) this.keys.delete(key);
    }
  }
}

/** The evaluation of one SLO instance (an SLO of `*` has one per service). */
export interface SloStatus {
  readonly slo: string;
  readonly service: string;
  readonly route: string | null;
  readonly availability: number;
  readonly p99Ms: number;
  readonly short: WindowStats & { readonly availabilityBurn: number; readonly latencyBurn: number };
  readonly long: WindowStats & { readonly availabilityBurn: number; readonly latencyBurn: number };
  /** Fraction of the long window's availability budget left (negative: overspent). */
  readonly budgetRemaining: number;
}

/** The SLO id and service an evaluation is known by in findings and metrics. */
export function sloSubject(s: {
  readonly slo: string;
  readonly service: string;
  readonly route: string | null;
}): string {
  return `${s.slo}:${s.service}${s.route ? ` ${s.route}` : ""}`;
}

/** bad / (budget * total): 0 without traffic. */
export function burnRate(bad: number, total: number, target: number): number {
  if (total === 0) return 0;
  return bad / total / (1 - target);
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** Evaluates every SLO of `model` over `w` now. */
export function evaluateSlos(model: QualityModel, w: InteractionWindow, now = Date.now()): SloStatus[] {
  const out: SloStatus[] = [];
  for (const slo of model.slos) {
    const services = slo.service === "*" ? w.services(now) : [slo.service];
    for (const service of services) {
      const match = (k: { service: string; route: string }) =>
        k.service === service && (slo.route === undefined || k.route === slo.route);
      const at = (ms: number) => {
        const s = w.stats(ms, slo.p99Ms, match, now);
        return {
          ...s,
          availabilityBurn: round(burnRate(s.bad, s.total, slo.availability)),
          latencyBurn: round(burnRate(s.slow, s.total, 0.99)),
        };
      };
      const long = at(model.windows.longMs);
      out.push({
        slo: slo.id,
        service,
        route: slo.route ?? null,
        availability: slo.availability,
        p99Ms: slo.p99Ms,
        short: at(model.windows.shortMs),
        long,
        budgetRemaining: round(1 - long.availabilityBurn),
      });
    }
  }
  return out;
}

/** Burn rates at or above these are critical / high; above 1, medium. */
export const BURN_CRITICAL = 14.4;
export const BURN_HIGH = 6;

function burnSeverity(short: number, long: number): Severity | undefined {
  const both = Math.min(short, long);
  if (both >= BURN_CRITICAL) return "critical";
  if (both >= BURN_HIGH) return "high";
  if (both > 1) return "medium";
  return undefined;
}

/**
 * Burn findings: an SLO whose burn rate is above 1 in both windows (the short one says it is
 * happening now, the long one that it matters), with at least `minRequests` in the short window.
 */
export function burnObservations(model: QualityModel, statuses: readonly SloStatus[]): Observation[] {
  const out: Observation[] = [];
  for (const s of statuses) {
    if (s.short.total < model.minRequests) continue;
    const subject = sloSubject(s);
    const a = burnSeverity(s.short.availabilityBurn, s.long.availabilityBurn);
    if (a)
      out.push({
        kind: "slo-burn",
        severity: a,
        subject,
        detail: {
          message: `${subject} burns its availability budget at ${s.short.availabilityBurn}x (short window) and ${s.long.availabilityBurn}x (long window); ${s.short.bad} of ${s.short.total} answers were 5xx`,
          target: s.availability,
          burnShort: s.short.availabilityBurn,
          burnLong: s.long.availabilityBurn,
          bad: s.short.bad,
          total: s.short.total,
          budgetRemaining: s.budgetRemaining,
        },
      });
    const l = burnSeverity(s.short.latencyBurn, s.long.latencyBurn);
    if (l)
      out.push({
        kind: "slo-latency",
        severity: l,
        subject,
        detail: {
          message: `${subject}: ${s.short.slow} of ${s.short.total} answers slower than ${s.p99Ms} ms (p99 now ${s.short.p99Ms} ms): latency budget burning at ${s.short.latencyBurn}x`,
          p99TargetMs: s.p99Ms,
          p99Ms: s.short.p99Ms,
          burnShort: s.short.latencyBurn,
          burnLong: s.long.latencyBurn,
          slow: s.short.slow,
          total: s.short.total,
        },
      });
  }
  return out;
}

/** A consumer of a stream as the freshness check sees it. */
export interface QueueState {
  readonly stream: string;
  readonly consumer: string;
  /** Messages not yet delivered plus delivered and not acked. */
  readonly pending: number;
  /** Age of the oldest message not acked (ms); null when none is pending or it cannot be read. */
  readonly oldestAgeMs: number | null;
}

/** The freshness limits of `stream` (`{NS}_` stripped): the first entry of the model that matches. */
export function freshnessOf(model: QualityModel, streamSuffix: string): FreshnessSlo | undefined {
  return model.freshness.find((f) => f.stream === "*" || f.stream === streamSuffix);
}

/** Stale-queue findings: a consumer older or longer than its limits. */
export function freshnessObservations(model: QualityModel, NS: string, queues: readonly QueueState[]): Observation[] {
  const out: Observation[] = [];
  for (const q of queues) {
    const f = freshnessOf(model, q.stream.startsWith(`${NS}_`) ? q.stream.slice(NS.length + 1) : q.stream);
    if (!f) continue;
    const old = q.oldestAgeMs !== null && q.oldestAgeMs > f.maxAgeMs;
    const long = q.pending > f.maxPending;
    if (!old && !long) continue;
    out.push({
      kind: "queue-stale",
      severity: old && long ? "high" : "medium",
      subject: `${q.stream}/${q.consumer}`,
      detail: {
        message: `${q.stream}/${q.consumer}: ${q.pending} pending${q.oldestAgeMs !== null ? `, oldest ${Math.round(q.oldestAgeMs / 1000)} s old` : ""} (limits ${f.maxPending} pending, ${Math.round(f.maxAgeMs / 1000)} s)`,
        pending: q.pending,
        oldestAgeMs: q.oldestAgeMs,
        maxPending: f.maxPending,
        maxAgeMs: f.maxAgeMs,
      },
    });
  }
  return out;
}

/** A canary as the gateway announces it (`gateway.canary.changed`). */
export interface CanaryChange {
  readonly service: string;
  readonly version: string;
  readonly share: number;
  readonly state: "running" | "promoted" | "rolled-back";
  readonly baseline: string;
  readonly thresholds?: unknown;
  readonly reason?: string;
}

/** Parses a canary change; undefined for anything that is not one. */
export function canaryChangeOf(v: unknown): CanaryChange | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const { service, version, share, state, baseline } = r;
  if (typeof service !== "string" || typeof version !== "string" || typeof baseline !== "string") return undefined;
  if (typeof share !== "number" || !(share >= 0 && share <= 1)) return undefined;
  if (state !== "running" && state !== "promoted" && state !== "rolled-back") return undefined;
  return {
    service,
    version,
    share,
    state,
    baseline,
    thresholds: r["thresholds"],
    ...(typeof r["reason"] === "string" ? { reason: r["reason"] } : {}),
  };
}

/** What the service would look like with the canary at `share`, from what both did so far. */
export interface Forecast {
  readonly service: string;
  readonly version: string;
  readonly baseline: string;
  /** The share observed so far and the one forecast (1: promoted). */
  readonly observedShare: number;
  readonly share: number;
  readonly canary: WindowStats;
  readonly baselineStats: WindowStats;
  /** The service's 5xx fraction and slow fraction at `share`. */
  readonly errorRate: number;
  readonly slowRate: number;
  /** Burn rates of the service's SLO at `share` (availability, latency). */
  readonly availabilityBurn: number;
  readonly latencyBurn: number;
  /** Enough interactions of the canary (minRequests) to say anything. */
  readonly confident: boolean;
}

/**
 * Forecasts the service at `share` of the canary: its error and slow fractions are the mix of
 * the canary's and the baseline's observed fractions, `share` : `1 - share`, and the burn rates
 * follow against `slo`. The observed share is the canary's part of the interactions seen.
 */
export function forecast(
  c: { service: string; version: string; baseline: string },
  canary: WindowStats,
  base: WindowStats,
  share: number,
  slo: { availability: number; p99Ms: number },
  minRequests: number,
): Forecast {
  const frac = (n: number, d: number) => (d === 0 ? 0 : n / d);
  const errorRate = share * frac(canary.bad, canary.total) + (1 - share) * frac(base.bad, base.total);
  const slowRate = share * frac(canary.slow, canary.total) + (1 - share) * frac(base.slow, base.total);
  return {
    service: c.service,
    version: c.version,
    baseline: c.baseline,
    observedShare: round(frac(canary.total, canary.total + base.total)),
    share,
    canary,
    baselineStats: base,
    errorRate: round(errorRate),
    slowRate: round(slowRate),
    availabilityBurn: round(errorRate / (1 - slo.availability)),
    latencyBurn: round(slowRate / 0.01),
    confident: canary.total >= minRequests,
  };
}

/** The SLO that applies to a whole service: its own entry without a route, else `*`, else the defaults. */
export function serviceSlo(model: QualityModel, service: string): Slo {
  return (
    model.slos.find((s) => s.service === service && s.route === undefined) ??
    model.slos.find((s) => s.service === "*" && s.route === undefined) ?? {
      id: "service",
      service,
      availability: 0.99,
      p99Ms: 1000,
    }
  );
}

/** A forecast finding: promoting the canary would burn a budget faster than it lasts. */
export function forecastObservation(f: Forecast): Observation | undefined {
  if (!f.confident || (f.availabilityBurn <= 1 && f.latencyBurn <= 1)) return undefined;
  const worst = Math.max(f.availabilityBurn, f.latencyBurn);
  return {
    kind: "forecast",
    severity: worst >= BURN_HIGH ? "high" : "medium",
    subject: `${f.service}@${f.version}`,
    detail: {
      message: `promoting ${f.service} ${f.version} (observed at ${Math.round(f.observedShare * 100)}% of calls) would burn the availability budget at ${f.availabilityBurn}x and the latency budget at ${f.latencyBurn}x`,
      observedShare: f.observedShare,
      errorRate: f.errorRate,
      slowRate: f.slowRate,
      availabilityBurn: f.availabilityBurn,
      latencyBurn: f.latencyBurn,
      canaryTotal: f.canary.total,
      baselineTotal: f.baselineStats.total,
    },
  };
}
