/**
 * The catalogue's HTTP contract: seller-facing (`/api/v1/catalog/...`, scopes catalog:read and
 * catalog:write; a seller is the client that created the product) and buyer-facing browse and
 * search (`/api/v1/shop/products`, scope shop:read), both over the same tables.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { MAX_PAGE } from "./store";

const ID = { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } as const;

/** JSON Schema of a variant. */
export const VARIANT_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "productId", "sku", "title", "price", "currency", "stock", "reserved", "available"],
  properties: {
    id: { type: "string" },
    productId: { type: "string" },
    sku: { type: "string" },
    title: { type: "string" },
    price: { type: "integer", description: "Minor units (cents)" },
    currency: { type: "string" },
    stock: { type: "integer" },
    reserved: { type: "integer", description: "Held by orders awaiting payment" },
    available: { type: "integer" },
  },
};

/** JSON Schema of a product. */
export const PRODUCT_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "seller", "title", "description", "createdAt", "variants"],
  properties: {
    id: { type: "string" },
    seller: { type: "string" },
    title: { type: "string" },
    description: { type: "string" },
    createdAt: { type: "string", format: "date-time" },
    variants: { type: "array", items: VARIANT_SCHEMA },
  },
};

const PAGE: JsonSchema = {
  type: "object",
  required: ["items", "nextCursor"],
  properties: { items: { type: "array", items: PRODUCT_SCHEMA }, nextCursor: { type: ["string", "null"] } },
};

const PAGE_QUERY: JsonSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    q: { type: "string", maxLength: 200, description: "Full-text query over title and description" },
    limit: { type: "integer", minimum: 1, maximum: MAX_PAGE, default: 20 },
    cursor: { ...ID, description: "nextCursor of the previous page" },
  },
};

const NEW_PRODUCT: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["title", "variants"],
  properties: {
    title: { type: "string", minLength: 1, maxLength: 200 },
    description: { type: "string", maxLength: 4000 },
    variants: {
      type: "array",
      minItems: 1,
      maxItems: 100,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["sku", "title", "price", "currency", "stock"],
        properties: {
          sku: { type: "string", minLength: 1, maxLength: 64 },
          title: { type: "string", minLength: 1, maxLength: 200 },
          price: { type: "integer", minimum: 0, maximum: 100_000_000 },
          currency: { type: "string", pattern: "^[A-Z]{3}$" },
          stock: { type: "integer", minimum: 0, maximum: 10_000_000 },
        },
      },
    },
  },
};

/** Every route of the catalogue. */
export const catalogRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/catalog/products",
    action: "catalog.createProduct",
    access: "catalog:write",
    summary: "Sellers: create a product with its variants, prices and stock",
    tags: ["catalog"],
    body: { contentTypes: ["application/json"], schema: NEW_PRODUCT },
    responses: {
      201: {
        description: "Created",
        schema: PRODUCT_SCHEMA,
        headers: { Location: { description: "Where to read it", schema: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/catalog/products",
    action: "catalog.sellerProducts",
    access: "catalog:read",
    summary: "Sellers: your products (keyset pagination)",
    tags: ["catalog"],
    query: PAGE_QUERY,
    responses: { 200: { description: "A page of products", schema: PAGE } },
  },
  {
    method: "PATCH",
    path: "/api/v1/catalog/variants/{id}",
    errors: { 409: "Stock below what orders hold" },
    action: "catalog.updateVariant",
    access: "catalog:write",
    summary: "Sellers: change a variant's price and/or stock",
    description:
      "A price change is announced (Moleculer event `catalog.variantChanged`): cached session data holding the variant is invalidated. Stock below what orders hold is a 409.",
    tags: ["catalog"],
    params: { type: "object", required: ["id"], properties: { id: ID } },
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        minProperties: 1,
        properties: {
          price: { type: "integer", minimum: 0, maximum: 100_000_000 },
          stock: { type: "integer", minimum: 0, maximum: 10_000_000 },
        },
      },
    },
    responses: { 200: { description: "The variant now", schema: VARIANT_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/shop/products",
    action: "catalog.browse",
    access: "shop:read",
    summary: "Buyers: browse and search products (keyset pagination by product id)",
    tags: ["shop"],
    query: PAGE_QUERY,
    responses: { 200: { description: "A page of products", schema: PAGE } },
  },
  {
    method: "GET",
    path: "/api/v1/shop/products/{id}",
    action: "catalog.product",
    access: "shop:read",
    summary: "Buyers: one product with its variants and what is available",
    tags: ["shop"],
    params: { type: "object", required: ["id"], properties: { id: ID } },
    responses: { 200: { description: "The product", schema: PRODUCT_SCHEMA } },
  },
];
