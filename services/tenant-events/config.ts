/**
 * The tenant-events domain's section of the configuration (`config.tenantEvents`): data keys, limits,
 * fairness and batching of the multi-tenant event processor.
 */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";

declare module "../../config" {
  interface DomainConfigs {
    /** Multi-tenant event processing (services/tenant-events/). */
    readonly tenantEvents: EventsConfig;
  }
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

/**
 * The well-known development key for event data (base64 of SHA-256 of "switchyard development key for event data: never use in production"): used
 * only in dev mode when EVENTS_DATA_KEYS is unset, and logged as such at start.
 */
export const DEV_EVENTS_DATA_KEY = { id: "dev", key: "swckGl9OZrW8033rVtacUQpdE2GTU359FAff9N096ik=" } as const;

/** Reads the events section (EVENTS_*); problems go to `r.problems`. */
export function eventsConfig(r: EnvReader, _env: Env, platform: PlatformConfig): EventsConfig {
  const devMode = platform.devMode;
  const hosted = platform.services.includes("tenant-events");
  const rawKeys = r.str("EVENTS_DATA_KEYS", "");
  const dataKeys: Record<string, string> = {};
  let order: string[] = [];
  if (rawKeys !== "") {
    for (const item of rawKeys
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const colon = item.indexOf(":");
      const kid = colon > 0 ? item.slice(0, colon) : "";
      const b64 = colon > 0 ? item.slice(colon + 1) : "";
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(kid)) {
        r.problems.push(
          `EVENTS_DATA_KEYS has an entry without a valid key id (expected kid:base64key, kid of 1-32 letters, digits, '_', '-')`,
        );
        continue;
      }
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, "base64").length !== 32) {
        r.problems.push(
          `EVENTS_DATA_KEYS key ${JSON.stringify(kid)} is invalid: expected the base64 of exactly 32 bytes (AES-256)`,
        );
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
      r.problems.push(
        "EVENTS_DATA_KEYS is required outside dev mode when the tenant-events service runs (kid:base64 of 32 bytes, comma-separated)",
      );
    }
  }
  const dataKeyId = r.str("EVENTS_DATA_KEY_ID", order.at(-1) ?? "");
  if (order.length > 0 && dataKeys[dataKeyId] === undefined)
    r.problems.push(`EVENTS_DATA_KEY_ID=${JSON.stringify(dataKeyId)} is not one of the ids in EVENTS_DATA_KEYS`);
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
