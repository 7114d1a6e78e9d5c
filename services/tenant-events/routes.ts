/**
 * The events domain's HTTP routes (served by every gateway; aliases and OpenAPI come from here).
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { ENVELOPE_SCHEMA, MAX_BATCH_EVENTS, TYPE_NAME_PATTERN } from "./envelope";
import { MAX_FEED_PAGE } from "./api";

const FEED_EVENT: JsonSchema = {
  type: "object",
  required: ["seq", "clientId", "eventId", "type", "typeVersion", "timestamp", "storedAt", "data"],
  properties: {
    seq: { type: "integer", description: "Store sequence: the feed order within a tenant" },
    clientId: { type: "string" },
    eventId: { type: "string" },
    type: { type: "string" },
    typeVersion: { type: "integer" },
    timestamp: { type: "string", format: "date-time" },
    storedAt: { type: "string", format: "date-time" },
    data: { type: "object" },
  },
};

const TYPE_VERSION: JsonSchema = {
  type: "object",
  required: ["name", "version", "schema", "createdAt"],
  properties: {
    name: { type: "string" },
    version: { type: "integer" },
    schema: { type: "object", description: "JSON Schema (draft 2020-12) of the event's data" },
    description: { type: "string" },
    createdAt: { type: "string", format: "date-time" },
  },
};

const TYPE_INFO: JsonSchema = {
  type: "object",
  required: ["name", "latest", "versions"],
  properties: {
    name: { type: "string" },
    latest: { type: "integer" },
    versions: { type: "array", items: TYPE_VERSION },
  },
};

const NAME_PARAMS: JsonSchema = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string", pattern: TYPE_NAME_PATTERN, description: "Event type name, e.g. order.created" },
  },
};

const DEAD_LETTER: JsonSchema = {
  type: "object",
  properties: {
    seq: { type: "integer", description: "DLQ sequence: the handle for replay" },
    tenant: { type: "string" },
    code: {
      type: ["string", "null"],
      description:
        "INVALID_JSON, INVALID_ENCODING, TOO_LARGE, INVALID_ENVELOPE, TENANT_MISMATCH, UNKNOWN_TYPE, SCHEMA_VIOLATION or STORE_FAILED",
    },
    reason: { type: "string" },
    attempts: { type: "integer" },
    failedAt: { type: "string" },
    originalSubject: { type: "string" },
    data: { description: "The message as received (JSON, or base64 when it was not JSON)" },
  },
};

/** Every route of the events domain. */
export const eventRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/events",
    action: "events.ingest",
    access: "events:write",
    summary: "Submit one event or a batch of up to 1,000",
    description:
      "The body is one envelope or an array of envelopes `{clientId, eventId, type, timestamp, data}` (schema in `EventEnvelope` below; `clientId` must be your client id, `type` a registered event type whose JSON Schema `data` must match). All or nothing: if any event is invalid, none is accepted (422 with a JSON pointer per problem, 403 when a clientId is not yours). 202 once every event is stored durably in the intake stream; a repeated eventId is stored once.",
    tags: ["events"],
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: ["object", "array"],
        minItems: 1,
        maxItems: MAX_BATCH_EVENTS,
        items: ENVELOPE_SCHEMA,
        description: "An EventEnvelope or an array of them",
      },
      limitBytes: 16 * 1024 * 1024,
      description: "One EventEnvelope, or an array of 1 to 1000 (the gateway's body limit applies)",
    },
    responses: {
      202: {
        description: "Accepted: stored in the intake stream; validation, storage and the sender feed follow",
        schema: {
          type: "object",
          required: ["accepted", "duplicates"],
          properties: {
            accepted: { type: "integer" },
            duplicates: {
              type: "integer",
              description: "Already received within the last 2 minutes (same clientId:eventId)",
            },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/events",
    action: "events.feed",
    access: "events:read",
    summary: "Your stored events in store order (polling sender feed)",
    description: `Keyset pagination: pass the returned \`cursor\` as \`after\` to get the events stored since. The cursor is opaque. Without \`after\`, from the first event. At most ${MAX_FEED_PAGE} per page.`,
    tags: ["events"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        after: { type: "string", maxLength: 64, description: "The cursor of the previous page" },
        limit: { type: "integer", minimum: 1, maximum: MAX_FEED_PAGE, default: 100 },
      },
    },
    responses: {
      200: {
        description: "A page of events",
        schema: {
          type: "object",
          required: ["items", "cursor", "hasMore"],
          properties: {
            items: { type: "array", items: FEED_EVENT },
            cursor: { type: "string" },
            hasMore: { type: "boolean" },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/event-types",
    action: "events.types",
    access: "authenticated",
    summary: "Registered event types with every version's JSON Schema",
    tags: ["events"],
    responses: {
      200: {
        description: "Every event type",
        schema: { type: "object", properties: { items: { type: "array", items: TYPE_INFO } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/event-types/{name}",
    action: "events.type",
    access: "authenticated",
    summary: "One event type with its versions",
    tags: ["events"],
    params: NAME_PARAMS,
    responses: { 200: { description: "The type", schema: TYPE_INFO } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/event-types/{name}/versions",
    action: "events.defineType",
    access: "admin",
    summary: "Operators: register a new version of an event type (or a new type)",
    description:
      "The new version validates every event of the type from now on, on every node, without a restart. Versions are immutable.",
    tags: ["events", "admin"],
    params: NAME_PARAMS,
    body: {
      contentTypes: ["application/json"],
      limitBytes: 128 * 1024,
      schema: {
        type: "object",
        required: ["schema"],
        additionalProperties: false,
        properties: {
          schema: { type: "object", description: "JSON Schema (draft 2020-12) of data" },
          description: { type: "string", maxLength: 2000 },
        },
      },
    },
    responses: { 201: { description: "The new version", schema: TYPE_VERSION } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/events/dlq",
    action: "events.dlqList",
    access: "admin",
    summary: "Operators: dead-lettered events with their reasons",
    tags: ["events", "admin"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        tenant: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
        after: { type: "integer", minimum: 0, description: "Entries after this DLQ sequence" },
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
      },
    },
    responses: {
      200: {
        description: "Dead letters, oldest first",
        schema: {
          type: "object",
          properties: { items: { type: "array", items: DEAD_LETTER }, depths: { type: "object" } },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/events/dlq/replay",
    action: "events.dlqReplay",
    access: "admin",
    summary: "Operators: replay dead-lettered events to their intake subjects",
    description:
      "Each entry is published again to its tenant's intake subject (and removed from the DLQ); it is validated against the current type registry.",
    tags: ["events", "admin"],
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        required: ["seqs"],
        additionalProperties: false,
        properties: { seqs: { type: "array", minItems: 1, maxItems: 10000, items: { type: "integer", minimum: 1 } } },
      },
    },
    responses: {
      200: {
        description: "Replayed and missing sequences",
        schema: {
          type: "object",
          properties: {
            replayed: { type: "array", items: { type: "integer" } },
            missing: { type: "array", items: { type: "integer" } },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/events/stats",
    action: "events.stats",
    access: "admin",
    summary: "Operators: the answering node's processor counters and the DLQ depth per tenant",
    tags: ["events", "admin"],
    responses: { 200: { description: "Counters", schema: { type: "object" } } },
  },
];
