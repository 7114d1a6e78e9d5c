/**
 * The catalogue's Moleculer service "catalog": seller and buyer routes (parse, call the store,
 * shape), and the internal actions other domains call by name (nodes and operators only):
 *
 *   catalog.variant  {id}                       a variant with its price and availability
 *   catalog.reserve  {orderId, lines, ttlMs}    all-or-nothing hold with expiry (idempotent per order)
 *   catalog.commit   {orderId}                  the hold becomes a sale
 *   catalog.release  {orderId}                  give back a hold or a sale (compensation)
 *
 * A price change broadcasts `catalog.variantChanged` {variantId, productId, price, currency}.
 */
import type { Context, ServiceSchema } from "moleculer";
import { requireNodeOrOperator, requireScope, type GatewayMeta, type HttpCallParams } from "../../gateway";
import { AppError } from "../../lib/errors";
import type { CatalogStore, NewProduct, ReserveLine } from "./store";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type PageQuery = { q?: string; limit?: number; cursor?: string };

/** The payload of the broadcast `catalog.variantChanged`. */
export interface VariantChanged {
  readonly variantId: string;
  readonly productId: string;
  readonly price: number;
  readonly currency: string;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v === "" || v.length > 200) throw new AppError("BAD_REQUEST", `${what} is required`);
  return v;
}

function linesOf(v: unknown): ReserveLine[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 200) throw new AppError("BAD_REQUEST", "lines are required");
  return v.map((l: unknown) => {
    if (typeof l !== "object" || l === null) throw new AppError("BAD_REQUEST", "a line is an object");
    const { variantId, qty }: Record<string, unknown> = { ...l };
    if (typeof qty !== "number" || !Number.isInteger(qty) || qty < 1)
      throw new AppError("BAD_REQUEST", "qty is a positive integer");
    return { variantId: str(variantId, "variantId"), qty };
  });
}

/** The service over `store`. */
export function catalogService(store: CatalogStore): ServiceSchema {
  return {
    name: "catalog",
    actions: {
      async createProduct(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, NewProduct>>) {
        const seller = requireScope(c, "catalog:write");
        const body = c.params.body;
        if (!body) throw new AppError("BAD_REQUEST", "a product is required");
        const skus = new Set(body.variants.map((v) => v.sku));
        if (skus.size !== body.variants.length) throw new AppError("VALIDATION_ERROR", "variant SKUs must be unique");
        const product = await store.createProduct(seller.id, body);
        c.meta.$statusCode = 201;
        c.meta.$location = `/api/v1/shop/products/${product.id}`;
        return product;
      },

      sellerProducts(c: Ctx<HttpCallParams<Record<string, string>, PageQuery>>) {
        const seller = requireScope(c, "catalog:read");
        const q = c.params.query;
        return store.list({
          seller: seller.id,
          limit: q.limit ?? 20,
          ...(q.q !== undefined ? { q: q.q } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
      },

      async updateVariant(
        c: Ctx<HttpCallParams<{ id: string }, Record<string, unknown>, { price?: number; stock?: number }>>,
      ) {
        const seller = requireScope(c, "catalog:write");
        const r = await store.updateVariant(seller.id, c.params.params.id, c.params.body ?? {});
        if (r === "not_found") throw new AppError("NOT_FOUND", "variant not found");
        if (r === "below_reserved") throw new AppError("CONFLICT", "stock cannot go below what orders hold");
        if (r.priceChanged) {
          const changed: VariantChanged = {
            variantId: r.variant.id,
            productId: r.variant.productId,
            price: r.variant.price,
            currency: r.variant.currency,
          };
          await c.broker.broadcast("catalog.variantChanged", changed);
        }
        return r.variant;
      },

      browse(c: Ctx<HttpCallParams<Record<string, string>, PageQuery>>) {
        requireScope(c, "shop:read");
        const q = c.params.query;
        return store.list({
          limit: q.limit ?? 20,
          ...(q.q !== undefined ? { q: q.q } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
      },

      async product(c: Ctx<HttpCallParams<{ id: string }>>) {
        requireScope(c, "shop:read");
        const p = await store.product(c.params.params.id);
        if (!p) throw new AppError("NOT_FOUND", "product not found");
        return p;
      },

      async variant(c: Context<{ id?: unknown }>) {
        requireNodeOrOperator(c);
        const v = await store.variant(str(c.params.id, "id"));
        return v ?? null;
      },

      reserve(c: Context<{ orderId?: unknown; lines?: unknown; ttlMs?: unknown }>) {
        requireNodeOrOperator(c);
        const ttl = typeof c.params.ttlMs === "number" && c.params.ttlMs > 0 ? c.params.ttlMs : 15 * 60_000;
        return store.reserve(str(c.params.orderId, "orderId"), linesOf(c.params.lines), ttl);
      },

      commit(c: Context<{ orderId?: unknown }>) {
        requireNodeOrOperator(c);
        return store.commit(str(c.params.orderId, "orderId"));
      },

      release(c: Context<{ orderId?: unknown }>) {
        requireNodeOrOperator(c);
        return store.release(str(c.params.orderId, "orderId"));
      },

      reservations(c: Context<{ orderId?: unknown }>) {
        requireNodeOrOperator(c);
        return store.reservations(str(c.params.orderId, "orderId"));
      },
    },
  };
}
