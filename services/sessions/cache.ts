/**
 * The session cache in Redis: hot data of active users, each with a TTL, invalidated when its
 * source changes. Keys (all under `{ns}:sess:`):
 *
 *   user:<client>          hash {lastSeen}                          SESSIONS_TTL_SEC
 *   carts:<client>         set of the client's cart ids             SESSIONS_TTL_SEC
 *   cart:<cart>            JSON cart summary                        SESSIONS_CART_TTL_SEC
 *   pv:<product>           the product's cache version (INCR on change)
 *   product:<product>:<v>  JSON product view of version v           SESSIONS_PRODUCT_TTL_SEC
 *
 * A product change bumps its version, so a load that raced the change writes under the old
 * version and is never read again (it expires). Invalidations arrive as Moleculer broadcasts,
 * at most once: a missed one is bounded by the TTL.
 */
import type { Redis } from "ioredis";

/** Counters of this node's cache use. */
export interface CacheStats {
  hits: number;
  misses: number;
  invalidations: number;
}

/** Cache TTLs. */
export interface CacheTtls {
  readonly sessionSec: number;
  readonly cartSec: number;
  readonly productSec: number;
}

/** Carts whose listing in their owner's set is remembered per node. */
const MAX_LISTED = 100_000;

/** The cache over `redis` for namespace `ns`. */
export function createSessionCache(redis: Redis, ns: string, ttl: CacheTtls) {
  const k = (s: string): string => `${ns}:sess:${s}`;
  const stats: CacheStats = { hits: 0, misses: 0, invalidations: 0 };
  /** When this node last added each cart to its owner's set (and renewed the set's TTL). */
  const listed = new Map<string, number>();

  /** `key`'s JSON value, or `load()` stored with `ttlSec` (undefined is not stored). */
  async function through<T>(
    key: string,
    ttlSec: number,
    load: () => Promise<T | undefined>,
  ): Promise<{ value: T | undefined; hit: boolean }> {
    const raw = await redis.get(key);
    if (raw !== null) {
      stats.hits++;
      const value: T = JSON.parse(raw);
      return { value, hit: true };
    }
    stats.misses++;
    const value = await load();
    if (value !== undefined) await redis.set(key, JSON.stringify(value), "EX", ttlSec);
    return { value, hit: false };
  }

  return {
    stats,

    /** Marks `client` active now (its session lives SESSIONS_TTL_SEC after its last request). */
    async touch(client: string): Promise<string> {
      const now = new Date().toISOString();
      await redis
        .multi()
        .hset(k(`user:${client}`), "lastSeen", now)
        .expire(k(`user:${client}`), ttl.sessionSec)
        .exec();
      return now;
    },

    carts: (client: string) => redis.smembers(k(`carts:${client}`)),

    cart: <T>(cartId: string, load: () => Promise<T | undefined>) => through(k(`cart:${cartId}`), ttl.cartSec, load),

    async product<T>(productId: string, load: () => Promise<T | undefined>) {
      const v = (await redis.get(k(`pv:${productId}`))) ?? "0";
      return through(k(`product:${productId}:${v}`), ttl.productSec, load);
    },

    /**
     * A change of `cartId` (of `owner`, when known): its summary is dropped, and the owner's cart
     * set is kept (added to, its TTL renewed) when this node last did that more than a quarter of
     * the session TTL ago; so most changes cost one command, the others one round trip.
     */
    async cartChanged(cartId: string, owner: string | undefined): Promise<void> {
      stats.invalidations++;
      const now = Date.now();
      const at = owner ? listed.get(cartId) : undefined;
      if (!owner || (at !== undefined && now - at < (ttl.sessionSec * 1000) / 4)) {
        await redis.del(k(`cart:${cartId}`));
        return;
      }
      await redis
        .pipeline()
        .del(k(`cart:${cartId}`))
        .sadd(k(`carts:${owner}`), cartId)
        .expire(k(`carts:${owner}`), ttl.sessionSec)
        .exec();
      listed.delete(cartId); // re-insert: oldest first
      if (listed.size >= MAX_LISTED) {
        const oldest = listed.keys().next();
        if (!oldest.done) listed.delete(oldest.value);
      }
      listed.set(cartId, now);
    },

    async dropProduct(productId: string): Promise<void> {
      stats.invalidations++;
      await redis
        .multi()
        .incr(k(`pv:${productId}`))
        .expire(k(`pv:${productId}`), 7 * 86_400)
        .exec();
    },

    /** Keys and their memory (bytes, Redis MEMORY USAGE) under the prefix; scans at most `max` keys. */
    async size(max = 100_000): Promise<{ keys: number; bytes: number }> {
      let cursor = "0";
      let keys = 0;
      let bytes = 0;
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", k("*"), "COUNT", 1000);
        cursor = next;
        keys += batch.length;
        for (const key of batch.slice(0, 50)) bytes += Number((await redis.memory("USAGE", key)) ?? 0);
      } while (cursor !== "0" && keys < max);
      return { keys, bytes };
    },
  };
}

/** The cache. */
export type SessionCache = ReturnType<typeof createSessionCache>;
