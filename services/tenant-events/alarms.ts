/**
 * DLQ depth per tenant and the alarm. Every EVENTS_ALARM_CHECK_MS (and right after this node
 * dead-letters an event) the monitor counts the dead letters of each tenant on the DLQ stream
 * (stream info with a subject filter on {ns}.dlq.events.*). For the tenants whose partition this
 * node owns, it exports the depth as a gauge and, when a depth grew since the last look, raises
 * the alarm: one error-level log line and the Moleculer event `alarm.dlq`. Depths present when
 * the node starts are its baseline (a restart does not re-raise old alarms).
 */
import { Gauge, type Registry } from "prom-client";
import type { NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { EventNames } from "./streams";

/** The payload of the `alarm.dlq` event. */
export interface DlqAlarm {
  readonly domain: "events";
  readonly tenant: string;
  /** Dead letters of the tenant now. */
  readonly depth: number;
  /** How many were added since the last look. */
  readonly added: number;
  readonly subject: string;
  readonly node: string;
  readonly at: string;
}

/** What the monitor needs. */
export interface DlqMonitorDeps {
  readonly nats: NatsHandles;
  readonly names: EventNames;
  readonly dlqStream: string;
  readonly nodeId: string;
  readonly metrics: Registry;
  readonly intervalMs: number;
  /** True when this node answers for `tenant` (owns its partition). */
  readonly owns: (tenant: string) => boolean;
  readonly raise: (alarm: DlqAlarm) => void;
  readonly logger: Logger;
}

/** The gauge's name. */
export const DLQ_DEPTH_METRIC = "switchyard_events_dlq_depth";

/** Watches DLQ depths per tenant (see the module doc). */
export class DlqMonitor {
  private readonly depths = new Map<string, number>();
  private readonly gauge: Gauge<"tenant">;
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private baselined = false;
  private checking: Promise<void> | null = null;
  /** Alarms raised by this node since start. */
  raised = 0;

  constructor(private readonly deps: DlqMonitorDeps) {
    const existing = deps.metrics.getSingleMetric(DLQ_DEPTH_METRIC);
    if (existing) deps.metrics.removeSingleMetric(DLQ_DEPTH_METRIC);
    this.gauge = new Gauge({
      name: DLQ_DEPTH_METRIC,
      help: "Dead-lettered events per tenant (tenants whose partition this node owns)",
      labelNames: ["tenant"],
      registers: [deps.metrics],
    });
  }

  /** Takes the baseline and starts checking periodically. */
  async start(): Promise<void> {
    await this.check().catch((err: unknown) =>
      this.deps.logger.warn({ err: errorMessage(err) }, "DLQ baseline not taken yet"),
    );
    this.timer = setInterval(() => void this.check().catch(() => undefined), this.deps.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  /** Checks shortly (a dead letter was just stored); several pokes make one check. */
  poke(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.check().catch(() => undefined);
    }, 100);
  }

  /** Last known depth of every tenant with dead letters. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.depths].filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Counts dead letters per tenant now, updates the gauge, raises alarms for growth. */
  check(): Promise<void> {
    this.checking ??= this.doCheck().finally(() => (this.checking = null));
    return this.checking;
  }

  private async doCheck(): Promise<void> {
    const { nats, names, dlqStream } = this.deps;
    const info = await nats.jsm.streams.info(dlqStream, { subjects_filter: names.dlqFilter });
    const prefix = names.dlqSubject("");
    const now = new Map<string, number>();
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) now.set(subject.slice(prefix.length), n);
    const first = !this.baselined;
    this.baselined = true;
    for (const tenant of new Set([...now.keys(), ...this.depths.keys()])) {
      const depth = now.get(tenant) ?? 0;
      const before = this.depths.get(tenant) ?? 0;
      if (depth === 0) this.depths.delete(tenant);
      else this.depths.set(tenant, depth);
      if (!this.deps.owns(tenant)) {
        this.gauge.remove({ tenant });
        continue;
      }
      this.gauge.set({ tenant }, depth);
      if (!first && depth > before) {
        const alarm: DlqAlarm = {
          domain: "events",
          tenant,
          depth,
          added: depth - before,
          subject: names.dlqSubject(tenant),
          node: this.deps.nodeId,
          at: new Date().toISOString(),
        };
        this.raised++;
        this.deps.logger.error(
          { alarm: "dlq", tenant, depth, added: alarm.added },
          `ALARM: dead letters of tenant ${tenant} grew to ${depth}`,
        );
        this.deps.raise(alarm);
      }
    }
  }
}
