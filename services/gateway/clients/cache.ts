/**
 * Credential cache in three layers: in-process (a bounded Map, `ttlMs`, the suspension safety
 * net), Redis (shared by every node, minutes) and PostgreSQL (the truth). A warm lookup is two
 * Map reads. Concurrent misses for one entry share one fetch.
 *
 * Staleness: a change notice evicts the client's entries and records its new version as a
 * floor; any copy older than the floor (e.g. written to Redis by a node that read Postgres just
 * before the change committed) is ignored and re-read from Postgres.
 *
 * Trust: Redis entries carry a MAC (clients/cache-entry.ts). One that does not verify (planted,
 * edited, copied from another key) is a miss: it is deleted, logged, and read from Postgres.
 * Negative cache: "no such key / client" is remembered apart from the entries, in a small LRU
 * of its own (`negativeMax`, `negativeTtlMs`), so a repeated unknown id costs no Redis read and
 * no Postgres query, and a flood of made-up ids cannot push real entries out. Ids are random and
 * minted by the server, so a new client or key is normally never in it; still, the notice of a
 * create or rotation names the new ids and every node forgets them at once.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../../../lib/logger";
import type { Mac } from "../../../lib/sealed";
import { decodeEntry, encodeEntry } from "./cache-entry";
import type { ClientStore } from "./store";
import type { ClientChange } from "./notices";
import type { ClientEntry, KeyEntry } from "./types";

/** Which layer answered a lookup: `negative` is a remembered miss, `miss` a Postgres query that found nothing. */
export type CacheLayer = "memory" | "negative" | "redis" | "db" | "miss";

/** Options of {@link createCredentialCache}. */
export interface CredentialCacheOptions {
  readonly store: Pick<ClientStore, "findKey" | "findClient">;
  readonly redis?: Redis;
  /** Signs the entries written to Redis and verifies those read (see credentialCacheMac). */
  readonly mac: Mac;
  readonly namespace: string;
  /** In-process lifetime of a client entry (status, scopes). */
  readonly ttlMs: number;
  /** In-process lifetime of "no such key / client" (0: not remembered). Default ttlMs. */
  readonly negativeTtlMs?: number;
  /** Unknown ids remembered at most (least recently used go first). Default 10,000. */
  readonly negativeMax?: number;
  /**
   * In-process lifetime of an API key entry (changes only on rotation, which also sends a
   * notice). Default 6 x ttlMs.
   */
  readonly keyTtlMs?: number;
  /** Redis lifetime of an entry. Default 300 s. */
  readonly redisTtlSec?: number;
  /** In-process entries at most (oldest go first). Default 200,000. */
  readonly maxEntries?: number;
  readonly logger?: Logger;
  readonly onLookup?: (layer: CacheLayer) => void;
}

/** Cached lookups of keys and clients. */
export interface CredentialCache {
  key(keyId: string): Promise<KeyEntry | undefined>;
  client(id: string): Promise<ClientEntry | undefined>;
  /** Applies a change notice: evicts the client's entries on this node. */
  apply(change: ClientChange): void;
  /** In-process entry count (unknown ids not included). */
  size(): number;
}

/** Redis key of a cached API key entry. */
export function redisKeyEntry(ns: string, keyId: string): string {
  return `${ns}:gw:key:${keyId}`;
}

/** Redis key of a cached client entry. */
export function redisClientEntry(ns: string, clientId: string): string {
  return `${ns}:gw:client:${clientId}`;
}

/** Deletes the Redis copies of a client and of its keys (writers call this after a change). */
export async function invalidateRedis(
  redis: Redis,
  ns: string,
  clientId: string,
  keyIds: readonly string[],
): Promise<void> {
  await redis.del(redisClientEntry(ns, clientId), ...keyIds.map((k) => redisKeyEntry(ns, k)));
}

interface Slot {
  readonly value: KeyEntry | ClientEntry;
  readonly at: number;
}

/** Builds the cache. */
export function createCredentialCache(opts: CredentialCacheOptions): CredentialCache {
  const mem = new Map<string, Slot>();
  const inflight = new Map<string, Promise<KeyEntry | ClientEntry | undefined>>();
  const floors = new Map<string, { version: number; at: number }>();
  const redisTtlSec = opts.redisTtlSec ?? 300;
  const maxEntries = opts.maxEntries ?? 200_000;
  const keyTtlMs = opts.keyTtlMs ?? opts.ttlMs * 6;
  const negativeTtlMs = opts.negativeTtlMs ?? opts.ttlMs;
  const negativeMax = opts.negativeMax ?? 10_000;
  /** `k:{keyId}` / `c:{clientId}` -> when the miss was seen; insertion order is recency. */
  const unknown = new Map<string, number>();
  let lastRedisWarn = 0;
  let lastForgedWarn = 0;
  let forgedSinceWarn = 0;

  const floorOf = (clientId: string) => floors.get(clientId)?.version ?? 0;
  const clientIdOf = (v: KeyEntry | ClientEntry) => ("clientId" in v ? v.clientId : v.id);

  function rememberMiss(k: string): void {
    if (negativeTtlMs <= 0) return;
    unknown.delete(k);
    unknown.set(k, Date.now());
    if (unknown.size > negativeMax) {
      const oldest = unknown.keys().next();
      if (!oldest.done) unknown.delete(oldest.value);
    }
  }

  /** True (and marked recently used) when `k` is a remembered miss still within its lifetime. */
  function knownMissing(k: string): boolean {
    const at = unknown.get(k);
    if (at === undefined) return false;
    unknown.delete(k);
    if (Date.now() - at >= negativeTtlMs) return false;
    unknown.set(k, at);
    return true;
  }

  function remember(k: string, value: KeyEntry | ClientEntry): void {
    unknown.delete(k);
    mem.delete(k);
    mem.set(k, { value, at: Date.now() });
    if (mem.size > maxEntries) {
      const oldest = mem.keys().next();
      if (!oldest.done) mem.delete(oldest.value);
    }
  }

  function warnRedis(err: unknown): void {
    // Redis down degrades to Postgres reads; say so at most every 10 s.
    if (Date.now() - lastRedisWarn > 10_000) {
      lastRedisWarn = Date.now();
      opts.logger?.warn({ err: (err as Error).message }, "credential cache: redis unavailable, reading postgres");
    }
  }

  function untrusted(rk: string): void {
    // Not trusted, not kept: the Postgres read below replaces it. Say so at most every 10 s.
    opts.redis?.del(rk).catch(warnRedis);
    forgedSinceWarn++;
    if (Date.now() - lastForgedWarn > 10_000) {
      lastForgedWarn = Date.now();
      opts.logger?.warn(
        { key: rk, count: forgedSinceWarn },
        "credential cache: redis entry failed its MAC (forged, altered or stale format): ignored and deleted",
      );
      forgedSinceWarn = 0;
    }
  }

  async function fetch(kind: "k" | "c", id: string): Promise<KeyEntry | ClientEntry | undefined> {
    const rk = kind === "k" ? redisKeyEntry(opts.namespace, id) : redisClientEntry(opts.namespace, id);
    // Not connected: go straight to Postgres instead of queueing behind the reconnects.
    if (opts.redis && opts.redis.status === "ready") {
      try {
        const raw = await opts.redis.get(rk);
        if (raw) {
          const v = decodeEntry<KeyEntry | ClientEntry>(opts.mac, rk, raw);
          if (!v) untrusted(rk);
          else if (v.version >= floorOf(clientIdOf(v))) {
            opts.onLookup?.("redis");
            return v;
          }
        }
      } catch (err) {
        warnRedis(err);
      }
    }
    let v: KeyEntry | ClientEntry | undefined;
    // A read that raced a change (older than the floor) is read again; bounded.
    for (let i = 0; i < 3; i++) {
      v = kind === "k" ? await opts.store.findKey(id) : await opts.store.findClient(id);
      if (!v || v.version >= floorOf(clientIdOf(v))) break;
    }
    opts.onLookup?.(v ? "db" : "miss");
    if (v && opts.redis) {
      opts.redis.set(rk, encodeEntry(opts.mac, rk, v), "EX", redisTtlSec).catch(warnRedis);
    }
    return v;
  }

  function refresh(kind: "k" | "c", id: string, k: string): Promise<KeyEntry | ClientEntry | undefined> {
    let p = inflight.get(k);
    if (!p) {
      p = fetch(kind, id).then(
        (v) => {
          inflight.delete(k);
          if (v) remember(k, v);
          else {
            mem.delete(k);
            rememberMiss(k);
          }
          return v;
        },
        (err: unknown) => {
          inflight.delete(k);
          throw err;
        },
      );
      inflight.set(k, p);
    }
    return p;
  }

  async function get(kind: "k" | "c", id: string): Promise<KeyEntry | ClientEntry | undefined> {
    const k = `${kind}:${id}`;
    const slot = mem.get(k);
    if (slot && slot.value.version >= floorOf(clientIdOf(slot.value))) {
      const age = Date.now() - slot.at;
      const ttl = kind === "k" ? keyTtlMs : opts.ttlMs;
      if (age < ttl) {
        // Refresh ahead in the second half of the lifetime: hot entries never wait for Redis,
        // and no entry is older than its lifetime.
        if (age >= ttl / 2) refresh(kind, id, k).catch(() => undefined);
        opts.onLookup?.("memory");
        return slot.value;
      }
    }
    if (knownMissing(k)) {
      opts.onLookup?.("negative");
      return undefined;
    }
    return refresh(kind, id, k);
  }

  return {
    key: (keyId) => get("k", keyId) as Promise<KeyEntry | undefined>,
    client: (id) => get("c", id) as Promise<ClientEntry | undefined>,
    apply(change) {
      const now = Date.now();
      // A create (version 0) has nothing older to hold back: no floor.
      if (change.version > 0) {
        floors.set(change.clientId, { version: Math.max(change.version, floorOf(change.clientId)), at: now });
        if (floors.size > 10_000) {
          for (const [id, f] of floors) if (now - f.at > redisTtlSec * 1000) floors.delete(id);
        }
      }
      mem.delete(`c:${change.clientId}`);
      unknown.delete(`c:${change.clientId}`);
      for (const keyId of change.keyIds ?? []) unknown.delete(`k:${keyId}`);
      if (change.keys) {
        for (const [k, slot] of mem) {
          if (k.startsWith("k:") && (slot.value as KeyEntry).clientId === change.clientId) mem.delete(k);
        }
      }
    },
    size: () => mem.size,
  };
}
