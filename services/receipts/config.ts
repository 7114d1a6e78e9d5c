/**
 * The receipts domain's section of the configuration (`config.receipts`): the external
 * services, callback secrets, deadlines, batching, admission control and the simulators' ports.
 */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";

declare module "../../config" {
  interface DomainConfigs {
    /** Receipt registration (services/receipts/). */
    readonly receipts: ReceiptsConfig;
  }
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
  /** Receipts of months wholly older than this many days move to the archive (RECEIPTS_HOT_DAYS). */
  readonly hotDays: number;
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

const CALLBACK_SECRET_VARS = { tax: "TAX_CALLBACK_SECRET", warehouse: "WAREHOUSE_CALLBACK_SECRET" } as const;

/**
 * The callback secrets of the tax and warehouse services. In dev mode an unset secret falls
 * back to {@link DEV_CALLBACK_SECRETS} (`dev` says so). Outside dev mode, a node hosting the
 * receipts service (it verifies the callbacks) needs both set, and neither may be the
 * well-known dev secret: anyone could sign a callback with it. Problems go to `r.problems`.
 */
function callbackSecrets(r: EnvReader, platform: PlatformConfig): { tax: string; warehouse: string; dev: boolean } {
  const devMode = platform.devMode;
  const hosted = platform.services.includes("receipts");
  const read = (service: keyof typeof CALLBACK_SECRET_VARS): string => {
    const name = CALLBACK_SECRET_VARS[service];
    const v = r.str(name, "");
    if (v !== "" && !/^whsec_[A-Za-z0-9+/=]{22,}$/.test(v))
      r.problems.push(`${name} is invalid: expected whsec_ followed by base64 (at least 16 bytes)`);
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
      r.problems.push(
        "TAX_CALLBACK_SECRET and WAREHOUSE_CALLBACK_SECRET are required outside dev mode when the receipts service runs (whsec_ followed by base64)",
      );
    }
  }
  return out;
}

/** Reads the receipts section (RECEIPT_*, TAX_*, WAREHOUSE_*, PUBLIC_URL, SIM_*); problems go to `r.problems`. */
export function receiptsConfig(r: EnvReader, env: Env, platform: PlatformConfig): ReceiptsConfig {
  const sim = {
    host: r.str("SIM_HOST", "127.0.0.1"),
    taxPort: r.int("SIM_TAX_PORT", 4100, 1, 65535),
    warehousePort: r.int("SIM_WAREHOUSE_PORT", 4101, 1, 65535),
  };
  const set = (name: string): boolean => (env[name] ?? "").trim() !== "";
  const secrets = callbackSecrets(r, platform);
  return {
    taxApiUrl: r.url("TAX_API_URL", `http://${sim.host}:${sim.taxPort}`, ["http:", "https:"]).replace(/\/+$/, ""),
    warehouseApiUrl: r
      .url("WAREHOUSE_API_URL", `http://${sim.host}:${sim.warehousePort}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    useSimulators: !set("TAX_API_URL") && !set("WAREHOUSE_API_URL"),
    taxCallbackSecret: secrets.tax,
    warehouseCallbackSecret: secrets.warehouse,
    devCallbackSecrets: secrets.dev,
    publicUrl: r
      .url("PUBLIC_URL", `http://127.0.0.1:${env["PORT"] ?? "3000"}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    deadlineMs: r.int("RECEIPT_DEADLINE_MS", 24 * 3600_000, 1000, 30 * 24 * 3600_000),
    hotDays: r.int("RECEIPTS_HOT_DAYS", 30, 1, 3650),
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
