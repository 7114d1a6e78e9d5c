/**
 * The local cache of archive files: DuckDB has no S3 access here (no httpfs), so Parquet files
 * are read from local copies, downloaded through the object-store interface with their SHA-256
 * checked (a copy is used only once it matched; a bad one is never renamed into place).
 */
import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { downloadVerified, type ObjectStore } from "../../storage";

/** Local copies of objects under `dir`. */
export interface FileCache {
  /** Where `key`'s copy lives (whether or not it is there). */
  pathOf(key: string): string;
  /** The local copy of `key` (`bytes` long), downloaded and verified when missing. */
  ensure(key: string, bytes: number): Promise<string>;
}

/** A cache in `dir` over `store`. */
export function createFileCache(dir: string, store: ObjectStore): FileCache {
  const inflight = new Map<string, Promise<string>>();
  const pathOf = (key: string): string => path.join(dir, ...key.split("/"));
  return {
    pathOf,
    ensure(key, bytes) {
      const file = pathOf(key);
      const running = inflight.get(key);
      if (running) return running;
      const p = (async () => {
        if (existsSync(file) && (await stat(file)).size === bytes) return file;
        await mkdir(path.dirname(file), { recursive: true });
        const got = await downloadVerified(store, key, file);
        if (got === undefined) throw new Error(`archive file ${key} is missing from the object store`);
        return file;
      })().finally(() => inflight.delete(key));
      inflight.set(key, p);
      return p;
    },
  };
}
