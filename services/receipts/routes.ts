/**
 * The receipts domain's HTTP routes (served by the gateway under /api/v1; moleculer-web
 * aliases and the OpenAPI document are generated from these).
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { RECEIPT_STATUSES } from "./model";
import { MAX_PAGE } from "./store";

const ID_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[0-9A-Za-z]{1,64}$", description: "Receipt id (26-character ULID)" } },
};

const STEP: JsonSchema = {
  type: "object",
  required: ["state", "reference", "attempts", "lastError"],
  properties: {
    state: {
      type: "string",
      enum: ["pending", "registering", "awaiting-callback", "registered", "rejected", "failed"],
    },
    reference: { type: ["string", "null"], description: "The service's registration id" },
    attempts: { type: "integer" },
    lastError: { type: ["string", "null"] },
  },
};

const STATUS: JsonSchema = { type: "string", enum: [...RECEIPT_STATUSES] };

/** JSON Schema of the status document. */
export const STATUS_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "status", "steps", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string" },
    status: STATUS,
    reason: { type: ["string", "null"], description: "Why the receipt is INVALID, REJECTED or FAILED" },
    steps: {
      type: "object",
      properties: {
        validation: {
          type: "object",
          properties: { state: { type: "string", enum: ["pending", "passed", "failed"] }, errors: { type: "array" } },
        },
        tax: STEP,
        warehouse: STEP,
      },
    },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
    webhooks: {
      type: "array",
      description: "Client webhooks sent on terminal statuses, with their delivery attempts",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          event: { type: "string" },
          state: { type: "string", enum: ["pending", "delivered", "failed"] },
          attempts: { type: "integer" },
          lastStatus: {
            type: ["integer", "null"],
            description: "HTTP status of the last attempt, when the endpoint answered",
          },
          lastError: {
            type: ["string", "null"],
            description: 'null, or "webhook delivery failed" (the cause is logged on the platform, not shown)',
          },
          deliveredAt: { type: ["string", "null"] },
        },
      },
    },
  },
};

const REFERENCES: JsonSchema = {
  type: "object",
  properties: { tax: { type: ["string", "null"] }, warehouse: { type: ["string", "null"] } },
};

const LIST_ITEM: JsonSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    type: { type: "string" },
    format: { type: "string", enum: ["json", "xml"] },
    status: STATUS,
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
    issuedAt: { type: ["string", "null"] },
    total: { type: ["number", "null"] },
    currency: { type: ["string", "null"] },
    references: REFERENCES,
    reason: { type: ["string", "null"] },
  },
};

const CALLBACK_BODY: JsonSchema = {
  type: "object",
  required: ["receiptId", "status"],
  properties: {
    receiptId: { type: "string" },
    status: { type: "string", enum: ["registered", "rejected"] },
    registrationId: { type: "string" },
    reason: { type: "string" },
  },
};

function callbackRoute(service: "tax" | "warehouse"): RouteSpec {
  return {
    method: "POST",
    path: `/api/v1/callbacks/${service}`,
    action: service === "tax" ? "receipts.callbackTax" : "receipts.callbackWarehouse",
    access: "public",
    rateLimited: false,
    summary: `Registration result from the ${service} service`,
    description:
      "Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>) with the service's shared secret; a bad signature is a 401.",
    tags: ["callbacks"],
    body: { contentTypes: ["application/json"], raw: true, schema: CALLBACK_BODY, limitBytes: 64 * 1024 },
    headers: ["webhook-id", "webhook-timestamp", "webhook-signature"],
    headerParams: [
      {
        name: "webhook-id",
        required: true,
        description: "The message id (duplicates are answered 200)",
        schema: { type: "string" },
      },
      {
        name: "webhook-timestamp",
        required: true,
        description: "Unix seconds; too old or too new is a 401",
        schema: { type: "string", pattern: "^[0-9]{1,12}$" },
      },
      {
        name: "webhook-signature",
        required: true,
        description: "v1,<base64 HMAC-SHA256 of id.timestamp.body> (space-separated when several)",
        schema: { type: "string" },
      },
    ],
    errors: { 401: "Missing, stale or wrong webhook signature" },
    responses: {
      200: {
        description: "Accepted (duplicates and late callbacks too)",
        schema: { type: "object", properties: { received: { type: "boolean" } } },
      },
    },
  };
}

/** Every route of the receipts domain. */
/** The intake action of new receipts (admission control sheds on it, see lib/admission.ts). */
export const SUBMIT_ACTION = "receipts.submit";

export const receiptRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/receipt-types",
    action: "receipts.types",
    access: "authenticated",
    summary: "Receipt types with their JSON Schemas and examples",
    tags: ["receipts"],
    responses: {
      200: {
        description: "Every receipt type: name, version, formats, JSON Schema, one valid example per format",
        schema: { type: "object", properties: { items: { type: "array" } } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/receipts",
    action: SUBMIT_ACTION,
    access: "receipts:write",
    summary: "Submit a receipt (JSON or XML)",
    description:
      "JSON names its type in a top-level `type` field, XML by its root element (see GET /api/v1/receipt-types). Answers 202 once the receipt is stored durably; registration with the tax and warehouse services follows (poll the status URL or receive a webhook). `Idempotency-Key`: the same key and body return the same receipt, another body is a 409. `X-Callback-Url` overrides the client's registered webhook URL; like it, it must name a public destination: loopback, private, link-local, metadata and other special-purpose addresses, and local or internal names (localhost, *.internal, single-label names), are refused with 422 (names are checked again against what they resolve to when the webhook is sent). While the answering node is overloaded (its event loop delay over RECEIPT_MAX_LAG_MS; Retry-After: 1) or the receipt actors are far behind (more than RECEIPT_MAX_BACKLOG messages waiting; Retry-After: 5), new receipts are refused with 503: nothing is stored, send again after Retry-After.",
    tags: ["receipts"],
    body: {
      contentTypes: ["application/json", "application/xml"],
      raw: true,
      limitBytes: 512 * 1024,
      description: "A receipt document of a registered type",
    },
    headers: ["content-type", "idempotency-key", "x-callback-url"],
    headerParams: [
      {
        name: "Idempotency-Key",
        description:
          "Makes a resend safe: the same key with the same body answers the same receipt; with another body, 409",
        schema: { type: "string", minLength: 1, maxLength: 255 },
      },
      {
        name: "X-Callback-Url",
        description:
          "Send this receipt's webhooks here instead of the client's registered URL (a public https or http URL)",
        schema: { type: "string", format: "uri", maxLength: 2048 },
      },
    ],
    errors: {
      409: "The Idempotency-Key was used before with another body",
      422: "Not a receipt of a registered type, not valid against its type's schema, or a refused X-Callback-Url (details name each problem)",
    },
    responses: {
      202: {
        description: "Stored; registration under way",
        schema: {
          type: "object",
          required: ["id", "status", "statusUrl"],
          properties: {
            id: { type: "string" },
            status: { type: "string", const: "RECEIVED" },
            statusUrl: { type: "string" },
          },
        },
        headers: { Location: { description: "The status URL", schema: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/receipts",
    action: "receipts.list",
    access: "receipts:read",
    summary: "Your receipts, newest first",
    description: `Keyset pagination: pass \`nextCursor\` as \`cursor\` for the next page. At most ${MAX_PAGE} per page.`,
    tags: ["receipts"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        from: { type: "string", format: "date-time", description: "Created at or after (inclusive)" },
        to: { type: "string", format: "date-time", description: "Created before (exclusive)" },
        status: STATUS,
        type: { type: "string", maxLength: 32 },
        limit: { type: "integer", minimum: 1, maximum: MAX_PAGE, default: 100 },
        cursor: { type: "string", maxLength: 200 },
      },
    },
    responses: {
      200: {
        description: "A page of receipts",
        schema: {
          type: "object",
          properties: { items: { type: "array", items: LIST_ITEM }, nextCursor: { type: ["string", "null"] } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/receipts/{id}/status",
    action: "receipts.status",
    access: "receipts:read",
    summary: "A receipt's registration status",
    tags: ["receipts"],
    params: ID_PARAMS,
    responses: { 200: { description: "The status document", schema: STATUS_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/receipts/{id}",
    action: "receipts.get",
    access: "receipts:read",
    summary: "A receipt with its document",
    tags: ["receipts"],
    params: ID_PARAMS,
    responses: {
      200: {
        description: "The receipt",
        schema: {
          type: "object",
          properties: {
            id: { type: "string" },
            type: { type: "string" },
            format: { type: "string" },
            status: STATUS,
            references: REFERENCES,
            document: { type: "object" },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/receipts/{id}/original",
    action: "receipts.original",
    access: "receipts:read",
    summary: "The exact bytes submitted, with their content type",
    tags: ["receipts"],
    params: ID_PARAMS,
    responses: {
      200: {
        description: "The original document, with the content type it was sent with",
        contentTypes: ["application/json", "application/xml"],
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/receipts/{id}/retry",
    action: "receipts.retry",
    access: "admin",
    summary: "Operators: retry the failed registrations of a FAILED receipt",
    tags: ["receipts", "admin"],
    params: ID_PARAMS,
    errors: { 409: "The receipt is not FAILED (only FAILED receipts can be retried)" },
    responses: { 202: { description: "Retry requested; the status before it", schema: STATUS_SCHEMA } },
  },
  callbackRoute("tax"),
  callbackRoute("warehouse"),
];
