/**
 * The routes of the gateway's edge functions: batches and canary administration.
 */
import type { RouteSpec } from "../../gateway/routes";
import { BATCH_REQUEST_SCHEMA, BATCH_RESPONSE_SCHEMA, MAX_BATCH_ITEMS } from "../../gateway/batch";
import { CANARY_INPUT_SCHEMA, CANARY_SCHEMA, SERVICE_NAME_SCHEMA } from "../../gateway/canary";

const SERVICE_PARAMS = { type: "object", required: ["service"], properties: { service: SERVICE_NAME_SCHEMA } } as const;

const CANARY_VIEW_SCHEMA = {
  ...CANARY_SCHEMA,
  properties: {
    ...(CANARY_SCHEMA["properties"] as Record<string, unknown>),
    window: {
      type: "object",
      description: "Answers seen by the answering node in the window (canary and baseline)",
      properties: { canary: { type: "object" }, baseline: { type: "object" } },
    },
  },
} as const;

/** Batches and canary administration. */
export const edgeRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/batch",
    action: "gateway.batch",
    access: "authenticated",
    // each item takes a token of the caller's rate limit; the envelope takes none
    rateLimited: false,
    summary: `Run up to ${MAX_BATCH_ITEMS} requests in one, each with your own credentials, scopes and rate limit`,
    description:
      "Items run in order of their dependencies (a later item may use an earlier item's answer: ${items.<id or index>.body.<field>}), " +
      "each answered with its own status, headers and body (the uniform error shape for failures, 424 FAILED_DEPENDENCY when an item it refers to failed). " +
      "Items are JSON; batches do not nest.",
    tags: ["batch"],
    body: { contentTypes: ["application/json"], schema: BATCH_REQUEST_SCHEMA },
    requestExample: {
      items: [
        { id: "cart", method: "POST", path: "/api/v1/carts" },
        { method: "GET", path: "/api/v1/carts/${items.cart.body.id}?include=products" },
      ],
    },
    responses: { 200: { description: "One answer per item, in order", schema: BATCH_RESPONSE_SCHEMA } },
    errors: { 400: "An item refers to a later item, itself or an unknown item, or repeats an id" },
  },
  {
    method: "GET",
    path: "/api/v1/admin/canaries",
    action: "gateway.canaries",
    access: "admin",
    summary: "Operators: every canary, with the answering node's window",
    tags: ["admin", "canaries"],
    responses: {
      200: {
        description: "The canaries",
        schema: {
          type: "object",
          required: ["items"],
          properties: { items: { type: "array", items: CANARY_VIEW_SCHEMA } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/canaries/{service}",
    action: "gateway.canary",
    access: "admin",
    summary: "Operators: the canary of a service",
    tags: ["admin", "canaries"],
    params: SERVICE_PARAMS,
    responses: { 200: { description: "The canary", schema: CANARY_VIEW_SCHEMA } },
  },
  {
    method: "PUT",
    path: "/api/v1/admin/canaries/{service}",
    action: "gateway.canarySet",
    access: "admin",
    summary: "Operators: start a canary (version, share), change it, promote it or roll it back (state)",
    description:
      "Applied by every gateway node at once (KV). A new version restarts the canary in state running; " +
      "state promoted sends every call to the canary's version, rolled-back none. Emits gateway.canary.changed.",
    tags: ["admin", "canaries"],
    params: SERVICE_PARAMS,
    body: { contentTypes: ["application/json"], schema: CANARY_INPUT_SCHEMA, limitBytes: 4096 },
    requestExample: { version: "2", share: 0.1, thresholds: { maxErrorRateDelta: 0.05, minRequests: 20 } },
    responses: { 200: { description: "The canary as stored", schema: CANARY_SCHEMA } },
    errors: { 409: "The canary changed meanwhile (retry)" },
  },
  {
    method: "DELETE",
    path: "/api/v1/admin/canaries/{service}",
    action: "gateway.canaryDelete",
    access: "admin",
    summary: "Operators: remove a canary (calls balance over every instance again)",
    tags: ["admin", "canaries"],
    params: SERVICE_PARAMS,
    responses: { 200: { description: "The removed canary's last record", schema: CANARY_SCHEMA } },
  },
];
