/** The sessions' HTTP contract. */
import type { RouteSpec } from "../../gateway/routes";

/** Every route of the sessions domain. */
export const sessionRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/sessions/me",
    action: "sessions.me",
    access: "shop:read",
    summary: "Your session: last seen and your carts' summaries (cached; refreshed when a cart changes)",
    tags: ["sessions"],
    responses: {
      200: {
        description: "The session",
        schema: {
          type: "object",
          required: ["client", "lastSeen", "carts"],
          properties: {
            client: { type: "string" },
            lastSeen: { type: "string", format: "date-time" },
            carts: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  cartId: { type: "string" },
                  status: { type: "string" },
                  lines: { type: "integer" },
                  total: { type: "integer" },
                  currency: { type: ["string", "null"] },
                },
              },
            },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/sessions/products/{id}",
    action: "sessions.product",
    access: "shop:read",
    summary: "A product through the session cache (X-Cache: hit or miss); a price change invalidates it",
    tags: ["sessions"],
    params: {
      type: "object",
      required: ["id"],
      properties: { id: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } },
    },
    responses: {
      200: {
        description: "The product (the catalogue's shape)",
        schema: { type: "object" },
        headers: { "X-Cache": { description: "hit or miss", schema: { type: "string", enum: ["hit", "miss"] } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/sessions/stats",
    action: "sessions.stats",
    access: "admin",
    summary: "Operators: this node's cache hit rate, and the cache's size",
    tags: ["sessions", "admin"],
    responses: {
      200: {
        description: "Counters",
        schema: {
          type: "object",
          properties: {
            hits: { type: "integer" },
            misses: { type: "integer" },
            invalidations: { type: "integer" },
            hitRate: { type: "number" },
            keys: { type: "integer" },
            bytes: { type: "integer", description: "Memory of up to 50 keys per scan batch (an estimate)" },
          },
        },
      },
    },
  },
];
