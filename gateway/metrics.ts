/**
 * Gateway metrics on the node's prom-client registry: request count and latency by route
 * template, method and status; auth cache outcomes (`negative`: a remembered unknown id, no
 * lookup); refusals of the per-IP limits, the connection cap and the Redis-down policy. Route
 * labels are templates (`/api/v1/{domain}/{id}` as declared, never the path requested) or
 * `unmatched`, so label cardinality stays bounded.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** What the gateway records. */
export interface GatewayMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
  authCache(outcome: "memory" | "negative" | "redis" | "db" | "miss"): void;
  /** A request refused by a per-IP limit (`unauthenticated`, `token`) or because Redis is down (`redis_down`). */
  throttled(limit: "unauthenticated" | "token" | "redis_down" | "overloaded"): void;
  /** A connection destroyed by the per-IP connection cap. */
  connectionRefused(): void;
  /** A batch of `items` answered. */
  batch(items: number): void;
  /** A batch item answered with `status`. */
  batchItem(status: number): void;
  /** A related read of `?include=`. */
  included(relation: string, outcome: "ok" | "error"): void;
  /** A read a cache answered (`X-Cache: hit|miss`), by route template. */
  cacheRead(route: string, outcome: "hit" | "miss"): void;
  /** Interaction records by outcome. */
  interactions(outcome: "published" | "sampled_out" | "dropped" | "failed", n?: number): void;
  /** A canary change by its new state and who made it. */
  canaryChanged(state: string, how: "admin" | "auto"): void;
  /** A call the gateway routed for a service with a canary. */
  canaryRouted(service: string, group: "canary" | "baseline"): void;
  /** 1 while this gateway serves as the backup (took over the port), 0 otherwise. */
  backupServing(on: boolean): void;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  return (
    (registry.getSingleMetric(name) as Counter<string> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** Registers (once per registry) and returns the gateway's metrics. */
export function gatewayMetrics(registry: Registry): GatewayMetrics {
  const requests = counter(registry, "http_requests_total", "HTTP requests answered by the gateway", [
    "route",
    "method",
    "status",
  ]);
  const duration =
    (registry.getSingleMetric("http_request_duration_seconds") as Histogram<string> | undefined) ??
    new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from request to response end, by route template",
      labelNames: ["route", "method", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  const cache = counter(registry, "gateway_auth_lookups_total", "Credential lookups by the layer that answered", [
    "layer",
  ]);
  const throttled = counter(
    registry,
    "gateway_throttled_total",
    "Requests refused by a per-IP limit, the Redis-down policy, or admission control (overloaded)",
    ["limit"],
  );
  const refused = counter(
    registry,
    "gateway_connections_refused_total",
    "Connections destroyed by the per-IP connection cap",
    [],
  );
  const batches =
    (registry.getSingleMetric("gateway_batch_items") as Histogram<string> | undefined) ??
    new Histogram({
      name: "gateway_batch_items",
      help: "Items per batch request",
      buckets: [1, 2, 5, 10, 20, 50, 100],
      registers: [registry],
    });
  const batchItems = counter(registry, "gateway_batch_items_total", "Batch items answered, by status class", [
    "status",
  ]);
  const included = counter(registry, "gateway_includes_total", "Related reads of ?include=, by relation and outcome", [
    "relation",
    "outcome",
  ]);
  const cacheReads = counter(
    registry,
    "gateway_cache_reads_total",
    "Answers a cache served or missed (X-Cache), by route template: hit rate = hit / (hit + miss)",
    ["route", "outcome"],
  );
  const interactions = counter(registry, "gateway_interactions_total", "Interaction records, by outcome", ["outcome"]);
  const canaryChanges = counter(registry, "gateway_canary_changes_total", "Canary changes, by new state and cause", [
    "state",
    "how",
  ]);
  const canaryRouted = counter(
    registry,
    "gateway_canary_routed_total",
    "Calls routed for services with a canary, by group",
    ["service", "group"],
  );
  const backup =
    (registry.getSingleMetric("gateway_backup_serving") as Gauge<string> | undefined) ??
    new Gauge({
      name: "gateway_backup_serving",
      help: "Whether this backup gateway serves the public port (1) or idles (0)",
      registers: [registry],
    });
  const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);
  return {
    observe(route, method, status, seconds) {
      const labels = { route, method: METHODS.has(method) ? method : "OTHER", status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
    authCache(outcome) {
      cache.inc({ layer: outcome });
    },
    throttled(limit) {
      throttled.inc({ limit });
    },
    connectionRefused() {
      refused.inc();
    },
    batch(items) {
      batches.observe(items);
    },
    batchItem(status) {
      batchItems.inc({ status: `${Math.floor(status / 100)}xx` });
    },
    included(relation, outcome) {
      included.inc({ relation, outcome });
    },
    cacheRead(route, outcome) {
      cacheReads.inc({ route, outcome });
    },
    interactions(outcome, n = 1) {
      interactions.inc({ outcome }, n);
    },
    canaryChanged(state, how) {
      canaryChanges.inc({ state, how });
    },
    canaryRouted(service, group) {
      canaryRouted.inc({ service, group });
    },
    backupServing(on) {
      backup.set(on ? 1 : 0);
    },
  };
}
