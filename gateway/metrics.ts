/**
 * Gateway metrics on the node's prom-client registry: request count and latency by route
 * template, method and status; auth cache outcomes (`negative`: a remembered unknown id, no
 * lookup); refusals of the per-IP limits, the connection cap and the Redis-down policy. Route
 * labels are templates (`/api/v1/{domain}/{id}` as declared, never the path requested) or
 * `unmatched`, so label cardinality stays bounded.
 */
import { Counter, Histogram, type Registry } from "prom-client";

/** What the gateway records. */
export interface GatewayMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
  authCache(outcome: "memory" | "negative" | "redis" | "db" | "miss"): void;
  /** A request refused by a per-IP limit (`unauthenticated`, `token`) or because Redis is down (`redis_down`). */
  throttled(limit: "unauthenticated" | "token" | "redis_down"): void;
  /** A connection destroyed by the per-IP connection cap. */
  connectionRefused(): void;
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
    "Requests refused by a per-IP limit or the Redis-down policy",
    ["limit"],
  );
  const refused = counter(
    registry,
    "gateway_connections_refused_total",
    "Connections destroyed by the per-IP connection cap",
    [],
  );
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
  };
}
