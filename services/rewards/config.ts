/**
 * Configuration of the rewards domain: the QR signing secret and lifetime, the transactions
 * stream's retention, the ledger writer's batching and the invariant check's schedule.
 */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";

declare module "../../config" {
  interface DomainConfigs {
    /** Accounts, ledger, business rules, scoring and QR encounters (services/rewards/). */
    readonly rewards: RewardsConfig;
  }
}

/** The well-known development QR secret (never in production: set REWARDS_QR_SECRET). */
export const DEV_QR_SECRET = "dev-only-rewards-qr-secret-change-me-0123456789";

/** Settings of the rewards domain. */
export interface RewardsConfig {
  /** HMAC-SHA256 key of QR tokens (REWARDS_QR_SECRET, at least 32 characters). */
  readonly qrSecret: string;
  readonly devSecrets: boolean;
  /** Lifetime of a QR token (REWARDS_QR_TTL_MS, default 2 minutes). */
  readonly qrTtlMs: number;
  /** How long the transactions stream keeps records (REWARDS_TX_RETENTION_MS, default 30 days). */
  readonly txRetentionMs: number;
  /** Transaction ids each account remembers, for resends after the mailbox's 2-minute duplicate window. */
  readonly recentMax: number;
  /** Ledger writer batch: rows ... */
  readonly batchRows: number;
  /** ... or milliseconds, whichever comes first. */
  readonly batchMs: number;
  /** How long an HTTP submission waits for its outcome before answering 202 (REWARDS_WAIT_MS). */
  readonly waitMs: number;
  /** Interval of the periodic ledger check that sets the invariant metric (0: off). */
  readonly checkIntervalMs: number;
  /** Base URL of the ID validators (REWARDS_VALIDATORS_URL; default the local simulator). */
  readonly validatorsUrl: string;
  /** Base URL of the identity provider (REWARDS_IDP_URL). */
  readonly idpUrl: string;
  /** Base URL of the catalog providers (REWARDS_CATALOGS_URL). */
  readonly catalogsUrl: string;
  /** True when none of the three URLs is set: dev mode runs the simulator. */
  readonly useSimulators: boolean;
  /** Port of the simulator (REWARDS_SIM_PORT, default 4710) and its host (SIM_HOST, as the other simulators). */
  readonly simPort: number;
  readonly simHost: string;
  /** Per-attempt time limit of a call to an external system. */
  readonly callTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** How long one signup step keeps retrying before the signup fails (retryable by operators). */
  readonly signupDeadlineMs: number;
  /** How often the lease holder polls the catalog providers. */
  readonly catalogPollMs: number;
  /** The catalog poller's lease TTL. */
  readonly catalogLeaseMs: number;
}

/** Reads the rewards section of the environment. */
export function rewardsConfig(r: EnvReader, env: Env, platform: PlatformConfig): RewardsConfig {
  const qrSecret = r.str("REWARDS_QR_SECRET", DEV_QR_SECRET);
  if (qrSecret.length < 32) r.problems.push("REWARDS_QR_SECRET is invalid: expected at least 32 characters");
  const devSecrets = qrSecret === DEV_QR_SECRET;
  if (
    devSecrets &&
    !platform.devMode &&
    platform.services.includes("rewards") &&
    (env["REWARDS_QR_SECRET"] ?? "") === ""
  )
    r.problems.push("REWARDS_QR_SECRET is unset: outside dev mode set a secret of at least 32 characters");
  const simPort = r.int("REWARDS_SIM_PORT", 4710, 1, 65535);
  return {
    qrSecret,
    devSecrets,
    qrTtlMs: r.int("REWARDS_QR_TTL_MS", 120_000, 1_000, 3_600_000),
    txRetentionMs: r.int("REWARDS_TX_RETENTION_MS", 30 * 86_400_000, 60_000, 3650 * 86_400_000),
    recentMax: r.int("REWARDS_RECENT_TX", 2000, 10, 100_000),
    batchRows: r.int("REWARDS_LEDGER_BATCH_ROWS", 1000, 1, 20_000),
    batchMs: r.int("REWARDS_LEDGER_BATCH_MS", 20, 1, 10_000),
    waitMs: r.int("REWARDS_WAIT_MS", 5000, 0, 60_000),
    checkIntervalMs: r.int("REWARDS_CHECK_INTERVAL_MS", 60_000, 0, 86_400_000),
    validatorsUrl: r
      .url("REWARDS_VALIDATORS_URL", `http://127.0.0.1:${simPort}`, ["http:", "https:"])
      .replace(/\/$/, ""),
    idpUrl: r.url("REWARDS_IDP_URL", `http://127.0.0.1:${simPort}`, ["http:", "https:"]).replace(/\/$/, ""),
    catalogsUrl: r.url("REWARDS_CATALOGS_URL", `http://127.0.0.1:${simPort}`, ["http:", "https:"]).replace(/\/$/, ""),
    useSimulators: ["REWARDS_VALIDATORS_URL", "REWARDS_IDP_URL", "REWARDS_CATALOGS_URL"].every(
      (n) => (env[n] ?? "").trim() === "",
    ),
    simPort,
    simHost: r.str("SIM_HOST", "127.0.0.1"),
    callTimeoutMs: r.int("REWARDS_CALL_TIMEOUT_MS", 5000, 100, 120_000),
    backoffBaseMs: r.int("REWARDS_BACKOFF_BASE_MS", 200, 10, 60_000),
    backoffMaxMs: r.int("REWARDS_BACKOFF_MAX_MS", 5000, 10, 600_000),
    signupDeadlineMs: r.int("REWARDS_SIGNUP_DEADLINE_MS", 120_000, 1000, 7 * 86_400_000),
    catalogPollMs: r.int("REWARDS_CATALOG_POLL_MS", 60_000, 100, 86_400_000),
    catalogLeaseMs: r.int("REWARDS_CATALOG_LEASE_MS", 10_000, 1000, 600_000),
  };
}
