/**
 * The quality agent's looks: the model from KV (`{ns}_agents`, key `quality.model`; the default
 * until an operator stores one), the interaction window fed by the interactions stream, the
 * canaries the gateway announces (`gateway.canary.changed`), and the namespace's consumers for
 * queue freshness. Each look evaluates every SLO (burn rates in both windows, the budget left),
 * forecasts every running canary at full share, and records the findings and metrics.
 */
import type { KV, NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { AgentMetrics } from "./metrics";
import type { Recorder } from "./recorder";
import type { FindingChanges, Observation } from "./findings";
import {
  burnObservations,
  canaryChangeOf,
  DEFAULT_MODEL,
  evaluateSlos,
  forecast,
  forecastObservation,
  freshnessObservations,
  interactionOf,
  InteractionWindow,
  serviceSlo,
  sloSubject,
  type CanaryChange,
  type Forecast,
  type QualityModel,
  type SloStatus,
} from "./quality";
import { readInteractions, readQueues, type InteractionReader } from "./sources";

/** KV key of the quality model. */
export const MODEL_KEY = "quality.model";

/** The quality finding kinds (a look resolves those it no longer sees). */
export const QUALITY_KINDS = ["slo-burn", "slo-latency", "queue-stale", "forecast"] as const;

/** What the quality agent needs. */
export interface QualityAgentDeps {
  readonly nats: NatsHandles;
  readonly kv: KV;
  readonly namespace: string;
  readonly stream: string;
  readonly subjects: string;
  readonly metrics: AgentMetrics;
  readonly record: Recorder;
  readonly logger: Logger;
}

/** The quality agent (see the module doc). */
export class QualityAgent {
  private model: QualityModel = DEFAULT_MODEL;
  private readonly window = new InteractionWindow(DEFAULT_MODEL.windows.longMs);
  private readonly canaries = new Map<string, CanaryChange>();
  private reader: InteractionReader | undefined;
  private statuses: SloStatus[] = [];
  private forecasts: Forecast[] = [];
  lastRunAt: string | null = null;

  constructor(private readonly deps: QualityAgentDeps) {
    this.applyModel(DEFAULT_MODEL);
  }

  private applyModel(m: QualityModel): void {
    this.model = m;
    this.window.setThresholds(
      m.slos.map((s) => s.p99Ms),
      m.windows.longMs,
    );
  }

  /** Loads the model and starts reading interactions. */
  async start(): Promise<void> {
    await this.loadModel();
    this.reader = readInteractions({
      nats: this.deps.nats,
      stream: this.deps.stream,
      subjects: this.deps.subjects,
      windowMs: () => this.model.windows.longMs,
      logger: this.deps.logger,
      onRecord: (v) => {
        const i = interactionOf(v);
        this.deps.metrics.interactions.inc({ outcome: i ? "recorded" : "unreadable" });
        if (i) this.window.record(i);
      },
    });
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
  }

  /** True while the interactions stream is being read. */
  attached(): boolean {
    return this.reader?.attached() ?? false;
  }

  /** Interaction records taken into the window since start. */
  recorded(): number {
    return this.window.recorded;
  }

  /** The model in KV (the default when none is stored). */
  async loadModel(): Promise<QualityModel> {
    const e = await this.deps.kv.get(MODEL_KEY).catch(() => null);
    let m = DEFAULT_MODEL;
    if (e && e.length > 0) {
      try {
        m = e.json<QualityModel>();
      } catch (err) {
        this.deps.logger.error({ err: errorMessage(err) }, "stored quality model unreadable: the default applies");
      }
    }
    if (JSON.stringify(m) !== JSON.stringify(this.model)) this.applyModel(m);
    return m;
  }

  /** Stores `m` (already validated) as the model of the namespace. */
  async saveModel(m: QualityModel): Promise<void> {
    await this.deps.kv.put(MODEL_KEY, JSON.stringify(m));
    this.applyModel(m);
  }

  /** A canary change from the gateway: running ones are forecast, others forgotten. */
  canaryChanged(payload: unknown): void {
    const c = canaryChangeOf(payload);
    if (!c) {
      this.deps.logger.warn({ payload }, "quality agent: unreadable gateway.canary.changed ignored");
      return;
    }
    const key = `${c.service}@${c.version}`;
    if (c.state === "running") this.canaries.set(key, c);
    else this.canaries.delete(key);
    this.deps.logger.info({ canary: key, state: c.state, share: c.share }, "quality agent: canary changed");
  }

  /** The SLOs after the last look. */
  slos(): readonly SloStatus[] {
    return this.statuses;
  }

  /** The running canaries' forecasts after the last look. */
  canaryForecasts(): readonly Forecast[] {
    return this.forecasts;
  }

  /** Forecasts `service`'s `version` at `share` from what the window holds now. */
  forecastOf(service: string, version: string, share: number, baseline = ""): Forecast {
    const slo = serviceSlo(this.model, service);
    const long = this.model.windows.longMs;
    const canary = this.window.stats(long, slo.p99Ms, (k) => k.service === service && k.version === version);
    const base = this.window.stats(
      long,
      slo.p99Ms,
      (k) => k.service === service && k.version !== version && (baseline === "" || k.version === baseline),
    );
    return forecast({ service, version, baseline }, canary, base, share, slo, this.model.minRequests);
  }

  /** One look (see the module doc): the findings it changed. */
  async look(): Promise<FindingChanges> {
    const { metrics } = this.deps;
    const model = await this.loadModel();
    const now = Date.now();
    this.window.prune(now);
    this.statuses = evaluateSlos(model, this.window, now);
    for (const s of this.statuses) {
      const slo = sloSubject(s);
      metrics.burnRate.set({ slo, objective: "availability", window: "short" }, s.short.availabilityBurn);
      metrics.burnRate.set({ slo, objective: "availability", window: "long" }, s.long.availabilityBurn);
      metrics.burnRate.set({ slo, objective: "latency", window: "short" }, s.short.latencyBurn);
      metrics.burnRate.set({ slo, objective: "latency", window: "long" }, s.long.latencyBurn);
      metrics.budgetRemaining.set({ slo }, s.budgetRemaining);
    }
    const obs: Observation[] = burnObservations(model, this.statuses);
    this.forecasts = [...this.canaries.values()].map((c) => this.forecastOf(c.service, c.version, 1, c.baseline));
    metrics.forecastBurn.reset();
    for (const f of this.forecasts) {
      const canary = `${f.service}@${f.version}`;
      metrics.forecastBurn.set({ canary, objective: "availability" }, f.availabilityBurn);
      metrics.forecastBurn.set({ canary, objective: "latency" }, f.latencyBurn);
      const o = forecastObservation(f);
      if (o) obs.push(o);
    }
    const NS = this.deps.namespace.toUpperCase();
    try {
      const queues = await readQueues(this.deps.nats, NS, now);
      metrics.queueOldest.reset();
      const oldest = new Map<string, number>();
      for (const q of queues)
        if (q.oldestAgeMs !== null) oldest.set(q.stream, Math.max(oldest.get(q.stream) ?? 0, q.oldestAgeMs));
      for (const [stream, ms] of oldest) metrics.queueOldest.set({ stream }, ms / 1000);
      obs.push(...freshnessObservations(model, NS, queues));
    } catch (err) {
      // without the queues' state, their findings stay as they were
      this.deps.logger.warn({ err: errorMessage(err) }, "quality agent: queues not read");
      this.lastRunAt = new Date(now).toISOString();
      return this.deps.record("quality", ["slo-burn", "slo-latency", "forecast"], obs);
    }
    this.lastRunAt = new Date(now).toISOString();
    return this.deps.record("quality", QUALITY_KINDS, obs);
  }
}
