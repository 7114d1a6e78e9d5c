/**
 * User catalogs: charities and families in need, polled from their providers (simulated: `irs`
 * lists charities, `hud` families), paginated with an ETag per page. One node polls at a time:
 * it holds the singleton lease `catalogs` in KV `{ns}_rw_lease` (the platform's LeaseManager,
 * sticky placement). Entries are stored in Postgres with their source and a version that grows
 * when the provider's entry changes; each change is published on `{ns}.rewards.catalog.<provider>`
 * (stream {NS}_RW_CATALOG). Readable through the `rewards.catalog` action and its route.
 */
import { LeaseManager, type LeaseKeys, type PartitionRef } from "../../actors/leases";
import type { Pool } from "../../db";
import { errorMessage } from "../../lib/errors";
import { httpRequest, jsonOf } from "../../lib/http-client";
import type { Logger } from "../../lib/logger";
import type { NatsHandles } from "../../nats";
import { isRecord } from "./model";
import type { RewardNames } from "./streams";

/** The providers polled, and the catalog each fills. */
export const PROVIDERS = { irs: "charity", hud: "family" } as const;
export type Provider = keyof typeof PROVIDERS;
export type CatalogKind = (typeof PROVIDERS)[Provider];

/** One stored catalog entry. */
export interface CatalogEntry {
  readonly kind: CatalogKind;
  readonly provider: string;
  readonly id: string;
  readonly name: string;
  readonly version: number;
  readonly sourceUpdatedAt: string;
  readonly polledAt: string;
}

/** The catalogs in Postgres. */
export function createUserCatalogStore(deps: { pg: Pool }) {
  const { pg } = deps;
  const row = (r: {
    kind: CatalogKind;
    provider: string;
    id: string;
    name: string;
    version: number;
    source_updated_at: string;
    polled_at: Date;
  }): CatalogEntry => ({
    kind: r.kind,
    provider: r.provider,
    id: r.id,
    name: r.name,
    version: r.version,
    sourceUpdatedAt: r.source_updated_at,
    polledAt: r.polled_at.toISOString(),
  });
  return {
    /** The entry `id` of `kind`, from any provider. */
    async find(kind: CatalogKind, id: string): Promise<CatalogEntry | undefined> {
      const r = await pg.query("SELECT * FROM rw_catalog WHERE kind = $1 AND id = $2 ORDER BY provider LIMIT 1", [
        kind,
        id,
      ]);
      return r.rows[0] ? row(r.rows[0]) : undefined;
    },
    /** Entries of `kind` after `after` (keyset by id). */
    async list(kind: CatalogKind, limit: number, after?: string): Promise<CatalogEntry[]> {
      const r = await pg.query(
        "SELECT * FROM rw_catalog WHERE kind = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
        [kind, after ?? null, limit],
      );
      return r.rows.map(row);
    },
    /** Upserts `entries` of `provider`; answers the entries that are new or changed (with their new version). */
    async upsert(
      provider: Provider,
      entries: readonly { id: string; name: string; updatedAt: string }[],
    ): Promise<CatalogEntry[]> {
      if (entries.length === 0) return [];
      const r = await pg.query(
        `INSERT INTO rw_catalog (kind, provider, id, name, source_updated_at, version, polled_at)
         SELECT $1, $2, * , 1, now() FROM unnest($3::text[], $4::text[], $5::text[])
         ON CONFLICT (provider, id) DO UPDATE SET name = EXCLUDED.name, source_updated_at = EXCLUDED.source_updated_at,
           version = rw_catalog.version + 1, polled_at = now()
           WHERE rw_catalog.name IS DISTINCT FROM EXCLUDED.name OR rw_catalog.source_updated_at IS DISTINCT FROM EXCLUDED.source_updated_at
         RETURNING *`,
        [
          PROVIDERS[provider],
          provider,
          entries.map((e) => e.id),
          entries.map((e) => e.name),
          entries.map((e) => e.updatedAt),
        ],
      );
      return r.rows.map(row);
    },
  };
}

/** Catalog tables. */
export const catalogMigrations = [
  {
    id: "rewards-0002",
    sql: `
      CREATE TABLE rw_catalog (
        kind              text NOT NULL,
        provider          text NOT NULL,
        id                text NOT NULL,
        name              text NOT NULL,
        source_updated_at text NOT NULL,
        version           integer NOT NULL,
        polled_at         timestamptz NOT NULL,
        PRIMARY KEY (provider, id)
      );
      CREATE INDEX rw_catalog_by_kind ON rw_catalog (kind, id);
    `,
  },
];

const LEASE: PartitionRef = { kind: "catalogs", partition: 0 };
const leaseKeys: LeaseKeys = {
  partitionKey: () => "catalogs",
  nodeKey: (nodeId) => `node.${nodeId.replace(/[^A-Za-z0-9_=-]/g, "_")}`,
};

/** The catalog poller of this node (it polls only while it holds the lease). */
export interface CatalogPoller {
  readonly stats: { polls: number; pages: number; notModified: number; changes: number; failures: number };
  holding(): boolean;
  /** One poll of every provider now (the lease holder's schedule calls it too). */
  pollNow(): Promise<number>;
  stop(): Promise<void>;
}

function isProviderEntry(v: unknown): v is { id: string; name: string; updatedAt: string } {
  return (
    isRecord(v) && typeof v["id"] === "string" && typeof v["name"] === "string" && typeof v["updatedAt"] === "string"
  );
}

/** Starts the poller: takes part in the lease; the holder polls every `intervalMs`. */
export async function startCatalogPoller(o: {
  nats: NatsHandles;
  names: RewardNames;
  pg: Pool;
  nodeId: string;
  baseUrl: string;
  intervalMs: number;
  leaseMs: number;
  logger: Logger;
}): Promise<CatalogPoller> {
  const store = createUserCatalogStore({ pg: o.pg });
  const etags = new Map<string, string>();
  const stats = { polls: 0, pages: 0, notModified: 0, changes: 0, failures: 0 };
  let timer: NodeJS.Timeout | null = null;
  let polling: Promise<number> | null = null;

  async function pollProvider(p: Provider): Promise<number> {
    let page: number | null = 1;
    let changed = 0;
    while (page !== null) {
      const key = `${p}:${page}`;
      const prev = etags.get(key);
      const res = await httpRequest(`${o.baseUrl}/catalogs/${p}/entries?page=${page}`, {
        headers: prev ? { "If-None-Match": prev } : {},
        signal: AbortSignal.timeout(10_000),
      });
      stats.pages++;
      if (res.status === 304) {
        stats.notModified++;
        // an unchanged page says nothing of the next ones: keep walking while we know there are more
        page = etags.has(`${p}:${page + 1}`) ? page + 1 : null;
        continue;
      }
      if (res.status !== 200) throw new Error(`${p} answered ${res.status}`);
      const body = jsonOf(res);
      if (!isRecord(body) || !Array.isArray(body["items"])) throw new Error(`${p} answered an unreadable page`);
      const items = body["items"].filter(isProviderEntry);
      const changes = await store.upsert(p, items);
      for (const c of changes)
        await o.nats.js.publish(o.names.catalogSubject(p), JSON.stringify(c), {
          msgID: `cat:${p}:${c.id}:${c.version}`,
        });
      changed += changes.length;
      const etag = res.headers["etag"];
      if (typeof etag === "string") etags.set(key, etag);
      page = typeof body["next"] === "number" ? body["next"] : null;
    }
    return changed;
  }

  async function pollAll(): Promise<number> {
    stats.polls++;
    let changed = 0;
    for (const p of Object.keys(PROVIDERS) as Provider[]) {
      try {
        changed += await pollProvider(p);
      } catch (err) {
        stats.failures++;
        o.logger.warn({ provider: p, err: errorMessage(err) }, "catalog poll failed; next round retries");
      }
    }
    stats.changes += changed;
    return changed;
  }

  const pollNow = (): Promise<number> => {
    polling ??= pollAll().finally(() => (polling = null));
    return polling;
  };

  const leases = new LeaseManager({
    kv: await o.nats.kvm.open(o.names.leaseBucket),
    keys: leaseKeys,
    nodeId: o.nodeId,
    refs: [LEASE],
    ttlMs: o.leaseMs,
    placement: "sticky",
    callbacks: {
      acquired: () => {
        o.logger.info({ node: o.nodeId }, "catalog poller lease acquired");
        void pollNow();
        timer = setInterval(() => void pollNow(), o.intervalMs);
        return Promise.resolve();
      },
      released: async () => {
        if (timer) clearInterval(timer);
        timer = null;
        await polling;
      },
    },
    log: o.logger.child({ part: "catalog-lease" }),
  });
  await leases.start();
  return {
    stats,
    holding: () => timer !== null,
    pollNow,
    stop: () => leases.stop(),
  };
}
