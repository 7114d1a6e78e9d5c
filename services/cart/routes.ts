/**
 * The cart's HTTP contract (buyers: scope shop:write to change a cart, shop:read to read it; a
 * cart belongs to the client that created it, anyone else gets 404).
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";

const ID = { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } as const;
const CART_PARAMS: JsonSchema = { type: "object", required: ["id"], properties: { id: ID } };

const ITEM: JsonSchema = {
  type: "object",
  required: ["variantId", "productId", "title", "unitPrice", "currency"],
  properties: {
    variantId: { type: "string" },
    productId: { type: "string" },
    title: { type: "string" },
    unitPrice: { type: "integer", description: "Minor units, as priced when added" },
    currency: { type: "string" },
    qty: { type: "integer" },
    reason: { type: "string", enum: ["saved", "viewed"] },
    at: { type: "integer" },
  },
};

/** JSON Schema of a cart. */
export const CART_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "status", "items", "likely", "total", "orderId"],
  properties: {
    id: { type: "string" },
    status: { type: "string", enum: ["open", "ordered"] },
    items: { type: "array", items: ITEM, description: "Being bought" },
    likely: { type: "array", items: ITEM, description: "Likely to buy: saved for later, recently viewed" },
    total: { type: "integer" },
    currency: { type: ["string", "null"] },
    orderId: { type: ["string", "null"] },
    orderState: { type: ["string", "null"], enum: ["placing", "placed", "refused", null] },
    lastError: { type: ["string", "null"] },
  },
};

const LIST = { type: "string", enum: ["buying", "saved", "viewed"], default: "buying" } as const;

/** Every route of the cart. */
export const cartRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/carts",
    action: "carts.create",
    access: "shop:write",
    summary: "Open a cart",
    tags: ["shop"],
    responses: {
      201: {
        description: "The new cart",
        schema: CART_SCHEMA,
        headers: { Location: { description: "Where to read it", schema: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/carts/{id}",
    action: "carts.get",
    access: "shop:read",
    summary: "A cart: what is being bought and what is likely to be",
    tags: ["shop"],
    params: CART_PARAMS,
    responses: { 200: { description: "The cart", schema: CART_SCHEMA } },
    includes: {
      products: {
        route: "GET /api/v1/sessions/products/{id}",
        from: "/items/*/productId",
        description: "its products (session cache)",
      },
      order: { route: "GET /api/v1/orders/{id}", from: "/orderId", description: "its order, once placed" },
    },
  },
  {
    method: "POST",
    path: "/api/v1/carts/{id}/items",
    errors: { 409: "Not enough stock, or the cart is checked out" },
    action: "carts.addItem",
    access: "shop:write",
    summary: "Add a variant to the cart (buying), save it for later, or record a view",
    description:
      "Priced from the catalogue at this moment. 409 when the cart is checked out or in another currency; 404 for an unknown variant.",
    tags: ["shop"],
    params: CART_PARAMS,
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        required: ["variantId"],
        properties: {
          variantId: ID,
          qty: { type: "integer", minimum: 1, maximum: 1000, default: 1 },
          list: LIST,
        },
      },
    },
    responses: { 200: { description: "The cart now", schema: CART_SCHEMA } },
  },
  {
    method: "DELETE",
    path: "/api/v1/carts/{id}/items/{variantId}",
    errors: { 409: "The cart is checked out" },
    action: "carts.removeItem",
    access: "shop:write",
    summary: "Remove a variant from one list of the cart",
    tags: ["shop"],
    params: { type: "object", required: ["id", "variantId"], properties: { id: ID, variantId: ID } },
    query: { type: "object", additionalProperties: false, properties: { list: LIST } },
    responses: { 200: { description: "The cart now", schema: CART_SCHEMA } },
  },
  {
    method: "POST",
    path: "/api/v1/carts/{id}/checkout",
    errors: { 409: "The cart is empty or cannot be checked out now" },
    action: "carts.checkout",
    access: "shop:write",
    summary: "Check out: the cart becomes one order (a repeated submit answers the same order)",
    description:
      "202 with the order id; the order then reserves stock and asks for payment (GET /api/v1/orders/{id}). 409 for an empty cart.",
    tags: ["shop"],
    params: CART_PARAMS,
    responses: {
      202: {
        description: "Checked out",
        schema: {
          type: "object",
          required: ["orderId", "cart"],
          properties: { orderId: { type: "string" }, cart: CART_SCHEMA },
        },
        headers: { Location: { description: "The order", schema: { type: "string" } } },
      },
    },
  },
];
