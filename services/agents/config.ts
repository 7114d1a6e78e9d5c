/** The agents' section of the environment (AGENTS_*). */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";

/** Settings of the health, quality and security agents. */
export interface AgentsConfig {
  readonly health: {
    /** A round of canaries every this long (0: only when asked). */
    readonly intervalMs: number;
    readonly timeoutMs: number;
    /** A service whose slowest canary takes longer is slow. */
    readonly slowMs: number;
    /** Services and actions no canary is sent to. */
    readonly skip: readonly string[];
    /** The gateway's base URL for the HTTP canary (`/health/ready`); empty: this node's gateway, if it hosts one. */
    readonly url: string;
    /** A service gone this long is forgotten (no longer reported down). */
    readonly forgetMs: number;
  };
  readonly quality: {
    readonly intervalMs: number;
    /** The interactions stream (the gateway's contract: `{NS}_INTERACTIONS`). */
    readonly stream: string;
    readonly subjects: string;
  };
  readonly security: {
    readonly intervalMs: number;
    readonly keyMaxAgeDays: number;
    /** Routes that may answer without authentication (`METHOD /path`, `*` one segment). */
    readonly publicRoutes: readonly string[];
    /** The NATS monitoring endpoint (`http://host:8222`); empty: JetStream's sync setting cannot be read. */
    readonly natsMonitorUrl: string;
  };
}

/** Routes public by design: the gateway's own, signed callbacks and webhooks, the console's page, signed links. */
export const DEFAULT_PUBLIC_ROUTES: readonly string[] = [
  "GET /",
  "GET /health/live",
  "GET /health/ready",
  "GET /metrics",
  "GET /api/openapi.json",
  "GET /api/docs",
  "GET /.well-known/jwks.json",
  "POST /oauth/token",
  "POST /api/v1/callbacks/*",
  "POST /api/v1/*/webhooks/*",
  "GET /console",
  "GET /console/assets/*",
  "GET /api/v1/*/downloads/*",
  "GET /api/v1/*/products/*/image",
];

/** Reads the section; problems go to `r`. */
export function agentsConfig(r: EnvReader, env: Env, platform: PlatformConfig): AgentsConfig {
  const ns = platform.namespace;
  return {
    health: {
      intervalMs: r.int("AGENTS_HEALTH_INTERVAL_MS", 10_000, 0, 3_600_000),
      timeoutMs: r.int("AGENTS_HEALTH_TIMEOUT_MS", 3000, 50, 60_000),
      slowMs: r.int("AGENTS_HEALTH_SLOW_MS", 1000, 1, 600_000),
      skip: r.list("AGENTS_HEALTH_SKIP", []),
      url: (env["AGENTS_HEALTH_URL"] ?? "").trim() === "" ? "" : r.url("AGENTS_HEALTH_URL", "", ["http:", "https:"]),
      forgetMs: r.int("AGENTS_HEALTH_FORGET_MS", 3_600_000, 1000, 30 * 86_400_000),
    },
    quality: {
      intervalMs: r.int("AGENTS_QUALITY_INTERVAL_MS", 10_000, 0, 3_600_000),
      stream: r.match(
        "AGENTS_INTERACTIONS_STREAM",
        `${ns.toUpperCase()}_INTERACTIONS`,
        /^[A-Za-z0-9_-]{1,64}$/,
        "a stream name",
      ),
      subjects: `${ns}.interactions.>`,
    },
    security: {
      intervalMs: r.int("AGENTS_SECURITY_INTERVAL_MS", 60_000, 0, 86_400_000),
      keyMaxAgeDays: r.int("AGENTS_KEY_MAX_AGE_DAYS", 90, 1, 3650),
      publicRoutes: r.list("AGENTS_PUBLIC_ROUTES", [...DEFAULT_PUBLIC_ROUTES]),
      natsMonitorUrl:
        (env["AGENTS_NATS_MONITOR_URL"] ?? "").trim() === ""
          ? ""
          : r.url("AGENTS_NATS_MONITOR_URL", "", ["http:", "https:"]).replace(/\/+$/, ""),
    },
  };
}
