/**
 * The example event types the README uses (`order.created`, ...). In dev mode a node seeds them
 * into a namespace that has none of them yet, so the README's first requests work on a fresh
 * node; outside dev mode nothing is seeded (operators register their own types).
 */
import type { TypeDefinition } from "./types-store";

/** Example event types by name (version 1 of each). */
export const EXAMPLE_EVENT_TYPES: Readonly<Record<string, TypeDefinition>> = {
  "order.created": {
    description: "Example (seeded in dev mode): an order was placed",
    schema: {
      type: "object",
      required: ["amount"],
      properties: {
        amount: { type: "number", minimum: 0 },
        currency: { type: "string", pattern: "^[A-Z]{3}$" },
        orderId: { type: "string", maxLength: 128 },
      },
    },
  },
  "order.shipped": {
    description: "Example (seeded in dev mode): an order left the warehouse",
    schema: {
      type: "object",
      required: ["orderId"],
      properties: {
        orderId: { type: "string", maxLength: 128 },
        carrier: { type: "string", maxLength: 64 },
      },
    },
  },
};
