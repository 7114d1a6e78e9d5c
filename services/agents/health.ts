/**
 * The health agent's pure core: which canary requests to send (every service of the registry,
 * with its key routes: the GET routes its domain declares that need no path parameter or
 * required query, and do not stream), how an answer counts, and what the results of one round
 * say. A service without such a route is checked by calling `$node.health` on each of its nodes. A canary is the route's action called over Moleculer as this node with an empty query:
 * any answer within the timeout, a refusal (4xx) included, shows the service answers; no
 * endpoint or a timeout is "down", a 5xx is "error".
 */
import type { RouteSpec } from "../../gateway/routes";
import { ErrorCodes, type ErrorCode } from "../../lib/errors";
import type { Observation } from "./findings";

/** One service and the actions its canaries call. */
export interface HealthTarget {
  readonly service: string;
  /** Node ids hosting it now (empty: it was seen before and is gone). */
  readonly nodes: readonly string[];
  /** Actions of its key routes (at most a few); empty: only its presence and its nodes' ping count. */
  readonly actions: readonly string[];
}

/** A service in the registry, as `broker.registry.getServiceList` lists it (one row per node). */
export interface RegistryService {
  readonly name: string;
  readonly nodeID: string;
}

/** The services no canary is sent to: Moleculer's own. */
const INTERNAL = /^\$/;

/** True when `r` is a route a canary may call: GET, no path parameter, no required query, not a stream. */
export function isCanaryRoute(r: RouteSpec): boolean {
  if (r.method !== "GET" || r.path.includes("{") || r.nodeLocal) return false;
  const required = r.query?.["required"];
  if (Array.isArray(required) && required.length > 0) return false;
  return !Object.values(r.responses).some((x) => x.contentType === "text/event-stream");
}

/**
 * The targets of one round: every service in the registry now, and every service seen before
 * (`known`) that is gone, each with up to `perService` key routes' actions.
 */
export function healthTargets(
  registry: readonly RegistryService[],
  known: readonly string[],
  routes: readonly RouteSpec[],
  perService = 3,
  skip: readonly string[] = [],
): HealthTarget[] {
  const nodes = new Map<string, Set<string>>();
  for (const s of registry) {
    if (INTERNAL.test(s.name) || skip.includes(s.name)) continue;
    const set = nodes.get(s.name) ?? new Set<string>();
    set.add(s.nodeID);
    nodes.set(s.name, set);
  }
  for (const k of known) if (!INTERNAL.test(k) && !skip.includes(k) && !nodes.has(k)) nodes.set(k, new Set());
  const actions = new Map<string, string[]>();
  for (const r of routes) {
    if (!isCanaryRoute(r) || skip.includes(r.action)) continue;
    const service = r.action.slice(0, r.action.lastIndexOf("."));
    const list = actions.get(service) ?? [];
    if (list.length < perService && !list.includes(r.action)) list.push(r.action);
    actions.set(service, list);
  }
  return [...nodes.keys()].sort().map((service) => ({
    service,
    nodes: [...(nodes.get(service) ?? [])].sort(),
    actions: actions.get(service) ?? [],
  }));
}

/** How one canary came out. */
export type CanaryOutcome = "up" | "error" | "down";

/** What a failed call says, for {@link classifyCanary}: Moleculer error name/type and code (a status or one of lib/errors' codes). */
export interface CallFailure {
  readonly name?: string;
  readonly type?: string;
  readonly code?: number | string;
}

/**
 * An answer's outcome: no endpoint (SERVICE_NOT_FOUND, SERVICE_NOT_AVAILABLE) or a timeout is
 * down; a 5xx error answered is error; a 4xx (the empty query refused, the node's caller not a
 * client) is up: the service answered.
 */
export function classifyCanary(err: CallFailure | undefined): CanaryOutcome {
  if (!err) return "up";
  const t = `${err.name ?? ""} ${err.type ?? ""}`;
  if (
    /ServiceNotFound|ServiceNotAvailable|RequestTimeout|SERVICE_NOT_FOUND|SERVICE_NOT_AVAILABLE|REQUEST_TIMEOUT/.test(t)
  )
    return "down";
  const status =
    typeof err.code === "number"
      ? err.code
      : typeof err.code === "string" && err.code in ErrorCodes
        ? ErrorCodes[err.code as ErrorCode]
        : 500;
  return status >= 500 ? "error" : "up";
}

/** One canary's result. */
export interface CanaryResult {
  readonly service: string;
  /** The action called, `$node.health@<node>` for a service without key routes, `http /health/ready` for the gateway's port. */
  readonly target: string;
  readonly outcome: CanaryOutcome;
  readonly latencyMs: number;
  readonly error?: string;
}

/** A service's state after a round. */
export interface ServiceHealth {
  readonly service: string;
  readonly up: boolean;
  readonly nodes: readonly string[];
  /** Slowest canary of the round (ms). */
  readonly latencyMs: number;
  /** Successful canaries over the last rounds (0..1). */
  readonly availability: number;
  readonly results: readonly CanaryResult[];
}

/**
 * A round's findings: a service with no node or whose canaries all were down is
 * `service-down` (critical); one with an error or a down canary among good ones `service-errors`
 * (high); one whose slowest canary took over `slowMs` `service-slow` (medium).
 */
export function healthObservations(states: readonly ServiceHealth[], slowMs: number): Observation[] {
  const out: Observation[] = [];
  for (const s of states) {
    const failed = s.results.filter((r) => r.outcome !== "up");
    const base = { service: s.service, nodes: s.nodes, availability: s.availability, latencyMs: s.latencyMs };
    if (!s.up) {
      out.push({
        kind: "service-down",
        severity: "critical",
        subject: s.service,
        detail: {
          ...base,
          message:
            s.nodes.length === 0
              ? `${s.service}: no node hosts it any more`
              : `${s.service}: every canary failed (${failed.map((f) => `${f.target}: ${f.error ?? f.outcome}`).join("; ")})`,
          failed: failed.map((f) => ({ target: f.target, outcome: f.outcome, error: f.error ?? null })),
        },
      });
    } else if (failed.length > 0) {
      out.push({
        kind: "service-errors",
        severity: "high",
        subject: s.service,
        detail: {
          ...base,
          message: `${s.service}: ${failed.length} of ${s.results.length} canaries failed (${failed.map((f) => `${f.target}: ${f.error ?? f.outcome}`).join("; ")})`,
          failed: failed.map((f) => ({ target: f.target, outcome: f.outcome, error: f.error ?? null })),
        },
      });
    } else if (s.latencyMs > slowMs) {
      out.push({
        kind: "service-slow",
        severity: "medium",
        subject: s.service,
        detail: {
          ...base,
          message: `${s.service}: slowest canary took ${Math.round(s.latencyMs)} ms (limit ${slowMs})`,
        },
      });
    }
  }
  return out;
}

/** A service is up when it has a node and at least one canary of the round answered. */
export function isUp(nodes: readonly string[], results: readonly CanaryResult[]): boolean {
  return nodes.length > 0 && (results.length === 0 || results.some((r) => r.outcome === "up"));
}

/** The health finding kinds (a round resolves those it no longer sees). */
export const HEALTH_KINDS = ["service-down", "service-errors", "service-slow"] as const;
