/**
 * The supporters domain's HTTP routes (served by the gateway under /api/v1; moleculer-web
 * aliases and the OpenAPI document are generated from these).
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { httpPayloadSchema } from "./schema";
import { SOURCES } from "./model";
import { cursorQuery, SEQ_CURSOR } from "../../gateway/pagination";

/** The tenancy rule every supporter read states (README, Supporters: Tenancy). */
const TENANCY =
  "Tenancy: a supporter's records belong to the clients that sent them. With the admin scope you see everything; any other client sees only the messages it submitted and what they add up to, never another tenant's. A hash none of your messages references is answered 404, exactly as a hash that does not exist (knowing or computing a supporter's hash gives no access).";

const NEXT_CURSOR: JsonSchema = {
  type: ["string", "null"],
  description: "Pass as `cursor` for the next page; null at the end",
};

const HASH_PARAMS: JsonSchema = {
  type: "object",
  required: ["hash"],
  properties: {
    hash: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$", description: "Identity hash (43 base64url characters)" },
  },
};

const ACCEPTED: JsonSchema = {
  type: "object",
  required: ["hash", "messageId", "duplicate"],
  properties: {
    hash: {
      type: "string",
      description: "The supporter's identity hash: HMAC-SHA256 of the normalised email (or phone), base64url",
    },
    messageId: { type: "string" },
    duplicate: { type: "boolean", description: "True when this message id was accepted before (a resend)" },
  },
};

const LANE: JsonSchema = {
  type: "object",
  properties: {
    inFlight: { type: ["string", "null"] },
    job: { type: ["string", "null"] },
    since: { type: ["string", "null"] },
    attempts: { type: "integer" },
    lastError: { type: ["string", "null"] },
    lastErrorAt: { type: ["string", "null"] },
  },
};

const SUPPORTER_VIEW: JsonSchema = {
  type: "object",
  properties: {
    hash: { type: "string" },
    known: { type: "boolean" },
    pending: {
      type: "object",
      properties: { user: { type: "integer" }, erp: { type: "integer" }, total: { type: "integer" } },
    },
    lanes: { type: "object", properties: { user: LANE, erp: LANE } },
    queue: { type: "array", items: { type: "object" } },
    parked: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          client: { type: "string" },
          step: { type: "string" },
          reason: { type: "string" },
          at: { type: "integer" },
        },
      },
    },
    counts: {
      type: "object",
      description:
        "Admins: all counters of the supporter. Other clients: received, userDelivered, erpDelivered, parked and erased of their own messages (from the event log)",
    },
    forgottenAt: { type: ["string", "null"] },
  },
};

/** Every route of the supporters domain. */
export const supporterRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/supporter-events",
    action: "supporters.submit",
    access: "supporters:write",
    summary: "Send a supporter identity and events; get the identity hash",
    description: `A source (${SOURCES.join(", ")}), an identity (email and/or phone, names, address) and a list of events. Answers 202 with the identity hash once the message is stored; the identity then goes to the user service and the events to the ERP service, per supporter and in arrival order, whatever their availability. A payload from the \`rtbf\` source is a forget request for the identity it carries (scope admin required, 403 otherwise). Producers on NATS publish the same payload to \`{ns}.supporters.in.<source>\` (JetStream) or request on \`{ns}.supporters.req.<source>\`. The message belongs to your client (see the supporter reads); \`messageId\` dedupes your own resends only, so \`duplicate\` says nothing about other clients' messages. The hash is answered for any identity and reveals nothing else.`,
    tags: ["supporters"],
    body: {
      contentTypes: ["application/json"],
      schema: httpPayloadSchema.schema as JsonSchema,
      limitBytes: 64 * 1024,
      description: "The supporter payload",
    },
    responses: { 202: { description: "Stored; propagation under way", schema: ACCEPTED } },
  },
  {
    method: "POST",
    path: "/api/v1/supporters/{hash}/forget",
    action: "supporters.forget",
    access: "admin",
    summary: "Right to be forgotten: erase a supporter's personal data (scope admin)",
    description:
      "Admin only (403 for any other client, whatever the hash): forgetting erases what every tenant sent about the identity. The supporter's own request comes through the RTBF producer (source `rtbf`). Deletes the supporter's data key (everything Switchyard holds on them becomes unreadable: actor state, streams, dead letters, the Postgres event log), erases the sealed columns of the event log, and asks the user service to erase them. The hash and the event log's rows (types, times, statuses) stay, so relations between data remain.",
    tags: ["supporters"],
    params: HASH_PARAMS,
    responses: {
      202: {
        description: "Forget requested (ordered after the supporter's earlier messages)",
        schema: { type: "object", properties: { hash: { type: "string" }, requestedAt: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/supporters/{hash}",
    action: "supporters.supporter",
    access: "authenticated",
    summary: "A supporter's delivery queue: pending, in flight, parked, last error (scope admin or supporters:read)",
    description: `${TENANCY} A client's view holds only its own queued and parked messages, a lane only while it carries one of them, and the forget time only when a forget erased its messages.`,
    tags: ["supporters"],
    params: HASH_PARAMS,
    responses: { 200: { description: "The supporter's queue (no personal data)", schema: SUPPORTER_VIEW } },
  },
  {
    method: "GET",
    path: "/api/v1/supporters/{hash}/events",
    action: "supporters.events",
    access: "authenticated",
    summary: "A supporter's event log in arrival order (scope admin or supporters:read)",
    description: `Message ids, sources, owners (\`client\`: a client id, or \`nats:<source>\` for a NATS producer), event types, arrival times and the delivery status of each step. Never personal data; still there after the supporter was forgotten. ${TENANCY} A client's pages hold only its own messages (keyset pages by arrival sequence: pass \`nextCursor\` as \`cursor\`), and \`forgottenAt\` only the forgets at or after its first message.`,
    tags: ["supporters"],
    params: HASH_PARAMS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery(SEQ_CURSOR, { type: "integer", minimum: 0 }),
      },
    },
    responses: {
      200: {
        description: "A page of the event log",
        schema: {
          type: "object",
          properties: {
            hash: { type: "string" },
            items: { type: "array" },
            nextCursor: NEXT_CURSOR,
            forgottenAt: { type: "array", items: { type: "string" } },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/supporters/{hash}/data",
    action: "supporters.data",
    access: "admin",
    summary:
      "Operators: what Switchyard holds on a supporter, decrypted (nothing once forgotten); admin only, every tenant's messages",
    tags: ["supporters", "admin"],
    params: HASH_PARAMS,
    responses: {
      200: {
        description: "The newest 100 messages with their identity and events",
        schema: {
          type: "object",
          properties: { hash: { type: "string" }, erased: { type: "boolean" }, messages: { type: "array" } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/supporters/backlog",
    action: "supporters.backlog",
    access: "admin",
    summary: "Operators: the backlog per stage and downstream (intake, mailboxes, user, ERP, event log, DLQ)",
    tags: ["supporters", "admin"],
    responses: { 200: { description: "Backlog counters and breaker states per node", schema: { type: "object" } } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/supporters/dlq",
    action: "supporters.dlq",
    access: "admin",
    summary: "Operators: the supporters' dead letters (refused by a downstream, or over a supporter's backlog bound)",
    tags: ["supporters", "admin"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        hash: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" },
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery(SEQ_CURSOR, { type: "integer", minimum: 0 }),
      },
    },
    responses: {
      200: {
        description: "Dead letters, oldest first (no personal data)",
        schema: { type: "object", properties: { items: { type: "array" }, nextCursor: NEXT_CURSOR } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/supporters/dlq/replay",
    action: "supporters.replay",
    access: "admin",
    summary: "Operators: replay supporters' dead letters to their supporters (at the end of their queues)",
    tags: ["supporters", "admin"],
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        required: ["seqs"],
        additionalProperties: false,
        properties: { seqs: { type: "array", minItems: 1, maxItems: 1000, items: { type: "integer", minimum: 1 } } },
      },
    },
    responses: {
      200: {
        description: "Replayed, missing and refused (not a supporters dead letter) sequences",
        schema: { type: "object" },
      },
    },
  },
];
