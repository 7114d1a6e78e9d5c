/**
 * Typed configuration from environment variables, with defaults for a local machine.
 * `loadConfig` validates everything at once; `ConfigError` lists one line per problem.
 */
import os from "node:os";
import { EnvReader, type Env } from "./env";

/** Services a node can host; `SERVICES` picks a subset (default: all). */
export const SERVICE_NAMES = ["runtime", "probe", "gateway", "receipts", "simulators"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Everything a node needs to know at start-up. */
export interface Config {
  /** Moleculer node id; unique per process in the cluster. */
  readonly nodeId: string;
  /**
   * Prefix for every NATS subject, stream, consumer, KV bucket, Postgres schema and the
   * Moleculer namespace. Two namespaces on one NATS/Postgres never see each other (tests use it).
   */
  readonly namespace: string;
  readonly natsUrl: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly services: readonly ServiceName[];
  /** HTTP port of the gateway (0 picks a free port). */
  readonly port: number;
  readonly host: string;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Dev mode starts simulators of external services unless real URLs are configured. */
  readonly devMode: boolean;
  readonly jetstream: {
    /** Stream/KV replicas: 1 for one server, 3 for a 3-server cluster. */
    readonly replicas: number;
  };
  readonly actors: {
    /** Default partition count per actor kind (fixed once a kind's stream exists). */
    readonly partitions: number;
    /** A lease not renewed for this long is free for another node to take. */
    readonly leaseTtlMs: number;
    /** Idle actors leave memory after this long. */
    readonly idleMs: number;
    /** At most this many actors resident per kind per node. */
    readonly maxResident: number;
  };
  /** The HTTP gateway and access control (gateway/, clients/). */
  readonly gateway: GatewayConfig;
}

/** Settings of the HTTP gateway: limits, rate limits, tokens and caches. */
export interface GatewayConfig {
  /** Largest request body accepted (413 above it); routes may set a lower limit. */
  readonly bodyLimitBytes: number;
  /** A request body must arrive within this long once headers are in (408 after it). */
  readonly bodyTimeoutMs: number;
  /** Default per-client rate: sustained requests per second (token bucket refill). */
  readonly ratePerSec: number;
  /** Default per-client burst (token bucket size). */
  readonly rateBurst: number;
  /** Lifetime of access tokens from POST /oauth/token. */
  readonly tokenTtlSec: number;
  /** ES256 private key (PKCS#8 PEM) for access tokens; empty: generated once, shared via Postgres. */
  readonly jwtPrivateKey: string;
  /** `kid` of JWT_PRIVATE_KEY (default: its JWK thumbprint). */
  readonly jwtKid: string;
  /** `iss` and `aud` of access tokens (default: switchyard:{namespace}). */
  readonly jwtIssuer: string;
  /** In-process cache lifetime of credentials and client status (the suspension safety net). */
  readonly authCacheTtlMs: number;
  /** Overlap of old and new API keys on rotation, unless the caller says otherwise. */
  readonly rotateOverlapSec: number;
}

/** Thrown by `loadConfig` with one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates configuration from `env` (default `process.env`). */
export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const config: Config = {
    nodeId: r.match("NODE_ID", `${os.hostname()}-${process.pid}`, /^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, '_', '.', '-'"),
    namespace: r.match("NAMESPACE", "sy", /^[a-z][a-z0-9]{0,15}$/, "a lower-case letter then up to 15 lower-case letters or digits"),
    natsUrl: r.url("NATS_URL", "nats://127.0.0.1:4222", ["nats:", "tls:", "ws:", "wss:"]),
    databaseUrl: r.url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", ["postgres:", "postgresql:"]),
    redisUrl: r.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    services: r.list("SERVICES", [...SERVICE_NAMES], SERVICE_NAMES) as ServiceName[],
    port: r.int("PORT", 3000, 0, 65535),
    host: r.str("HOST", "127.0.0.1"),
    logLevel: r.match("LOG_LEVEL", "info", /^(fatal|error|warn|info|debug|trace|silent)$/, "fatal, error, warn, info, debug, trace or silent") as Config["logLevel"],
    devMode: r.bool("DEV_MODE", env["NODE_ENV"] !== "production"),
    jetstream: { replicas: r.int("JS_REPLICAS", 1, 1, 5) },
    actors: {
      partitions: r.int("ACTOR_PARTITIONS", 32, 1, 1024),
      leaseTtlMs: r.int("LEASE_TTL_MS", 5000, 1000, 120000),
      idleMs: r.int("ACTOR_IDLE_MS", 60000, 100, 86400000),
      maxResident: r.int("ACTOR_MAX_RESIDENT", 20000, 10, 10000000),
    },
    gateway: {
      bodyLimitBytes: r.int("GATEWAY_BODY_LIMIT_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
      bodyTimeoutMs: r.int("GATEWAY_BODY_TIMEOUT_MS", 10_000, 100, 600_000),
      ratePerSec: r.int("GATEWAY_RATE_PER_SEC", 200, 1, 1_000_000),
      rateBurst: r.int("GATEWAY_RATE_BURST", 400, 1, 10_000_000),
      tokenTtlSec: r.int("GATEWAY_TOKEN_TTL_SEC", 900, 30, 86_400),
      jwtPrivateKey: r.str("JWT_PRIVATE_KEY", "").replace(/\\n/g, "\n"),
      jwtKid: r.str("JWT_KID", ""),
      jwtIssuer: r.str("JWT_ISSUER", ""),
      authCacheTtlMs: r.int("GATEWAY_AUTH_CACHE_TTL_MS", 5000, 100, 300_000),
      rotateOverlapSec: r.int("GATEWAY_ROTATE_OVERLAP_SEC", 86_400, 0, 30 * 86_400),
    },
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
