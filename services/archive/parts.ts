/**
 * The archive's parts on one node, opened once at start: the object store, DuckDB (one instance
 * for the archive's reads and writes, one locked-down instance for operators' SQL), the month
 * store, the file cache, the sealer and the reader.
 */
import path from "node:path";
import { mkdir } from "node:fs/promises";
import type { Pool } from "../../db";
import type { Logger } from "../../lib/logger";
import type { NatsConnection } from "../../nats";
import { openObjectStore, type ObjectStore } from "../../storage";
import type { ArchiveConfig } from "./config";
import { createDuck, openDuck, type DuckDBInstance } from "./duck";
import { openSqlDuck } from "./analytics";
import { createMonthStore, type MonthStore } from "./manifest";
import { createFileCache, type FileCache } from "./cache";
import { createSealer, type Sealer, type SealerDeps } from "./sealer";
import { createReader, type Reader } from "./reader";

/** Everything the archive's actions and job use. */
export interface ArchiveParts {
  readonly pg: Pool;
  readonly store: ObjectStore;
  readonly duck: DuckDBInstance;
  readonly sqlDuck: DuckDBInstance;
  readonly months: MonthStore;
  readonly cache: FileCache;
  readonly sealer: Sealer;
  readonly reader: Reader;
  close(): Promise<void>;
}

/** Opens the parts (`replicas` for a JetStream bucket). */
export async function openArchiveParts(
  c: ArchiveConfig,
  pg: Pool,
  nc: NatsConnection,
  replicas: number,
  log: Logger,
  hooks: Pick<SealerDeps, "afterStep" | "onRows"> = {},
): Promise<ArchiveParts> {
  const dir = path.resolve(c.dir);
  const cacheDir = path.join(dir, "cache");
  await mkdir(cacheDir, { recursive: true });
  const store = await openObjectStore(c.storage, nc, replicas);
  const duck = await openDuck(c.duckThreads, c.duckMemory, path.join(dir, "tmp"));
  const sqlDuck = await openSqlDuck(createDuck, cacheDir, c.duckThreads, c.duckMemory);
  const months = createMonthStore(pg);
  const cache = createFileCache(cacheDir, store);
  const sealer = createSealer({
    pg,
    duck,
    store,
    months,
    cache,
    workDir: path.join(dir, "work"),
    rowGroupRows: c.rowGroupRows,
    batchRows: c.batchRows,
    log,
    ...hooks,
  });
  const reader = createReader({ duck, months, cache });
  return {
    pg,
    store,
    duck,
    sqlDuck,
    months,
    cache,
    sealer,
    reader,
    async close() {
      duck.closeSync();
      sqlDuck.closeSync();
      await store.close();
    },
  };
}
