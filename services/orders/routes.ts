/**
 * The orders' HTTP contract: buyers (scopes orders:read, orders:write) see and act on their
 * own orders (anyone else's is a 404); fulfilment is for operators (scope admin).
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { ORDER_STATUSES } from "./order.actor";

const PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[A-Za-z0-9_=-]{1,200}$", description: "Order id ({cart}-{n})" } },
};

/** JSON Schema of an order. */
export const ORDER_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "status", "items", "total", "currency", "payment", "history"],
  properties: {
    id: { type: "string" },
    status: { type: "string", enum: [...ORDER_STATUSES] },
    cartId: { type: "string" },
    items: { type: "array", items: { type: "object" } },
    total: { type: "integer" },
    currency: { type: "string" },
    payment: {
      type: ["object", "null"],
      properties: {
        id: { type: "string" },
        state: {
          type: "string",
          enum: ["requested", "pending", "authorized", "captured", "declined", "voided", "refunded", "failed"],
          description: "requested: the hub is being asked (retried while providers are down, lastError says why)",
        },
        provider: { type: ["string", "null"], enum: ["card", "wallet", null] },
        providerRef: { type: ["string", "null"] },
        redirectUrl: { type: ["string", "null"], description: "Wallet payments: where the buyer approves" },
        lastError: { type: ["string", "null"] },
        updates: { type: "integer" },
      },
    },
    completed: { type: "boolean", description: "The storefront's completion call arrived" },
    reason: { type: ["string", "null"] },
    refundedAmount: { type: "integer" },
    history: {
      type: "array",
      items: {
        type: "object",
        properties: {
          at: { type: "string", format: "date-time" },
          status: { type: "string" },
          note: { type: "string" },
        },
      },
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
};

const ORDER: Record<number, { description: string; schema: JsonSchema }> = {
  202: { description: "Accepted; the order now", schema: ORDER_SCHEMA },
};

/** Every route of the orders domain. */
export const orderRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/orders/{id}",
    action: "orders.get",
    access: "orders:read",
    summary: "An order: status, payment, history",
    tags: ["orders"],
    params: PARAMS,
    responses: { 200: { description: "The order", schema: ORDER_SCHEMA } },
    includes: {
      cart: { route: "GET /api/v1/carts/{id}", from: "/cartId", description: "the cart it was placed from" },
    },
  },
  {
    method: "POST",
    path: "/api/v1/orders/{id}/complete",
    action: "orders.complete",
    access: "orders:write",
    summary: "The storefront's completion call (after the buyer paid)",
    description:
      "Safe in any order with the payment provider's webhook and safe to repeat: both go through the order's one mailbox. When the payment is not known yet the hub is asked for its status.",
    tags: ["orders"],
    params: PARAMS,
    responses: ORDER,
  },
  {
    method: "POST",
    path: "/api/v1/orders/{id}/cancel",
    errors: { 409: "The order is paid already, or cancelled already" },
    action: "orders.cancel",
    access: "orders:write",
    summary: "Cancel an order not paid yet (stock released, authorisation voided)",
    tags: ["orders"],
    params: PARAMS,
    responses: ORDER,
  },
  {
    method: "POST",
    path: "/api/v1/orders/{id}/refund",
    errors: { 409: "The order is not paid, or was refunded already" },
    action: "orders.refund",
    access: "orders:write",
    summary: "Refund a paid order in full (stock goes back unless shipped)",
    tags: ["orders"],
    params: PARAMS,
    responses: ORDER,
  },
  {
    method: "POST",
    path: "/api/v1/orders/{id}/fulfilment",
    errors: { 409: "The order is not in a state this step follows" },
    action: "orders.fulfil",
    access: "admin",
    summary: "Operators: move fulfilment on (paid → fulfilling → shipped → delivered)",
    tags: ["orders", "admin"],
    params: PARAMS,
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        required: ["step"],
        properties: { step: { type: "string", enum: ["fulfilling", "shipped", "delivered"] } },
      },
    },
    responses: { 200: { description: "The order now", schema: ORDER_SCHEMA } },
  },
];
