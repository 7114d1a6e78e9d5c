/**
 * The content manager: merchants' products (point prices, stock, an image in object storage)
 * and redemptions. A redemption takes one unit of stock atomically (a conditional UPDATE: never
 * below zero, so two buyers of the last unit cannot both win), then reserves the buyer's points
 * as a pending exchange to the merchant, and issues a voucher code. Confirming the voucher posts
 * the transfer to the merchant; a refund voids it and puts the unit back. A buyer who cannot pay
 * gets the unit back at once and a clear refusal.
 *
 * Merchants act as themselves: a gateway client linked to a merchant (by an admin) sees and
 * changes only that merchant's products and sales; anyone else is answered 404.
 */
import { randomBytes } from "node:crypto";
import type { Migration, Pool } from "../../db";
import { AppError } from "../../lib/errors";
import { int, obj, str, type Infer } from "../../lib/json-schema";
import type { ObjectStore } from "../../nats";
import { USER_ID_PATTERN, type TxOutcome, type TxRequest } from "./model";

/** Content manager tables. */
export const contentMigrations: readonly Migration[] = [
  {
    id: "rewards-0003",
    sql: `
      CREATE TABLE rw_merchant_clients (client text PRIMARY KEY, merchant text NOT NULL);
      CREATE TABLE rw_products (
        id         text PRIMARY KEY,
        merchant   text NOT NULL,
        name       text NOT NULL,
        price      integer NOT NULL CHECK (price > 0),
        stock      integer NOT NULL CHECK (stock >= 0),
        image      text,
        image_type text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX rw_products_by_merchant ON rw_products (merchant, id);
      CREATE TABLE rw_redemptions (
        id         text PRIMARY KEY,
        product    text NOT NULL,
        merchant   text NOT NULL,
        buyer      text NOT NULL,
        price      integer NOT NULL,
        status     text NOT NULL,
        voucher    text,
        created_at timestamptz NOT NULL DEFAULT now(),
        seq        bigserial
      );
      CREATE INDEX rw_redemptions_by_merchant ON rw_redemptions (merchant, seq);
    `,
  },
];

/** `POST /api/v1/rewards/merchants/{merchant}/products`. */
export const productSchema = obj(
  {
    name: str({ minLength: 1, maxLength: 200 }),
    price: int({ minimum: 1, maximum: 1_000_000_000 }),
    stock: int({ minimum: 0, maximum: 1_000_000 }),
  },
  {},
);
export type ProductBody = Infer<typeof productSchema>;

/** `PUT /api/v1/rewards/merchants/{merchant}/products/{id}/image`. */
export const imageSchema = obj({
  contentType: { schema: { type: "string", enum: ["image/png", "image/jpeg", "image/webp"] } },
  dataBase64: str({
    maxLength: 1_400_000,
    pattern: "^[A-Za-z0-9+/=]+$",
    description: "The image bytes, base64 (at most 1 MB)",
  }),
});

/** `POST /api/v1/rewards/redemptions`. */
export const redemptionSchema = obj(
  {
    product: str({ pattern: "^p-[0-9a-f]{12}$", maxLength: 14 }),
    buyer: str({ pattern: USER_ID_PATTERN, maxLength: 64 }),
  },
  { id: str({ pattern: "^[A-Za-z0-9_-]{8,64}$", maxLength: 64, description: "Idempotency key (default a new one)" }) },
);
export type RedemptionBody = Infer<typeof redemptionSchema>;

/** A product as merchants and buyers read it. */
export interface Product {
  readonly id: string;
  readonly merchant: string;
  readonly name: string;
  readonly price: number;
  readonly stock: number;
  readonly imageUrl: string | null;
}

/** A redemption (a sale). */
export interface Redemption {
  readonly id: string;
  readonly product: string;
  readonly merchant: string;
  readonly buyer: string;
  readonly price: number;
  readonly status: "pending" | "posted" | "voided" | "refused";
  readonly voucher: string | null;
  readonly createdAt: string;
}

type ProductRow = { id: string; merchant: string; name: string; price: number; stock: number; image: string | null };
const product = (r: ProductRow): Product => ({
  id: r.id,
  merchant: r.merchant,
  name: r.name,
  price: r.price,
  stock: r.stock,
  imageUrl: r.image ? `/api/v1/rewards/products/${r.id}/image` : null,
});
type RedemptionRow = {
  id: string;
  product: string;
  merchant: string;
  buyer: string;
  price: number;
  status: Redemption["status"];
  voucher: string | null;
  created_at: Date;
};
const redemption = (r: RedemptionRow): Redemption => ({
  id: r.id,
  product: r.product,
  merchant: r.merchant,
  buyer: r.buyer,
  price: r.price,
  status: r.status,
  voucher: r.voucher,
  createdAt: r.created_at.toISOString(),
});

/** What the content manager needs: Postgres, the image bucket, and the ledger's transaction calls. */
export interface ContentDeps {
  readonly pg: Pool;
  readonly images: () => Promise<ObjectStore>;
  submit(req: TxRequest): Promise<{ outcome: TxOutcome | null }>;
  settle(from: string, id: string, action: "post" | "void"): Promise<{ outcome: TxOutcome | null }>;
  /** The kind of a user (404 when unknown). */
  kindOf(id: string): Promise<string>;
}

/** The content manager over `d`. */
export function createContentManager(d: ContentDeps) {
  const { pg } = d;

  /** The merchant `client` acts for (admins: any). 404 when it is not that merchant's client. */
  async function actingFor(client: string, merchant: string): Promise<void> {
    if (client === "operator") return;
    const r = await pg.query<{ merchant: string }>("SELECT merchant FROM rw_merchant_clients WHERE client = $1", [
      client,
    ]);
    if (r.rows[0]?.merchant !== merchant) throw new AppError("NOT_FOUND", `merchant ${merchant} not found`);
  }

  async function redemptionOf(id: string): Promise<Redemption> {
    const r = await pg.query<RedemptionRow>("SELECT * FROM rw_redemptions WHERE id = $1", [id]);
    if (!r.rows[0]) throw new AppError("NOT_FOUND", `redemption ${id} not found`);
    return redemption(r.rows[0]);
  }

  return {
    async linkClient(merchant: string, client: string): Promise<{ merchant: string; client: string }> {
      if ((await d.kindOf(merchant)) !== "merchant")
        throw new AppError("VALIDATION_ERROR", `${merchant} is not a merchant`);
      await pg.query(
        "INSERT INTO rw_merchant_clients (client, merchant) VALUES ($1, $2) ON CONFLICT (client) DO UPDATE SET merchant = EXCLUDED.merchant",
        [client, merchant],
      );
      return { merchant, client };
    },

    async createProduct(client: string, merchant: string, b: ProductBody): Promise<Product> {
      await actingFor(client, merchant);
      const id = `p-${randomBytes(6).toString("hex")}`;
      const r = await pg.query<ProductRow>(
        "INSERT INTO rw_products (id, merchant, name, price, stock) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        [id, merchant, b.name, b.price, b.stock],
      );
      return product(r.rows[0]!);
    },

    async updateProduct(client: string, merchant: string, id: string, b: ProductBody): Promise<Product> {
      await actingFor(client, merchant);
      const r = await pg.query<ProductRow>(
        "UPDATE rw_products SET name = $3, price = $4, stock = $5 WHERE id = $1 AND merchant = $2 RETURNING *",
        [id, merchant, b.name, b.price, b.stock],
      );
      if (!r.rows[0]) throw new AppError("NOT_FOUND", `product ${id} not found`);
      return product(r.rows[0]);
    },

    async products(client: string, merchant: string): Promise<{ items: Product[] }> {
      await actingFor(client, merchant);
      const r = await pg.query<ProductRow>("SELECT * FROM rw_products WHERE merchant = $1 ORDER BY id", [merchant]);
      return { items: r.rows.map(product) };
    },

    /** The marketplace: every product in stock (buyers). */
    async marketplace(limit: number, after?: string): Promise<{ items: Product[]; next: string | null }> {
      const r = await pg.query<ProductRow>(
        "SELECT * FROM rw_products WHERE stock > 0 AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
        [after ?? null, limit],
      );
      const items = r.rows.map(product);
      return { items, next: items.length === limit ? (items[items.length - 1]?.id ?? null) : null };
    },

    async putImage(
      client: string,
      merchant: string,
      id: string,
      contentType: string,
      dataBase64: string,
    ): Promise<Product> {
      await actingFor(client, merchant);
      const bytes = Buffer.from(dataBase64, "base64");
      if (bytes.length === 0 || bytes.length > 1024 * 1024)
        throw new AppError("VALIDATION_ERROR", "an image is 1 byte to 1 MB");
      const own = await pg.query("SELECT 1 FROM rw_products WHERE id = $1 AND merchant = $2", [id, merchant]);
      if (own.rowCount === 0) throw new AppError("NOT_FOUND", `product ${id} not found`);
      const key = `${id}-${randomBytes(4).toString("hex")}`;
      await (await d.images()).putBlob({ name: key }, bytes);
      const r = await pg.query<ProductRow>(
        "UPDATE rw_products SET image = $2, image_type = $3 WHERE id = $1 RETURNING *",
        [id, key, contentType],
      );
      return product(r.rows[0]!);
    },

    /** The image of a product: bytes, type and an ETag (the object's name changes with every upload). */
    async image(id: string): Promise<{ bytes: Buffer; contentType: string; etag: string }> {
      const r = await pg.query<{ image: string | null; image_type: string | null }>(
        "SELECT image, image_type FROM rw_products WHERE id = $1",
        [id],
      );
      const row = r.rows[0];
      if (!row?.image || !row.image_type) throw new AppError("NOT_FOUND", `product ${id} has no image`);
      const blob = await (await d.images()).getBlob(row.image);
      if (!blob) throw new AppError("NOT_FOUND", `product ${id} has no image`);
      return { bytes: Buffer.from(blob), contentType: row.image_type, etag: `"${row.image}"` };
    },

    /**
     * Redeems one unit of `product` for `buyer` (see the module doc). 409 CONFLICT when it is
     * out of stock or the buyer's balance does not cover the price (nothing changes then).
     */
    async redeem(b: RedemptionBody): Promise<Redemption> {
      const id = b.id ?? `rd${randomBytes(9).toString("hex")}`;
      const existing = await pg.query<RedemptionRow>("SELECT * FROM rw_redemptions WHERE id = $1", [id]);
      if (existing.rows[0]) return redemption(existing.rows[0]);
      const kind = await d.kindOf(b.buyer);
      if (kind !== "civilian" && kind !== "officer")
        throw new AppError("VALIDATION_ERROR", "only civilians and officers redeem");
      const taken = await pg.query<{ merchant: string; price: number }>(
        "UPDATE rw_products SET stock = stock - 1 WHERE id = $1 AND stock > 0 RETURNING merchant, price",
        [b.product],
      );
      const unit = taken.rows[0];
      if (!unit) {
        const known = await pg.query("SELECT 1 FROM rw_products WHERE id = $1", [b.product]);
        if (known.rowCount === 0) throw new AppError("NOT_FOUND", `product ${b.product} not found`);
        throw new AppError("CONFLICT", `product ${b.product} is out of stock`, [
          { path: "/product", message: "OUT_OF_STOCK" },
        ]);
      }
      await pg.query(
        "INSERT INTO rw_redemptions (id, product, merchant, buyer, price, status) VALUES ($1, $2, $3, $4, $5, 'pending')",
        [id, b.product, unit.merchant, b.buyer, unit.price],
      );
      const { outcome } = await d.submit({
        id,
        kind: "exchange",
        from: b.buyer,
        to: unit.merchant,
        amount: unit.price,
        memo: b.product,
      });
      if (outcome?.status !== "pending") {
        await pg.query("UPDATE rw_products SET stock = stock + 1 WHERE id = $1", [b.product]);
        await pg.query("UPDATE rw_redemptions SET status = 'refused' WHERE id = $1", [id]);
        throw new AppError(
          "CONFLICT",
          outcome?.code === "INSUFFICIENT_BALANCE"
            ? `insufficient balance: ${outcome.reason ?? ""}`
            : `redemption refused: ${outcome?.reason ?? "no answer in time"}`,
          [{ path: "/buyer", message: outcome?.code ?? "UNAVAILABLE" }],
        );
      }
      const voucher = randomBytes(6).toString("hex").toUpperCase();
      const r = await pg.query<RedemptionRow>("UPDATE rw_redemptions SET voucher = $2 WHERE id = $1 RETURNING *", [
        id,
        voucher,
      ]);
      return redemption(r.rows[0]!);
    },

    /** The merchant confirms a voucher: the reserved points are posted to it. */
    async confirm(client: string, merchant: string, id: string): Promise<Redemption> {
      await actingFor(client, merchant);
      const r = await redemptionOf(id);
      if (r.merchant !== merchant) throw new AppError("NOT_FOUND", `redemption ${id} not found`);
      if (r.status !== "pending") throw new AppError("CONFLICT", `redemption ${id} is ${r.status}`);
      const { outcome } = await d.settle(r.buyer, id, "post");
      if (outcome?.status !== "posted")
        throw new AppError("CONFLICT", `redemption ${id} not posted: ${outcome?.reason ?? "no answer in time"}`);
      const u = await pg.query<RedemptionRow>("UPDATE rw_redemptions SET status = 'posted' WHERE id = $1 RETURNING *", [
        id,
      ]);
      return redemption(u.rows[0]!);
    },

    /** A refund: the reserved points return to the buyer and the unit to the stock. */
    async refund(client: string, merchant: string, id: string): Promise<Redemption> {
      await actingFor(client, merchant);
      const r = await redemptionOf(id);
      if (r.merchant !== merchant) throw new AppError("NOT_FOUND", `redemption ${id} not found`);
      if (r.status !== "pending") throw new AppError("CONFLICT", `redemption ${id} is ${r.status}`);
      const { outcome } = await d.settle(r.buyer, id, "void");
      if (outcome?.status !== "voided")
        throw new AppError("CONFLICT", `redemption ${id} not voided: ${outcome?.reason ?? "no answer in time"}`);
      const u = await pg.query<RedemptionRow>(
        "UPDATE rw_redemptions SET status = 'voided' WHERE id = $1 AND status = 'pending' RETURNING *",
        [id],
      );
      if (u.rows[0]) await pg.query("UPDATE rw_products SET stock = stock + 1 WHERE id = $1", [r.product]);
      return redemption(
        u.rows[0] ?? (await pg.query<RedemptionRow>("SELECT * FROM rw_redemptions WHERE id = $1", [id])).rows[0]!,
      );
    },

    /** A merchant's sales, newest first (keyset by sequence). */
    async sales(client: string, merchant: string, limit: number, before?: number) {
      await actingFor(client, merchant);
      const r = await pg.query<RedemptionRow & { seq: string }>(
        "SELECT * FROM rw_redemptions WHERE merchant = $1 AND status <> 'refused' AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
        [merchant, before ?? null, limit],
      );
      const items = r.rows.map(redemption);
      return { items, next: r.rows.length === limit ? Number(r.rows[r.rows.length - 1]!.seq) : null };
    },
  };
}

/** The content manager (see {@link createContentManager}). */
export type ContentManager = ReturnType<typeof createContentManager>;
