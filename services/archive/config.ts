/** Settings of the archive domain (ARCHIVE_*) and the object store it writes to (OBJECT_STORE, S3_*). */
import path from "node:path";
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";
import { readStorageConfig, type StorageConfig } from "../../storage";

declare module "../../config" {
  interface DomainConfigs {
    /** Archive and analytics (services/archive/). */
    readonly archive: ArchiveConfig;
  }
}

/** Settings of the archive (see the README's table). */
export interface ArchiveConfig {
  readonly storage: StorageConfig;
  /** Local directory: staging, the file cache (ARCHIVE_DIR). */
  readonly dir: string;
  /** How often the lease holder looks for months to seal. */
  readonly intervalMs: number;
  readonly rowGroupRows: number;
  readonly batchRows: number;
  readonly duckThreads: number;
  readonly duckMemory: string;
  /** Operator SQL: time limit and row limit. */
  readonly sqlTimeoutMs: number;
  readonly sqlMaxRows: number;
  /** Named queries: time limit. */
  readonly queryTimeoutMs: number;
  /** How long a signed export download URL works. */
  readonly exportUrlTtlSec: number;
  /** The archive job's singleton lease. */
  readonly leaseMs: number;
  /** Signs export download URLs (default: derived from CLUSTER_SECRET). */
  readonly urlSecret: string;
  /** Seal on this node's schedule (ARCHIVE_JOB=off: never take the lease here). */
  readonly job: boolean;
  /** Base of the URLs handed out (status, downloads): PUBLIC_URL. */
  readonly publicUrl: string;
}

/** Reads the archive's section. */
export function archiveConfig(r: EnvReader, env: Env, p: PlatformConfig): ArchiveConfig {
  return {
    storage: readStorageConfig(r, `${p.namespace}_archive`),
    dir: r.str("ARCHIVE_DIR", path.join("var", "archive", p.namespace)),
    intervalMs: r.int("ARCHIVE_INTERVAL_MS", 3600_000, 1000, 7 * 86_400_000),
    rowGroupRows: r.int("ARCHIVE_ROW_GROUP_ROWS", 100_000, 1000, 10_000_000),
    batchRows: r.int("ARCHIVE_BATCH_ROWS", 5000, 100, 100_000),
    duckThreads: r.int("ARCHIVE_DUCKDB_THREADS", 2, 1, 256),
    duckMemory: r.match("ARCHIVE_DUCKDB_MEMORY", "2GB", /^\d+(MB|GB)$/, "a size such as 2GB"),
    sqlTimeoutMs: r.int("ARCHIVE_SQL_TIMEOUT_MS", 10_000, 100, 600_000),
    sqlMaxRows: r.int("ARCHIVE_SQL_MAX_ROWS", 10_000, 1, 1_000_000),
    queryTimeoutMs: r.int("ARCHIVE_QUERY_TIMEOUT_MS", 30_000, 100, 600_000),
    exportUrlTtlSec: r.int("ARCHIVE_EXPORT_URL_TTL_S", 900, 1, 7 * 86_400),
    leaseMs: r.int("ARCHIVE_LEASE_MS", 15_000, 1000, 600_000),
    urlSecret: r.str("ARCHIVE_URL_SECRET", `archive-url:${p.cluster.secret}`),
    job: r.bool("ARCHIVE_JOB", true),
    publicUrl: r
      .url("PUBLIC_URL", `http://127.0.0.1:${env["PORT"] ?? "3000"}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
  };
}
