/**
 * Per-supporter data keys in the KV bucket `{ns}_sup_keys`, wrapped by the deployment's
 * key-encryption key (SUPPORTERS_DATA_KEY). Only the intake pump creates and deletes keys (it
 * is the one place that sees a supporter's messages and forget requests in order); delivery
 * jobs only read them. Deleting a key purges it from the bucket (no history survives).
 */
import type { KV } from "../../nats";
import { newDataKey, unwrapKey, wrapKey, type DataKey, type WrappedKey } from "./seal";

/** Data keys by identity hash. */
export interface KeyStore {
  /** The supporter's data key, created on first use (one key per supporter, whichever node races). */
  current(hash: string): Promise<DataKey>;
  /** The supporter's data key if there is one (never creates). */
  find(hash: string): Promise<DataKey | undefined>;
  /** Deletes the supporter's data key: everything sealed with it becomes unreadable. */
  shred(hash: string): Promise<void>;
}

/** A key store over `kv`; `kek` is the base64 key-encryption key. */
export function createKeyStore(opts: { kv: KV; kek: string; now?: () => number }): KeyStore {
  const kek = Buffer.from(opts.kek, "base64");
  const now = opts.now ?? Date.now;

  async function find(hash: string): Promise<DataKey | undefined> {
    const e = await opts.kv.get(hash);
    if (!e || e.operation !== "PUT") return undefined;
    return unwrapKey(kek, hash, e.json<WrappedKey>());
  }

  return {
    find,
    async current(hash) {
      const existing = await find(hash);
      if (existing) return existing;
      const dk = newDataKey();
      try {
        await opts.kv.create(hash, JSON.stringify(wrapKey(kek, hash, dk, now())));
        return dk;
      } catch (err) {
        // Another writer created it first: use theirs.
        const theirs = await find(hash);
        if (theirs) return theirs;
        throw err;
      }
    },
    async shred(hash) {
      await opts.kv.purge(hash);
    },
  };
}

/** A key store that remembers keys it read, forgetting a supporter's as soon as it changes. */
export interface CachingKeyStore extends KeyStore {
  /** Stops watching the bucket. */
  close(): void;
}

/**
 * Caches `find` results of `inner` (the delivery jobs read a supporter's key for every call).
 * A watch on the bucket drops a supporter's cached key as soon as it is deleted or replaced, and
 * a read that raced with such a change is not cached.
 */
export async function cachingKeyStore(inner: KeyStore, kv: KV, maxEntries = 100_000): Promise<CachingKeyStore> {
  const cache = new Map<string, DataKey>();
  const changedAt = new Map<string, number>();
  let tick = 0;
  const watch = await kv.watch({ key: ">", include: "updates", headers_only: true });
  void (async () => {
    for await (const e of watch) {
      changedAt.set(e.key, ++tick);
      cache.delete(e.key);
      if (changedAt.size > maxEntries) {
        changedAt.clear();
        cache.clear();
      }
    }
  })().catch(() => undefined);
  return {
    async find(hash) {
      const hit = cache.get(hash);
      if (hit) return hit;
      const before = tick;
      const dk = await inner.find(hash);
      if (dk && (changedAt.get(hash) ?? 0) <= before) {
        if (cache.size >= maxEntries) cache.clear();
        cache.set(hash, dk);
      }
      return dk;
    },
    current: (hash) => inner.current(hash),
    async shred(hash) {
      cache.delete(hash);
      await inner.shred(hash);
      cache.delete(hash);
    },
    close() {
      watch.stop();
    },
  };
}
