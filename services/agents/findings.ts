/**
 * The one shape of every agent's findings, and the pure step that turns an agent's current
 * observations into changes of its open findings. An agent looks at the platform, says what is
 * wrong now (`Observation`s, keyed by kind and subject) and the store keeps each as a finding:
 * raised the first time, `lastSeen` moved while it stays, resolved once it is no longer observed.
 */
import type { JsonSchema } from "../../gateway/routes";

/** The agents. */
export const AGENT_NAMES = ["health", "quality", "security"] as const;
export type AgentName = (typeof AGENT_NAMES)[number];

/** How bad a finding is, least first. `high` and `critical` findings are also alarms (`alarm.<agent>`). */
export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** True when a finding of `severity` is also broadcast as an alarm. */
export function isAlarm(severity: Severity): boolean {
  return severity === "high" || severity === "critical";
}

/** What an agent sees wrong now: one per (kind, subject). */
export interface Observation {
  /** What is wrong, one lower-case word or words joined by '-' (e.g. `service-down`, `key-age`). */
  readonly kind: string;
  readonly severity: Severity;
  /** What it is about: a service, a route, a client id, a stream, a setting. */
  readonly subject: string;
  /** Figures and a readable `message`; no secrets. */
  readonly detail: Readonly<Record<string, unknown>> & { readonly message: string };
}

/** A finding as stored and answered. */
export interface Finding extends Observation {
  readonly id: string;
  readonly agent: AgentName;
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Set once the agent no longer observes it; absent while open. */
  readonly resolvedAt?: string;
}

/** What one sync changed: findings raised, still open (updated), resolved. */
export interface FindingChanges {
  readonly raised: readonly Finding[];
  readonly updated: readonly Finding[];
  readonly resolved: readonly Finding[];
}

/** The identity of an observation among its agent's: kind and subject. */
export function observationKey(o: { readonly kind: string; readonly subject: string }): string {
  return `${o.kind}\u0000${o.subject}`;
}

/**
 * The observations of one look with duplicates folded (the most severe of each kind and
 * subject wins), so a check that reports the same thing twice raises one finding.
 */
export function foldObservations(obs: readonly Observation[]): Observation[] {
  const out = new Map<string, Observation>();
  for (const o of obs) {
    const k = observationKey(o);
    const before = out.get(k);
    if (!before || SEVERITIES.indexOf(o.severity) > SEVERITIES.indexOf(before.severity)) out.set(k, o);
  }
  return [...out.values()];
}

/** JSON Schema of a finding (HTTP answers, events, the OpenAPI document). */
export const FINDING_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "agent", "kind", "severity", "subject", "detail", "firstSeen", "lastSeen"],
  properties: {
    id: { type: "string", description: "Finding id (af_ and 19 digits: orders by when it was raised)" },
    agent: { type: "string", enum: [...AGENT_NAMES] },
    kind: { type: "string", description: "What is wrong, e.g. service-down, slo-burn, dev-secret" },
    severity: { type: "string", enum: [...SEVERITIES] },
    subject: { type: "string", description: "What it is about: a service, route, client, stream or setting" },
    detail: {
      type: "object",
      required: ["message"],
      properties: { message: { type: "string" } },
      description: "Figures of the last look and a readable message; never a secret",
    },
    firstSeen: { type: "string", format: "date-time" },
    lastSeen: { type: "string", format: "date-time" },
    resolvedAt: { type: "string", format: "date-time", description: "Absent while open" },
  },
};
