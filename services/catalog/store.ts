/**
 * The catalogue's Postgres store: the one source of truth of products, variants, prices and
 * stock, for sellers (catalog routes) and buyers (shop routes) alike. Stock is reserved per
 * order with an expiry: `reserved` never exceeds `stock` and `stock` never goes below zero
 * (CHECK constraints, so no code path can oversell), and a reservation is all-or-nothing for an
 * order. Browse and search page by keyset on the product id (ids sort by creation).
 */
import { randomBytes } from "node:crypto";
import type { Migration, Pool, PoolClient } from "../../db";

/** Migrations of the catalogue's tables. */
export const catalogMigrations: readonly Migration[] = [
  {
    id: "catalog-0001",
    sql: `
      CREATE TABLE cat_products (
        id text PRIMARY KEY,
        seller text NOT NULL,
        title text NOT NULL,
        description text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || description)) STORED
      );
      CREATE INDEX cat_products_search ON cat_products USING gin (search);
      CREATE INDEX cat_products_seller ON cat_products (seller, id);
      CREATE TABLE cat_variants (
        id text PRIMARY KEY,
        product_id text NOT NULL REFERENCES cat_products (id),
        sku text NOT NULL,
        title text NOT NULL,
        price bigint NOT NULL CHECK (price >= 0),
        currency text NOT NULL,
        stock integer NOT NULL CHECK (stock >= 0),
        reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= stock),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (product_id, sku)
      );
      CREATE INDEX cat_variants_product ON cat_variants (product_id);
      CREATE TABLE cat_reservations (
        order_id text NOT NULL,
        variant_id text NOT NULL REFERENCES cat_variants (id),
        qty integer NOT NULL CHECK (qty > 0),
        state text NOT NULL CHECK (state IN ('held', 'committed', 'released')),
        expires_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (order_id, variant_id)
      );
      CREATE INDEX cat_reservations_expiry ON cat_reservations (expires_at) WHERE state = 'held';
    `,
  },
];

/** A variant as sellers and buyers see it (`available` = stock not reserved). */
export interface Variant {
  readonly id: string;
  readonly productId: string;
  readonly sku: string;
  readonly title: string;
  /** Minor units (cents). */
  readonly price: number;
  readonly currency: string;
  readonly stock: number;
  readonly reserved: number;
  readonly available: number;
}

/** A product with its variants. */
export interface Product {
  readonly id: string;
  readonly seller: string;
  readonly title: string;
  readonly description: string;
  readonly createdAt: string;
  readonly variants: readonly Variant[];
}

/** What a seller sends to create a product. */
export interface NewProduct {
  readonly title: string;
  readonly description?: string;
  readonly variants: ReadonlyArray<{ sku: string; title: string; price: number; currency: string; stock: number }>;
}

/** One line of a reservation. */
export interface ReserveLine {
  readonly variantId: string;
  readonly qty: number;
}

/** The outcome of {@link CatalogStore.reserve}. */
export type ReserveOutcome =
  | { readonly ok: true; readonly expiresAt: string }
  | { readonly ok: false; readonly reason: "out_of_stock" | "unknown_variant"; readonly variantId: string };

/** A page of products. */
export interface ProductPage {
  readonly items: readonly Product[];
  readonly nextCursor: string | null;
}

/** Largest page of browse and seller listings. */
export const MAX_PAGE = 100;

/** A sortable, unique id: base36 time, then 12 random hex digits. */
export function newId(prefix: string): string {
  return `${prefix}${Date.now().toString(36).padStart(9, "0")}${randomBytes(6).toString("hex")}`;
}

interface VariantRow {
  id: string;
  product_id: string;
  sku: string;
  title: string;
  price: string;
  currency: string;
  stock: number;
  reserved: number;
}

interface ProductRow {
  id: string;
  seller: string;
  title: string;
  description: string;
  created_at: Date;
}

function variantOf(r: VariantRow): Variant {
  return {
    id: r.id,
    productId: r.product_id,
    sku: r.sku,
    title: r.title,
    price: Number(r.price),
    currency: r.currency,
    stock: r.stock,
    reserved: r.reserved,
    available: r.stock - r.reserved,
  };
}

/** The catalogue's store (see module doc). */
export interface CatalogStore {
  createProduct(seller: string, p: NewProduct): Promise<Product>;
  product(id: string): Promise<Product | undefined>;
  variant(id: string): Promise<Variant | undefined>;
  /** Sets a variant's price and/or stock, when `seller` owns it; undefined otherwise. Stock below reserved is refused (undefined reason "reserved"). */
  updateVariant(
    seller: string,
    id: string,
    patch: { price?: number; stock?: number },
  ): Promise<{ variant: Variant; priceChanged: boolean } | "not_found" | "below_reserved">;
  /** Products by id (keyset), optionally of one seller and/or matching a full-text query. */
  list(opts: { seller?: string; q?: string; limit: number; cursor?: string }): Promise<ProductPage>;
  /** Reserves every line for `orderId` until `ttlMs` from now, all or nothing; a repeat answers the first outcome. */
  reserve(orderId: string, lines: readonly ReserveLine[], ttlMs: number): Promise<ReserveOutcome>;
  /** Turns `orderId`'s held reservation into a sale (stock taken). An expired (released) one is taken again if stock allows. */
  commit(orderId: string): Promise<{ ok: true } | { ok: false; reason: "out_of_stock" | "no_reservation" }>;
  /** Gives back what `orderId` holds or bought (held: unreserved; committed: restocked). Idempotent. */
  release(orderId: string): Promise<{ released: number }>;
  /** Releases held reservations past their expiry; returns the orders released. */
  expire(now: Date, limit: number): Promise<string[]>;
  /** Inserts `n` products of one variant each (benchmarks): ids `bench-<i>`. */
  seedProducts(seller: string, n: number, stock: number): Promise<void>;
  /** The reservations of an order (operators, tests). */
  reservations(orderId: string): Promise<Array<{ variantId: string; qty: number; state: string; expiresAt: string }>>;
}

/** Builds the store over `pg`. */
export function createCatalogStore({ pg }: { pg: Pool }): CatalogStore {
  async function tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await pg.connect();
    try {
      await c.query("BEGIN");
      const v = await fn(c);
      await c.query("COMMIT");
      return v;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async function productsOf(rows: readonly ProductRow[]): Promise<Product[]> {
    if (rows.length === 0) return [];
    const vs = await pg.query<VariantRow>(
      "SELECT id, product_id, sku, title, price, currency, stock, reserved FROM cat_variants WHERE product_id = ANY($1) ORDER BY id",
      [rows.map((r) => r.id)],
    );
    const by = new Map<string, Variant[]>();
    for (const v of vs.rows) {
      const list = by.get(v.product_id) ?? [];
      list.push(variantOf(v));
      by.set(v.product_id, list);
    }
    return rows.map((r) => ({
      id: r.id,
      seller: r.seller,
      title: r.title,
      description: r.description,
      createdAt: r.created_at.toISOString(),
      variants: by.get(r.id) ?? [],
    }));
  }

  /** Releases the given held/committed rows of one order inside `c`. */
  async function releaseIn(c: PoolClient, orderId: string): Promise<number> {
    const rows = await c.query<{ variant_id: string; qty: number; state: string }>(
      "SELECT variant_id, qty, state FROM cat_reservations WHERE order_id = $1 AND state <> 'released' ORDER BY variant_id FOR UPDATE",
      [orderId],
    );
    for (const r of rows.rows) {
      if (r.state === "held")
        await c.query("UPDATE cat_variants SET reserved = reserved - $2, updated_at = now() WHERE id = $1", [
          r.variant_id,
          r.qty,
        ]);
      else
        await c.query("UPDATE cat_variants SET stock = stock + $2, updated_at = now() WHERE id = $1", [
          r.variant_id,
          r.qty,
        ]);
    }
    await c.query(
      "UPDATE cat_reservations SET state = 'released', updated_at = now() WHERE order_id = $1 AND state <> 'released'",
      [orderId],
    );
    return rows.rowCount ?? 0;
  }

  return {
    async createProduct(seller, p) {
      const id = newId("p");
      await tx(async (c) => {
        await c.query("INSERT INTO cat_products (id, seller, title, description) VALUES ($1, $2, $3, $4)", [
          id,
          seller,
          p.title,
          p.description ?? "",
        ]);
        for (const v of p.variants) {
          await c.query(
            "INSERT INTO cat_variants (id, product_id, sku, title, price, currency, stock) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [newId("v"), id, v.sku, v.title, v.price, v.currency, v.stock],
          );
        }
      });
      const created = await this.product(id);
      if (!created) throw new Error(`product ${id} vanished after insert`);
      return created;
    },

    async product(id) {
      const r = await pg.query<ProductRow>(
        "SELECT id, seller, title, description, created_at FROM cat_products WHERE id = $1",
        [id],
      );
      return (await productsOf(r.rows))[0];
    },

    // The hot statements of add-to-cart and checkout are named (prepared once per connection:
    // Postgres parses and plans them once, not on every call). Only statements with explicit
    // columns: a prepared `*` fails once a migration adds a column.
    async variant(id) {
      const r = await pg.query<VariantRow>({
        name: "cat-variant",
        text: "SELECT id, product_id, sku, title, price, currency, stock, reserved FROM cat_variants WHERE id = $1",
        values: [id],
      });
      const row = r.rows[0];
      return row ? variantOf(row) : undefined;
    },

    async updateVariant(seller, id, patch) {
      return tx(async (c) => {
        const r = await c.query<VariantRow & { seller: string }>(
          "SELECT v.id, v.product_id, v.sku, v.title, v.price, v.currency, v.stock, v.reserved, p.seller FROM cat_variants v JOIN cat_products p ON p.id = v.product_id WHERE v.id = $1 FOR UPDATE OF v",
          [id],
        );
        const row = r.rows[0];
        if (!row || row.seller !== seller) return "not_found" as const;
        if (patch.stock !== undefined && patch.stock < row.reserved) return "below_reserved" as const;
        const u = await c.query<VariantRow>(
          "UPDATE cat_variants SET price = COALESCE($2, price), stock = COALESCE($3, stock), updated_at = now() WHERE id = $1 RETURNING id, product_id, sku, title, price, currency, stock, reserved",
          [id, patch.price ?? null, patch.stock ?? null],
        );
        await c.query("UPDATE cat_products SET updated_at = now() WHERE id = $1", [row.product_id]);
        const variant = variantOf(u.rows[0]!);
        return { variant, priceChanged: patch.price !== undefined && patch.price !== Number(row.price) };
      });
    },

    async list({ seller, q, limit, cursor }) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (seller !== undefined) {
        args.push(seller);
        where.push(`seller = $${args.length}`);
      }
      if (q !== undefined && q.trim() !== "") {
        args.push(q);
        where.push(`search @@ plainto_tsquery('simple', $${args.length})`);
      }
      if (cursor !== undefined) {
        args.push(cursor);
        where.push(`id > $${args.length}`);
      }
      args.push(limit + 1);
      const r = await pg.query<ProductRow>(
        `SELECT id, seller, title, description, created_at FROM cat_products ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id LIMIT $${args.length}`,
        args,
      );
      const rows = r.rows.slice(0, limit);
      return {
        items: await productsOf(rows),
        nextCursor: r.rows.length > limit ? (rows[rows.length - 1]?.id ?? null) : null,
      };
    },

    async reserve(orderId, lines, ttlMs) {
      const merged = new Map<string, number>();
      for (const l of lines) merged.set(l.variantId, (merged.get(l.variantId) ?? 0) + l.qty);
      const expiresAt = new Date(Date.now() + ttlMs);
      // One statement, one round trip: a repeat answers the first hold; else every line's variant
      // is locked in id order (concurrent reservations never deadlock) and, only if all of them
      // exist and have the stock, reserved and recorded. The CHECK constraints stay the last word.
      const r = await pg.query<{
        prior: Date | null;
        ok: boolean | null;
        unknown: string | null;
        short: string | null;
      }>({
        name: "cat-reserve",
        text: `WITH prior AS (SELECT expires_at FROM cat_reservations WHERE order_id = $1 LIMIT 1),
              want AS (SELECT v, q FROM unnest($2::text[], $3::int[]) AS t(v, q)),
              locked AS (SELECT cv.id, cv.stock, cv.reserved, w.q FROM cat_variants cv JOIN want w ON w.v = cv.id
                          WHERE NOT EXISTS (SELECT 1 FROM prior) ORDER BY cv.id FOR UPDATE OF cv),
              verdict AS (SELECT NOT EXISTS (SELECT 1 FROM prior)
                            AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM want)
                            AND COALESCE((SELECT bool_and(stock - reserved >= q) FROM locked), false) AS ok),
              upd AS (UPDATE cat_variants cv SET reserved = cv.reserved + l.q, updated_at = now()
                        FROM locked l, verdict WHERE verdict.ok AND cv.id = l.id RETURNING cv.id),
              ins AS (INSERT INTO cat_reservations (order_id, variant_id, qty, state, expires_at)
                        SELECT $1, l.id, l.q, 'held', $4 FROM locked l, verdict WHERE verdict.ok RETURNING 1)
         SELECT (SELECT expires_at FROM prior) AS prior, (SELECT ok FROM verdict) AS ok,
                (SELECT min(w.v) FROM want w WHERE NOT EXISTS (SELECT 1 FROM locked l WHERE l.id = w.v)) AS unknown,
                (SELECT min(l.id) FROM locked l WHERE l.stock - l.reserved < l.q) AS short`,
        values: [orderId, [...merged.keys()], [...merged.values()], expiresAt],
      });
      const row = r.rows[0]!;
      if (row.prior) return { ok: true, expiresAt: row.prior.toISOString() } as const;
      if (row.ok) return { ok: true, expiresAt: expiresAt.toISOString() } as const;
      if (row.unknown) return { ok: false, reason: "unknown_variant", variantId: row.unknown } as const;
      return { ok: false, reason: "out_of_stock", variantId: row.short ?? "" } as const;
    },

    async commit(orderId) {
      // One statement: the order's reservations and then their variants locked (the order every
      // writer takes them in); held ones become a sale, expired (released) ones take the stock
      // again only if it is still there, all or nothing; committed ones are done already.
      const r = await pg.query<{ n: string; ok: boolean }>({
        name: "cat-commit",
        text: `WITH r AS (SELECT variant_id, qty, state FROM cat_reservations WHERE order_id = $1 ORDER BY variant_id FOR UPDATE),
              v AS (SELECT cv.id, cv.stock, cv.reserved, r.qty, r.state FROM cat_variants cv JOIN r ON r.variant_id = cv.id
                     WHERE r.state <> 'committed' ORDER BY cv.id FOR UPDATE OF cv),
              verdict AS (SELECT (SELECT count(*) FROM r) AS n,
                                 COALESCE((SELECT bool_and(state <> 'released' OR stock - reserved >= qty) FROM v), true) AS ok),
              upd AS (UPDATE cat_variants cv SET stock = cv.stock - v.qty,
                          reserved = cv.reserved - CASE WHEN v.state = 'held' THEN v.qty ELSE 0 END, updated_at = now()
                        FROM v, verdict WHERE verdict.ok AND cv.id = v.id RETURNING cv.id),
              mark AS (UPDATE cat_reservations c SET state = 'committed', updated_at = now()
                         FROM verdict WHERE c.order_id = $1 AND verdict.ok AND c.state <> 'committed' RETURNING 1)
         SELECT n, ok FROM verdict`,
        values: [orderId],
      });
      const row = r.rows[0]!;
      if (Number(row.n) === 0) return { ok: false, reason: "no_reservation" } as const;
      if (!row.ok) return { ok: false, reason: "out_of_stock" } as const;
      return { ok: true } as const;
    },

    release: (orderId) => tx(async (c) => ({ released: await releaseIn(c, orderId) })),

    async expire(now, limit) {
      const due = await pg.query<{ order_id: string }>(
        "SELECT DISTINCT order_id FROM cat_reservations WHERE state = 'held' AND expires_at <= $1 LIMIT $2",
        [now, limit],
      );
      const out: string[] = [];
      for (const { order_id } of due.rows) {
        await tx(async (c) => {
          // only what is still held and expired (a commit may have come in between)
          const held = await c.query(
            "SELECT 1 FROM cat_reservations WHERE order_id = $1 AND state = 'held' AND expires_at <= $2 FOR UPDATE",
            [order_id, now],
          );
          if ((held.rowCount ?? 0) === 0) return;
          const rows = await c.query<{ variant_id: string; qty: number }>(
            "UPDATE cat_reservations SET state = 'released', updated_at = now() WHERE order_id = $1 AND state = 'held' RETURNING variant_id, qty",
            [order_id],
          );
          for (const r of rows.rows)
            await c.query("UPDATE cat_variants SET reserved = reserved - $2 WHERE id = $1", [r.variant_id, r.qty]);
          out.push(order_id);
        });
      }
      return out;
    },

    async seedProducts(seller, n, stock) {
      const chunk = 20_000;
      for (let start = 0; start < n; start += chunk) {
        const end = Math.min(n, start + chunk) - 1;
        await pg.query(
          `INSERT INTO cat_products (id, seller, title, description)
             SELECT 'bench-' || lpad(i::text, 7, '0'), $1, 'Bench product ' || i, 'seeded for benchmarks'
             FROM generate_series($2::int, $3::int) i ON CONFLICT DO NOTHING`,
          [seller, start, end],
        );
        await pg.query(
          `INSERT INTO cat_variants (id, product_id, sku, title, price, currency, stock)
             SELECT 'benchv-' || lpad(i::text, 7, '0'), 'bench-' || lpad(i::text, 7, '0'), 'SKU' || i, 'Default', 100 + i % 900, 'EUR', $1
             FROM generate_series($2::int, $3::int) i ON CONFLICT DO NOTHING`,
          [stock, start, end],
        );
      }
    },

    async reservations(orderId) {
      const r = await pg.query<{ variant_id: string; qty: number; state: string; expires_at: Date }>(
        "SELECT variant_id, qty, state, expires_at FROM cat_reservations WHERE order_id = $1 ORDER BY variant_id",
        [orderId],
      );
      return r.rows.map((x) => ({
        variantId: x.variant_id,
        qty: x.qty,
        state: x.state,
        expiresAt: x.expires_at.toISOString(),
      }));
    },
  };
}
