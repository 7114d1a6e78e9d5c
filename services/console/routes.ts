/**
 * The console's HTTP contract: the page and its assets (public, served by every gateway), and
 * the admin routes the page calls (scope admin, as every operator route): cluster, streams and
 * their live feed (server-sent events), an actor, the DLQ with edit and in-order replay, the
 * audit log, the domains' pages and the alarms.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { cursorQuery, SEQ_CURSOR } from "../../gateway/pagination";
import { GROUP_PATTERN, MAX_EDIT_BYTES } from "./dlq-view";
import { DLQ_SCAN_CAP } from "./inspect";

const TAGS = ["console", "admin"];

const DEAD_LETTER: JsonSchema = {
  type: "object",
  required: ["seq", "subject", "originalSubject", "error", "attempts", "deliveryCount", "failedAt", "headers"],
  properties: {
    seq: { type: "integer", description: "DLQ sequence: the handle for edit and replay" },
    subject: { type: "string" },
    group: { type: "string", description: "actor.<kind>, job.<job>, or the domain that dead-lettered it" },
    originalSubject: { type: "string" },
    error: { type: "string" },
    attempts: { type: "integer" },
    deliveryCount: { type: "integer" },
    failedAt: { type: "string" },
    headers: { type: "object", additionalProperties: { type: "string" } },
    data: { description: "The body: JSON, or base64 when it is not JSON (binary or sealed)" },
  },
};

const AUDIT_ENTRY: JsonSchema = {
  type: "object",
  required: ["id", "at", "who", "action", "target", "detail"],
  properties: {
    id: { type: "integer" },
    at: { type: "string", format: "date-time" },
    who: { type: "string", description: "The admin client's id, or operator" },
    action: { type: "string", enum: ["dlq.edit", "dlq.replay"] },
    target: { type: "string" },
    detail: { type: "object" },
    requestId: { type: ["string", "null"] },
  },
};

const FILTER_PROPS = {
  group: { type: "string", pattern: GROUP_PATTERN, description: "actor.<kind>, job.<job> or a domain's word" },
  subject: { type: "string", maxLength: 256, description: "Substring of the original subject" },
  error: { type: "string", maxLength: 256, description: "Substring of the error" },
} as const;

/** The console's routes. */
export const consoleRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/console",
    action: "console.page",
    access: "public",
    summary: "The operator console (sign in with an admin client)",
    tags: ["console"],
    responses: { 200: { description: "The console's page", contentType: "text/html" } },
  },
  {
    method: "GET",
    path: "/console/assets/{file}",
    action: "console.asset",
    access: "public",
    summary: "The console's bundled scripts and styles",
    tags: ["console"],
    params: {
      type: "object",
      required: ["file"],
      properties: { file: { type: "string", pattern: "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.(js|css|svg)$" } },
    },
    responses: { 200: { description: "The file", contentType: "text/javascript" } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/cluster",
    action: "console.cluster",
    access: "admin",
    summary:
      "Operators: nodes, their services and roles, readiness, partition owners and desired owners with lease ages",
    tags: TAGS,
    responses: { 200: { description: "The cluster", schema: { type: "object" } } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/streams",
    action: "console.streams",
    access: "admin",
    summary:
      "Operators: every stream of the namespace and its consumers' pending, ack-pending, redelivered and waiting",
    tags: TAGS,
    responses: { 200: { description: "Streams and consumers", schema: { type: "object" } } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/live",
    action: "console.live",
    access: "admin",
    summary:
      "Operators: server-sent events: `alarms` (the node's list) at once, then one `snapshot` a second (stream sequences and consumer counters) and each new `alarm`",
    tags: TAGS,
    rateLimited: false,
    responses: {
      200: { description: "An event stream (ends after 10 minutes; reconnect)", contentType: "text/event-stream" },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/actors/{kind}/{key}",
    action: "console.actor",
    access: "admin",
    summary: "Operators: an actor's state and its revisions, its mailbox, jobs in flight and dead letters",
    tags: TAGS,
    params: {
      type: "object",
      required: ["kind", "key"],
      properties: {
        kind: { type: "string", pattern: "^[a-z][a-z0-9]{0,31}$" },
        key: { type: "string", pattern: "^[A-Za-z0-9_=-]{1,200}$" },
      },
    },
    responses: { 200: { description: "The actor", schema: { type: "object" } } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/dlq",
    action: "console.dlq",
    access: "admin",
    summary: "Operators: dead letters of every domain, filtered by group, subject and error, oldest first",
    description: `Filters are applied while scanning, at most ${DLQ_SCAN_CAP} entries a request; continue with \`cursor\` = \`nextCursor\`.`,
    tags: TAGS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        ...FILTER_PROPS,
        ...cursorQuery(SEQ_CURSOR, { type: "integer", minimum: 0 }),
        limit: { type: "integer", minimum: 1, maximum: 500, default: 100 },
      },
    },
    responses: {
      200: {
        description: "A page of dead letters",
        schema: {
          type: "object",
          properties: {
            items: { type: "array", items: DEAD_LETTER },
            nextCursor: {
              type: ["string", "null"],
              description: "Pass as `cursor` for the next page; null when the scan reached the end",
            },
            next: { type: ["integer", "null"], deprecated: true, description: "Deprecated: `nextCursor` as a number" },
            scanned: { type: "integer" },
            groups: { type: "object", additionalProperties: { type: "integer" } },
          },
        },
      },
    },
  },
  {
    method: "PUT",
    path: "/api/v1/admin/console/dlq/{seq}",
    action: "console.dlqEdit",
    access: "admin",
    summary: "Operators: replace a dead letter's body before replay (audited)",
    description:
      "The body must be JSON of the same shape as the original (object for object); binary or sealed bodies cannot be edited. The edited entry gets a new DLQ sequence and keeps its original's headers, so in-order replay still puts it where the original was.",
    tags: TAGS,
    params: { type: "object", required: ["seq"], properties: { seq: { type: "integer", minimum: 1 } } },
    body: {
      contentTypes: ["application/json"],
      limitBytes: MAX_EDIT_BYTES + 1024,
      schema: {
        type: "object",
        required: ["data"],
        additionalProperties: false,
        properties: { data: { description: "The new body" }, reason: { type: "string", maxLength: 500 } },
      },
    },
    responses: {
      200: {
        description: "The edited entry's new sequence",
        schema: {
          type: "object",
          properties: { seq: { type: "integer" }, previous: { type: "integer" }, audit: AUDIT_ENTRY },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/console/dlq/replay",
    action: "console.dlqReplay",
    access: "admin",
    summary:
      "Operators: replay dead letters (one, several, or every one a filter selects) in their original order (audited)",
    description:
      "Give `seqs`, or `filter` to select. Entries are replayed ordered by the stream and sequence they were first published with, through the runtime's replay (the same as the REPL's dlq-replay).",
    tags: TAGS,
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        properties: {
          seqs: { type: "array", minItems: 1, maxItems: 10000, items: { type: "integer", minimum: 1 } },
          filter: { type: "object", additionalProperties: false, properties: FILTER_PROPS },
        },
        oneOf: [{ required: ["seqs"] }, { required: ["filter"] }],
      },
    },
    responses: {
      200: {
        description: "What was replayed, in order",
        schema: {
          type: "object",
          properties: {
            replayed: { type: "array", items: { type: "integer" } },
            missing: { type: "array", items: { type: "integer" } },
            audit: AUDIT_ENTRY,
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/audit",
    action: "console.audit",
    access: "admin",
    summary: "Operators: the audit log of dead-letter edits and replays, newest first",
    tags: TAGS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        cursor: { ...SEQ_CURSOR, description: "Continue from here: the `nextCursor` of the previous page" },
        before: { type: "integer", minimum: 1, deprecated: true, description: "Deprecated: the old name of `cursor`" },
        limit: { type: "integer", minimum: 1, maximum: 500, default: 100 },
      },
    },
    responses: {
      200: {
        description: "Audit entries",
        schema: {
          type: "object",
          properties: {
            items: { type: "array", items: AUDIT_ENTRY },
            nextCursor: {
              type: ["string", "null"],
              description: "Pass as `cursor` for older entries; null at the end",
            },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/pages",
    action: "console.pages",
    access: "admin",
    summary:
      "Operators: the console pages each domain contributes (inputs, the domain's GET route, what to show as a table)",
    tags: TAGS,
    responses: { 200: { description: "Pages", schema: { type: "object", properties: { items: { type: "array" } } } } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/console/alarms",
    action: "console.alarms",
    access: "admin",
    summary: "Operators: alarms broadcast in the cluster (alarm.*) since this node started, newest first",
    tags: TAGS,
    responses: { 200: { description: "Alarms", schema: { type: "object", properties: { items: { type: "array" } } } } },
  },
];
