/**
 * Where every agent's look ends: its observations go to the finding store, and what this node's
 * write changed is announced: Moleculer events `agents.finding.raised` / `agents.finding.resolved`
 * (the finding), an alarm `alarm.<agent>` for a raised finding of severity high or critical
 * (the envelope of the events domain's `alarm.dlq`: `domain`, `subject`, `node`, `at`, plus the
 * finding), a log line per change (error for an alarm, warn for medium, info below), and the
 * findings metrics.
 */
import type { Logger } from "../../lib/logger";
import { isAlarm, type AgentName, type Finding, type FindingChanges, type Observation } from "./findings";
import type { FindingStore } from "./store";
import type { AgentMetrics } from "./metrics";

/** The payload of an `alarm.<agent>` event. */
export interface AgentAlarm {
  readonly domain: "agents";
  readonly agent: AgentName;
  readonly kind: string;
  readonly severity: Finding["severity"];
  /** What the finding is about (a service, an SLO, a client, a setting). */
  readonly subject: string;
  readonly message: string;
  readonly findingId: string;
  readonly node: string;
  readonly at: string;
}

/** The alarm of a raised finding. */
export function alarmOf(f: Finding, node: string): AgentAlarm {
  return {
    domain: "agents",
    agent: f.agent,
    kind: f.kind,
    severity: f.severity,
    subject: f.subject,
    message: f.detail.message,
    findingId: f.id,
    node,
    at: f.firstSeen,
  };
}

/** What the recorder needs. */
export interface RecorderDeps {
  readonly store: FindingStore;
  readonly metrics: AgentMetrics;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Broadcasts a Moleculer event (errors are the caller's to swallow). */
  readonly broadcast: (event: string, payload: unknown) => Promise<void>;
}

/** Records one look of `agent` over `kinds` (see the module doc). */
export type Recorder = (
  agent: AgentName,
  kinds: readonly string[],
  obs: readonly Observation[],
) => Promise<FindingChanges>;

/** The recorder over `deps`. */
export function createRecorder(deps: RecorderDeps): Recorder {
  const { store, metrics, logger } = deps;
  const send = (event: string, payload: unknown) =>
    deps.broadcast(event, payload).catch((err: unknown) => logger.warn({ err, event }, "agent event not sent"));
  return async (agent, kinds, obs) => {
    const changes = await store.sync(agent, kinds, obs);
    for (const f of changes.raised) {
      metrics.findingsRaised.inc({ agent, kind: f.kind });
      // low and info findings are for the API and the console, not the log (a node's first look
      // finds a few at every start)
      logger[isAlarm(f.severity) ? "error" : f.severity === "medium" ? "warn" : "debug"](
        { agent, kind: f.kind, severity: f.severity, subject: f.subject, findingId: f.id },
        `${isAlarm(f.severity) ? "ALARM" : "finding"}: ${f.detail.message}`,
      );
      await send("agents.finding.raised", f);
      if (isAlarm(f.severity)) await send(`alarm.${agent}`, alarmOf(f, deps.nodeId));
    }
    for (const f of changes.resolved) {
      metrics.findingsResolved.inc({ agent, kind: f.kind });
      logger[isAlarm(f.severity) || f.severity === "medium" ? "info" : "debug"](
        { agent, kind: f.kind, subject: f.subject, findingId: f.id },
        `resolved: ${f.detail.message}`,
      );
      await send("agents.finding.resolved", f);
    }
    const counts = await store.openCounts();
    metrics.findingsOpen.reset();
    for (const c of counts) metrics.findingsOpen.set({ agent: c.agent, severity: c.severity }, c.n);
    return changes;
  };
}
