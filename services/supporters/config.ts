/**
 * Configuration of the supporters domain and its simulators: the identity-hash pepper, the key
 * that wraps per-supporter data keys, the user and ERP services, retry/backoff/breaker
 * settings, queue bounds and batching.
 */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";

declare module "../../config" {
  interface DomainConfigs {
    /** Supporter identities and events to the user and ERP services (services/supporters/). */
    readonly supporters: SupportersConfig;
  }
}

/** Settings of supporter intake and propagation to the user and ERP services. */
export interface SupportersConfig {
  /**
   * Secret pepper of the identity hash (HMAC-SHA256 key). Changing it changes every supporter's
   * hash: set it once per deployment (SUPPORTERS_PEPPER, at least 32 characters).
   */
  readonly pepper: string;
  /**
   * Key-encryption key (base64 of 32 bytes, SUPPORTERS_DATA_KEY) that wraps each supporter's
   * data key in KV. Personal data is encrypted with the supporter's data key; forgetting a
   * supporter deletes that key (crypto-shredding).
   */
  readonly dataKey: string;
  /** True when the well-known development pepper and data key are in use (never in production). */
  readonly devSecrets: boolean;
  /** Base URL of the user service (identities; step 1). Default: the local simulator. */
  readonly userServiceUrl: string;
  /** Base URL of the ERP service (events; step 2). Default: the local simulator. */
  readonly erpServiceUrl: string;
  /** True when USER_SERVICE_URL and ERP_SERVICE_URL are unset: dev mode runs the simulators. */
  readonly useSimulators: boolean;
  /** Country calling code for national phone numbers ("07700 900123" with 44 -> +447700900123). */
  readonly defaultCountryCode: string;
  /** Per-attempt time limit of a call to the user or ERP service. */
  readonly callTimeoutMs: number;
  /** Parallel calls per node and downstream. */
  readonly jobConcurrency: number;
  /** Exponential backoff of a failing delivery: first delay ... */
  readonly backoffBaseMs: number;
  /** ... capped at this (default 60 s). */
  readonly backoffMaxMs: number;
  /** Failures in a row that open a downstream's circuit breaker (per node). */
  readonly breakerFailures: number;
  /** How long an open breaker stops calls before one trial call. */
  readonly breakerOpenMs: number;
  /**
   * Time one delivery job may keep retrying before the supporter actor re-issues it (a new job
   * with the same idempotency key): deliveries never give up, this only bounds one job's life.
   */
  readonly jobDeadlineMs: number;
  /** Undelivered messages one supporter may hold; beyond it messages are parked in the DLQ. */
  readonly maxQueue: number;
  /** ... and at most this many bytes of (encrypted) payload. */
  readonly maxQueueBytes: number;
  /** Messages the intake pump forwards per round. */
  readonly pumpBatch: number;
  /** The pump's lease expires this long after its holder stopped renewing it. */
  readonly pumpLeaseMs: number;
  /** Largest message accepted at intake (bytes of JSON). */
  readonly maxMessageBytes: number;
  /** The Postgres event-log writer commits every this many rows ... */
  readonly batchRows: number;
  /** ... or this many milliseconds. */
  readonly batchMs: number;
  /** Host and ports of the simulators (bin/simulators.ts). */
  readonly sim: { readonly host: string; readonly userPort: number; readonly erpPort: number };
}

/** Well-known development secrets, used only in dev mode when none are configured. */
export const DEV_SUPPORTER_SECRETS = {
  pepper: "switchyard-dev-supporters-pepper-do-not-use-in-production",
  dataKey: "c3dpdGNoeWFyZC1kZXYtc3VwcG9ydGVycy1rZWstMDE=",
} as const;

/** Reads the supporters section; problems go to `r.problems`. */
export function supportersConfig(r: EnvReader, env: Env, platform: PlatformConfig): SupportersConfig {
  const devMode = platform.devMode;
  const hosted = platform.services.includes("supporters");
  const set = (name: string): boolean => (env[name] ?? "").trim() !== "";
  let devSecrets = false;
  let pepper = r.str("SUPPORTERS_PEPPER", "");
  let dataKey = r.str("SUPPORTERS_DATA_KEY", "");
  if (pepper === "" || dataKey === "") {
    if (devMode) {
      devSecrets = true;
      if (pepper === "") pepper = DEV_SUPPORTER_SECRETS.pepper;
      if (dataKey === "") dataKey = DEV_SUPPORTER_SECRETS.dataKey;
    } else if (hosted) {
      r.problems.push(
        "SUPPORTERS_PEPPER and SUPPORTERS_DATA_KEY are required outside dev mode when the supporters service runs",
      );
    }
  }
  if (pepper !== "" && pepper.length < 32)
    r.problems.push("SUPPORTERS_PEPPER is invalid: expected at least 32 characters");
  if (dataKey !== "" && (!/^[A-Za-z0-9+/]+={0,2}$/.test(dataKey) || Buffer.from(dataKey, "base64").length !== 32)) {
    r.problems.push("SUPPORTERS_DATA_KEY is invalid: expected the base64 of exactly 32 bytes (AES-256)");
  }
  const sim = {
    host: r.str("SIM_HOST", "127.0.0.1"),
    userPort: r.int("SIM_USER_PORT", 4102, 1, 65535),
    erpPort: r.int("SIM_ERP_PORT", 4103, 1, 65535),
  };
  return {
    pepper,
    dataKey,
    devSecrets,
    userServiceUrl: r
      .url("USER_SERVICE_URL", `http://${sim.host}:${sim.userPort}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    erpServiceUrl: r
      .url("ERP_SERVICE_URL", `http://${sim.host}:${sim.erpPort}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    useSimulators: !set("USER_SERVICE_URL") && !set("ERP_SERVICE_URL"),
    defaultCountryCode: r.match(
      "SUPPORTERS_DEFAULT_COUNTRY_CODE",
      "44",
      /^[1-9][0-9]{0,2}$/,
      "a country calling code of 1-3 digits, e.g. 44",
    ),
    callTimeoutMs: r.int("SUPPORTERS_CALL_TIMEOUT_MS", 5_000, 100, 120_000),
    jobConcurrency: r.int("SUPPORTERS_JOB_CONCURRENCY", 64, 1, 10_000),
    backoffBaseMs: r.int("SUPPORTERS_BACKOFF_BASE_MS", 500, 10, 60_000),
    backoffMaxMs: r.int("SUPPORTERS_BACKOFF_MAX_MS", 60_000, 100, 3_600_000),
    breakerFailures: r.int("SUPPORTERS_BREAKER_FAILURES", 10, 1, 10_000),
    breakerOpenMs: r.int("SUPPORTERS_BREAKER_OPEN_MS", 5_000, 100, 600_000),
    jobDeadlineMs: r.int("SUPPORTERS_JOB_DEADLINE_MS", 7 * 24 * 3600_000, 10_000, 365 * 24 * 3600_000),
    maxQueue: r.int("SUPPORTERS_MAX_QUEUE", 500, 10, 100_000),
    maxQueueBytes: r.int("SUPPORTERS_MAX_QUEUE_BYTES", 384 * 1024, 16 * 1024, 768 * 1024),
    pumpBatch: r.int("SUPPORTERS_PUMP_BATCH", 256, 1, 5_000),
    pumpLeaseMs: r.int("SUPPORTERS_PUMP_LEASE_MS", 6_000, 1_000, 120_000),
    maxMessageBytes: r.int("SUPPORTERS_MAX_MESSAGE_BYTES", 32 * 1024, 1024, 256 * 1024),
    batchRows: r.int("SUPPORTERS_BATCH_ROWS", 500, 1, 10_000),
    batchMs: r.int("SUPPORTERS_BATCH_MS", 50, 1, 10_000),
    sim,
  };
}
