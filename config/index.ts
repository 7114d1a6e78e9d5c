/**
 * Typed configuration from environment variables, with defaults for a local machine.
 * `loadConfig` validates everything at once; `ConfigError` lists one line per problem.
 */
import os from "node:os";
import { EnvReader, type Env } from "./env";
import { supportersConfig, type SupportersConfig } from "../services/supporters/config";
import { masterConfig, type MasterConfig } from "./master";
import { throttleConfig, type ThrottleConfig } from "./throttle";
import { egressConfig, type EgressConfig } from "./egress";
import { clusterConfig, type ClusterConfig } from "./cluster";

export { DEV_SUPPORTER_SECRETS, type SupportersConfig } from "../services/supporters/config";
export { DEV_MASTER_KEY, type MasterConfig } from "./master";
export type { ThrottleConfig, RedisDownPolicy } from "./throttle";
export type { EgressConfig } from "./egress";
export { DEV_CLUSTER_SECRET, type ClusterConfig } from "./cluster";

/** Services a node can host; `SERVICES` picks a subset (default: all). */
export const SERVICE_NAMES = ["runtime", "probe", "gateway", "receipts", "simulators", "events", "supporters"] as const;
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
  /** Receipt registration (receipts/, services/receipts.service.ts, simulators/). */
  readonly receipts: ReceiptsConfig;
  /** Multi-tenant event processing (events/, services/events.service.ts). */
  readonly events: EventsConfig;
  /** Supporter identities and events to the user and ERP services (supporters/, services/supporters.service.ts). */
  readonly supporters: SupportersConfig;
  /** Master keys that seal secrets at rest and authenticate cached credentials (config/master.ts). */
  readonly master: MasterConfig;
  /** Destinations caller-supplied URLs (webhooks, X-Callback-Url) may reach (lib/egress.ts). */
  readonly egress: EgressConfig;
  /** The cluster secret that signs the caller of every Moleculer call (config/cluster.ts). */
  readonly cluster: ClusterConfig;
}

/** Settings of the multi-tenant event processor: keys, limits, fairness, batching. */
export interface EventsConfig {
  /**
   * AES-256-GCM keys for the `data` of stored events, by key id (base64 of 32 bytes each).
   * Every key is kept for reading; `dataKeyId` encrypts new rows.
   */
  readonly dataKeys: Readonly<Record<string, string>>;
  /** The key id that encrypts new rows (EVENTS_DATA_KEY_ID; default: the last of EVENTS_DATA_KEYS). */
  readonly dataKeyId: string;
  /** True when no keys were configured and dev mode derived the well-known dev key (never in production). */
  readonly devKey: boolean;
  /** Tenants are split into this many partitions, each leased by one node. */
  readonly partitions: number;
  /** Largest event (serialized envelope) accepted, in bytes. */
  readonly maxEventBytes: number;
  /** Events a tenant may take per scheduling turn (deficit round robin quantum). */
  readonly quantum: number;
  /** Largest batch written for one tenant at once. */
  readonly maxBatch: number;
  /** Batches written in parallel per node (at most one per tenant). */
  readonly writeConcurrency: number;
  /** Messages a tenant's consumer may hold unacked (its in-memory buffer). */
  readonly tenantBuffer: number;
  /** Tries of an event that fails to store before it is dead-lettered. */
  readonly maxAttempts: number;
  /** How often the intake stream is scanned for tenants with waiting events. */
  readonly discoverMs: number;
  /** A tenant idle this long has its consumer subscription closed (reopened on demand). */
  readonly idleMs: number;
  /** How often DLQ depths are checked for the alarm. */
  readonly alarmCheckMs: number;
  /** How long the sender feed stream keeps stored events. */
  readonly outMaxAgeMs: number;
}

/** Settings of receipt registration: external services, deadlines, batching, simulators. */
export interface ReceiptsConfig {
  /** Base URL of the tax service's registration API (default: the local simulator). */
  readonly taxApiUrl: string;
  /** Base URL of the warehouse (logistics) service's registration API (default: the local simulator). */
  readonly warehouseApiUrl: string;
  /** True when TAX_API_URL and WAREHOUSE_API_URL are unset: dev mode runs the simulators. */
  readonly useSimulators: boolean;
  /** Standard Webhooks secret (`whsec_...`) the tax service signs its callbacks with. */
  readonly taxCallbackSecret: string;
  /** Standard Webhooks secret the warehouse service signs its callbacks with. */
  readonly warehouseCallbackSecret: string;
  /** True when dev mode filled in the well-known {@link DEV_CALLBACK_SECRETS} (never outside dev mode). */
  readonly devCallbackSecrets: boolean;
  /** Base URL clients and external services reach this platform at (callback and status links). */
  readonly publicUrl: string;
  /** Time allowed for a registration before the receipt is FAILED (default 24 h). */
  readonly deadlineMs: number;
  /** After a 202, how long to wait for the callback before asking the service again. */
  readonly callbackWaitMs: number;
  /** Time allowed to deliver a client webhook before it is dead-lettered. */
  readonly webhookDeadlineMs: number;
  /** How long an Idempotency-Key is remembered. */
  readonly idempotencyTtlMs: number;
  /** Per-attempt time limit of an external call. */
  readonly callTimeoutMs: number;
  /** Parallel registration calls per node and service. */
  readonly jobConcurrency: number;
  /** The Postgres writer commits every this many rows ... */
  readonly batchRows: number;
  /** ... or this many milliseconds, whichever comes first. */
  readonly batchMs: number;
  /** How long the receipt stream keeps records already written (hot reads before Postgres has them). */
  readonly streamMaxAgeMs: number;
  /**
   * Admission control: while more than this many messages wait in the receipt actors'
   * mailboxes and the registration jobs' consumers, POST /receipts answers 503 with
   * Retry-After (0: never).
   */
  readonly maxBacklog: number;
  /**
   * Admission control: refuse new receipts (503, Retry-After: 1) once the node's event loop
   * delay p99 exceeded this (ms) in two 200 ms windows in a row, until it is under half (0: never).
   */
  readonly maxLagMs: number;
  /** Ports and host of the simulators (bin/simulators.ts). */
  readonly sim: { readonly host: string; readonly taxPort: number; readonly warehousePort: number };
}

/**
 * Development-only callback secrets shared by the simulators and the platform when no real
 * secrets are configured, in dev mode only. Outside dev mode a receipts node refuses to start
 * without TAX_CALLBACK_SECRET and WAREHOUSE_CALLBACK_SECRET, or with these values in them.
 */
export const DEV_CALLBACK_SECRETS = {
  tax: "whsec_ZGV2LXRheC1jYWxsYmFjay1zZWNyZXQtMDAwMQ==",
  warehouse: "whsec_ZGV2LXdoLWNhbGxiYWNrLXNlY3JldC0wMDAwMQ==",
} as const;

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
}

/** Thrown by `loadConfig` with one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

const CALLBACK_SECRET_VARS = { tax: "TAX_CALLBACK_SECRET", warehouse: "WAREHOUSE_CALLBACK_SECRET" } as const;

/**
 * The callback secrets of the tax and warehouse services. In dev mode an unset secret falls
 * back to {@link DEV_CALLBACK_SECRETS} (`dev` says so). Outside dev mode, a node hosting the
 * receipts service (it verifies the callbacks) needs both set, and neither may be the
 * well-known dev secret: anyone could sign a callback with it. Problems go to `r.problems`.
 */
function callbackSecrets(r: EnvReader, env: Env): { tax: string; warehouse: string; dev: boolean } {
  // Read again quietly: loadConfig reports problems of DEV_MODE and SERVICES once.
  const quiet = new EnvReader(env);
  const devMode = quiet.bool("DEV_MODE", env["NODE_ENV"] !== "production");
  const hosted = quiet.list("SERVICES", [...SERVICE_NAMES]).includes("receipts");
  const read = (service: keyof typeof CALLBACK_SECRET_VARS): string => {
    const name = CALLBACK_SECRET_VARS[service];
    const v = r.str(name, "");
    if (v !== "" && !/^whsec_[A-Za-z0-9+/=]{22,}$/.test(v)) r.problems.push(`${name} is invalid: expected whsec_ followed by base64 (at least 16 bytes)`);
    if (v !== "" && v === DEV_CALLBACK_SECRETS[service] && !devMode && hosted) {
      r.problems.push(`${name} is the well-known development secret: set a secret of your own outside dev mode`);
    }
    return v;
  };
  const out = { tax: read("tax"), warehouse: read("warehouse"), dev: false };
  if (out.tax === "" || out.warehouse === "") {
    if (devMode) {
      out.dev = true;
      if (out.tax === "") out.tax = DEV_CALLBACK_SECRETS.tax;
      if (out.warehouse === "") out.warehouse = DEV_CALLBACK_SECRETS.warehouse;
    } else if (hosted) {
      r.problems.push("TAX_CALLBACK_SECRET and WAREHOUSE_CALLBACK_SECRET are required outside dev mode when the receipts service runs (whsec_ followed by base64)");
    }
  }
  return out;
}

function receiptsConfig(r: EnvReader, env: Env): ReceiptsConfig {
  const sim = {
    host: r.str("SIM_HOST", "127.0.0.1"),
    taxPort: r.int("SIM_TAX_PORT", 4100, 1, 65535),
    warehousePort: r.int("SIM_WAREHOUSE_PORT", 4101, 1, 65535),
  };
  const set = (name: string): boolean => (env[name] ?? "").trim() !== "";
  const secrets = callbackSecrets(r, env);
  return {
    taxApiUrl: r.url("TAX_API_URL", `http://${sim.host}:${sim.taxPort}`, ["http:", "https:"]).replace(/\/+$/, ""),
    warehouseApiUrl: r.url("WAREHOUSE_API_URL", `http://${sim.host}:${sim.warehousePort}`, ["http:", "https:"]).replace(/\/+$/, ""),
    useSimulators: !set("TAX_API_URL") && !set("WAREHOUSE_API_URL"),
    taxCallbackSecret: secrets.tax,
    warehouseCallbackSecret: secrets.warehouse,
    devCallbackSecrets: secrets.dev,
    publicUrl: r.url("PUBLIC_URL", `http://127.0.0.1:${env["PORT"] ?? "3000"}`, ["http:", "https:"]).replace(/\/+$/, ""),
    deadlineMs: r.int("RECEIPT_DEADLINE_MS", 24 * 3600_000, 1000, 30 * 24 * 3600_000),
    callbackWaitMs: r.int("RECEIPT_CALLBACK_WAIT_MS", 10 * 60_000, 100, 24 * 3600_000),
    webhookDeadlineMs: r.int("RECEIPT_WEBHOOK_DEADLINE_MS", 24 * 3600_000, 1000, 30 * 24 * 3600_000),
    idempotencyTtlMs: r.int("RECEIPT_IDEMPOTENCY_TTL_MS", 24 * 3600_000, 60_000, 30 * 24 * 3600_000),
    callTimeoutMs: r.int("RECEIPT_CALL_TIMEOUT_MS", 10_000, 100, 120_000),
    jobConcurrency: r.int("RECEIPT_JOB_CONCURRENCY", 256, 1, 10_000),
    batchRows: r.int("RECEIPT_BATCH_ROWS", 500, 1, 10_000),
    batchMs: r.int("RECEIPT_BATCH_MS", 50, 1, 10_000),
    streamMaxAgeMs: r.int("RECEIPT_STREAM_MAX_AGE_MS", 7 * 24 * 3600_000, 60_000, 365 * 24 * 3600_000),
    maxBacklog: r.int("RECEIPT_MAX_BACKLOG", 10_000, 0, 1_000_000_000),
    maxLagMs: r.int("RECEIPT_MAX_LAG_MS", 50, 0, 60_000),
    sim,
  };
}

/**
 * The well-known development key for event data (base64 of SHA-256 of "switchyard development key for event data: never use in production"): used
 * only in dev mode when EVENTS_DATA_KEYS is unset, and logged as such at start.
 */
export const DEV_EVENTS_DATA_KEY = { id: "dev", key: "swckGl9OZrW8033rVtacUQpdE2GTU359FAff9N096ik=" } as const;

function eventsConfig(r: EnvReader, env: Env): EventsConfig {
  // Read again quietly: loadConfig reports problems of DEV_MODE and SERVICES once.
  const quiet = new EnvReader(env);
  const devMode = quiet.bool("DEV_MODE", env["NODE_ENV"] !== "production");
  const hosted = quiet.list("SERVICES", [...SERVICE_NAMES]).includes("events");
  const rawKeys = r.str("EVENTS_DATA_KEYS", "");
  const dataKeys: Record<string, string> = {};
  let order: string[] = [];
  if (rawKeys !== "") {
    for (const item of rawKeys.split(",").map((s) => s.trim()).filter(Boolean)) {
      const colon = item.indexOf(":");
      const kid = colon > 0 ? item.slice(0, colon) : "";
      const b64 = colon > 0 ? item.slice(colon + 1) : "";
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(kid)) {
        r.problems.push(`EVENTS_DATA_KEYS has an entry without a valid key id (expected kid:base64key, kid of 1-32 letters, digits, '_', '-')`);
        continue;
      }
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, "base64").length !== 32) {
        r.problems.push(`EVENTS_DATA_KEYS key ${JSON.stringify(kid)} is invalid: expected the base64 of exactly 32 bytes (AES-256)`);
        continue;
      }
      if (dataKeys[kid] !== undefined) r.problems.push(`EVENTS_DATA_KEYS lists key id ${JSON.stringify(kid)} twice`);
      dataKeys[kid] = b64;
      order.push(kid);
    }
  }
  let devKey = false;
  if (order.length === 0) {
    if (devMode) {
      dataKeys[DEV_EVENTS_DATA_KEY.id] = DEV_EVENTS_DATA_KEY.key;
      order = [DEV_EVENTS_DATA_KEY.id];
      devKey = true;
    } else if (hosted) {
      r.problems.push("EVENTS_DATA_KEYS is required outside dev mode when the events service runs (kid:base64 of 32 bytes, comma-separated)");
    }
  }
  const dataKeyId = r.str("EVENTS_DATA_KEY_ID", order.at(-1) ?? "");
  if (order.length > 0 && dataKeys[dataKeyId] === undefined) r.problems.push(`EVENTS_DATA_KEY_ID=${JSON.stringify(dataKeyId)} is not one of the ids in EVENTS_DATA_KEYS`);
  return {
    dataKeys,
    dataKeyId,
    devKey,
    partitions: r.int("EVENTS_PARTITIONS", 16, 1, 1024),
    maxEventBytes: r.int("EVENTS_MAX_EVENT_BYTES", 64 * 1024, 256, 900 * 1024),
    quantum: r.int("EVENTS_QUANTUM", 50, 1, 10_000),
    maxBatch: r.int("EVENTS_MAX_BATCH", 200, 1, 10_000),
    writeConcurrency: r.int("EVENTS_WRITE_CONCURRENCY", 4, 1, 64),
    tenantBuffer: r.int("EVENTS_TENANT_BUFFER", 400, 10, 100_000),
    maxAttempts: r.int("EVENTS_MAX_ATTEMPTS", 5, 1, 100),
    discoverMs: r.int("EVENTS_DISCOVER_MS", 1000, 50, 60_000),
    idleMs: r.int("EVENTS_IDLE_MS", 60_000, 1000, 86_400_000),
    alarmCheckMs: r.int("EVENTS_ALARM_CHECK_MS", 2000, 100, 3_600_000),
    outMaxAgeMs: r.int("EVENTS_OUT_MAX_AGE_MS", 7 * 24 * 3600_000, 60_000, 365 * 24 * 3600_000),
  };
}

/** Reads and validates configuration from `env` (default `process.env`). */
export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const config: Config = {
    nodeId: r.match("NODE_ID", `${os.hostname()}-${process.pid}`, /^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, '_', '.', '-'"),
    namespace: r.match("NAMESPACE", "sy", /^[a-z][a-z0-9]{0,15}$/, "a lower-case letter then up to 15 lower-case letters or digits"),
    natsUrl: r.url("NATS_URL", "nats://127.0.0.1:4222", ["nats:", "tls:", "ws:", "wss:"], true),
    databaseUrl: r.url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", ["postgres:", "postgresql:"]),
    redisUrl: r.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    services: r.list("SERVICES", [...SERVICE_NAMES], SERVICE_NAMES) as ServiceName[],
    workers: r.bool("WORKERS", true),
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
    },
    receipts: receiptsConfig(r, env),
    events: eventsConfig(r, env),
    supporters: supportersConfig(r, env, SERVICE_NAMES),
    master: masterConfig(r, env, SERVICE_NAMES),
    // DEV_MODE read again quietly: its problems are reported once, above
    egress: egressConfig(r, env, new EnvReader(env).bool("DEV_MODE", env["NODE_ENV"] !== "production")),
    cluster: clusterConfig(r, env),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
