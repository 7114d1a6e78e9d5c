/**
 * Typed configuration from environment variables, with defaults for a local machine.
 * `loadConfig` validates everything at once; `ConfigError` lists one line per problem.
 */
import os from "node:os";
import { EnvReader, type Env } from "./env";
import { masterConfig, type MasterConfig } from "./master";
import { throttleConfig, type ThrottleConfig } from "./throttle";
import { egressConfig, type EgressConfig } from "./egress";
import { clusterConfig, type ClusterConfig } from "./cluster";
import type { EndUserTokenConfig } from "../gateway/end-user-tokens";

export { DEV_MASTER_KEY, type MasterConfig } from "./master";
export type { ThrottleConfig, RedisDownPolicy } from "./throttle";
export type { EgressConfig } from "./egress";
export { DEV_CLUSTER_SECRET, type ClusterConfig } from "./cluster";

/**
 * A service name (SERVICES): a domain module's name, or "simulators" (the simulators of every
 * domain's external systems, as child processes).
 */
export type ServiceName = string;

/**
 * Each domain's section of the configuration, by domain name. Empty here: a domain adds its
 * own in `services/<domain>/config.ts` (TypeScript module augmentation), so the platform names
 * no domain and `config.<domain>` is typed where it is read.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DomainConfigs {}

/** Everything a node needs to know at start-up: the platform's settings and every domain's section. */
export type Config = PlatformConfig & DomainConfigs;

/** What the loader needs to know of the domains (node/config.ts gives it from the registry). */
export interface ConfigDomains {
  /** Every name SERVICES may hold (domain modules, plus "simulators"). */
  readonly services: readonly string[];
  /**
   * Former SERVICES names still accepted, each mapped to the name it now selects (kept one
   * release after a domain is renamed; the start-up log names the new one).
   */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Services that open or make sealed secrets: outside dev mode they need a real master key. */
  readonly masterKeyUsers: readonly string[];
  /** Reads every domain's section; problems go to `r.problems`. */
  sections(r: EnvReader, env: Env, platform: PlatformConfig): DomainConfigs;
}

/** The platform's own settings. */
export interface PlatformConfig {
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
  /**
   * WORKERS=off makes an API node: it serves its services' HTTP routes and actions (intake,
   * reads, callbacks) but hosts no actors, jobs or domain workers (Postgres writers, pumps,
   * processors), so its event loop answers requests only. Worker nodes (the default) host
   * them; a deployment can put API nodes in front of worker nodes.
   */
  readonly workers: boolean;
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
    /** At most this many queued messages of one key folded into one state write (1: a write per message). */
    readonly maxBatch: number;
  };
  /** The HTTP gateway and access control (gateway/, clients/). */
  readonly gateway: GatewayConfig;
  /** Master keys that seal secrets at rest and authenticate cached credentials (config/master.ts). */
  readonly master: MasterConfig;
  /** Destinations caller-supplied URLs (webhooks, X-Callback-Url) may reach (lib/egress.ts). */
  readonly egress: EgressConfig;
  /** The cluster secret that signs the caller of every Moleculer call (config/cluster.ts). */
  readonly cluster: ClusterConfig;
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
  /** Per-IP limits, connection cap, trusted proxies, negative cache, Redis-down policy. */
  readonly throttle: ThrottleConfig;
  /** End-user tokens of an identity provider (gateway/end-user-tokens.ts); issuer "" turns them off. */
  readonly endUsers: EndUserTokenConfig;
}

/**
 * End-user tokens: off without END_USER_ISSUER; the JWKS defaults to `{issuer}/jwks`, the
 * scopes to every scope a token carries (END_USER_SCOPES cuts them to a list).
 */
function endUserConfig(r: EnvReader): EndUserTokenConfig {
  const issuer = r.str("END_USER_ISSUER", "");
  return {
    issuer,
    jwksUrl: issuer === "" ? "" : r.url("END_USER_JWKS_URL", `${issuer}/jwks`, ["http:", "https:"]),
    audience: r.str("END_USER_AUDIENCE", "switchyard"),
    allowedScopes: r.list("END_USER_SCOPES", []),
  };
}

/** Thrown by `loadConfig` with one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates configuration from `env`: the platform's settings and, through
 * `opts.sections`, every domain's; every problem is reported at once (ConfigError). Callers use
 * node/config.ts `loadConfig`, which passes the registry's domains.
 */
export function loadPlatformConfig(env: Env, opts: ConfigDomains): Config {
  const r = new EnvReader(env);
  const platform: PlatformConfig = {
    nodeId: r.match(
      "NODE_ID",
      `${os.hostname()}-${process.pid}`,
      /^[A-Za-z0-9_.-]{1,64}$/,
      "1-64 letters, digits, '_', '.', '-'",
    ),
    namespace: r.match(
      "NAMESPACE",
      "sy",
      /^[a-z][a-z0-9]{0,15}$/,
      "a lower-case letter then up to 15 lower-case letters or digits",
    ),
    natsUrl: r.url("NATS_URL", "nats://127.0.0.1:4222", ["nats:", "tls:", "ws:", "wss:"], true),
    databaseUrl: r.url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", ["postgres:", "postgresql:"]),
    redisUrl: r.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    services: [
      ...new Set(
        r
          .list("SERVICES", [...opts.services], [...opts.services, ...Object.keys(opts.aliases ?? {})])
          .map((s) => opts.aliases?.[s] ?? s),
      ),
    ],
    workers: r.bool("WORKERS", true),
    port: r.int("PORT", 3000, 0, 65535),
    host: r.str("HOST", "127.0.0.1"),
    logLevel: r.match(
      "LOG_LEVEL",
      "info",
      /^(fatal|error|warn|info|debug|trace|silent)$/,
      "fatal, error, warn, info, debug, trace or silent",
    ) as Config["logLevel"],
    devMode: r.bool("DEV_MODE", env["NODE_ENV"] !== "production"),
    jetstream: { replicas: r.int("JS_REPLICAS", 1, 1, 5) },
    actors: {
      partitions: r.int("ACTOR_PARTITIONS", 32, 1, 1024),
      leaseTtlMs: r.int("LEASE_TTL_MS", 5000, 1000, 120000),
      idleMs: r.int("ACTOR_IDLE_MS", 60000, 100, 86400000),
      maxResident: r.int("ACTOR_MAX_RESIDENT", 20000, 10, 10000000),
      maxBatch: r.int("ACTOR_MAX_BATCH", 64, 1, 10000),
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
      throttle: throttleConfig(r),
      endUsers: endUserConfig(r),
    },
    master: masterConfig(r, env, opts.masterKeyUsers, opts.aliases ?? {}),
    // DEV_MODE read again quietly: its problems are reported once, above
    egress: egressConfig(r, env, new EnvReader(env).bool("DEV_MODE", env["NODE_ENV"] !== "production")),
    cluster: clusterConfig(r, env),
  };
  const config: Config = { ...platform, ...opts.sections(r, env, platform) };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
