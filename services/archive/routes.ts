/** The archive domain's HTTP routes: analytics (named queries, operators' SQL) and exports with signed downloads. */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { EXPORT_FORMATS } from "./exports";

const DATASET: JsonSchema = {
  type: "string",
  pattern: "^[a-z][a-z0-9_]{0,40}$",
  description: "Dataset name (a domain that archives a table names it)",
};
const ROWS: JsonSchema = { type: "array", items: { type: "object" } };

/** Every route of the archive domain. */
export const archiveRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/api/v1/analytics/{dataset}/queries",
    action: "archive.queries",
    access: "analytics:read",
    summary: "Named analytics queries of a dataset, with their parameters",
    tags: ["analytics"],
    params: { type: "object", required: ["dataset"], properties: { dataset: DATASET } },
    responses: { 200: { description: "The queries", schema: { type: "object", properties: { items: ROWS } } } },
  },
  {
    method: "POST",
    path: "/api/v1/analytics/{dataset}/queries/{name}",
    action: "archive.query",
    access: "analytics:read",
    summary: "Run a named analytics query over your archived data (all clients' with scope analytics:all)",
    description:
      "Body: `{ params?: {...}, allClients?: boolean }`. Without scope analytics:all a query sees only the caller's own rows; `allClients: true` needs analytics:all (else 403). Queries longer than ARCHIVE_QUERY_TIMEOUT_MS are stopped with 422 QUERY_TIMEOUT.",
    tags: ["analytics"],
    params: {
      type: "object",
      required: ["dataset", "name"],
      properties: { dataset: DATASET, name: { type: "string", pattern: "^[a-z][a-z0-9-]{0,40}$" } },
    },
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        properties: { params: { type: "object" }, allClients: { type: "boolean" } },
      },
    },
    responses: {
      200: {
        description: "The result rows",
        schema: {
          type: "object",
          properties: { query: { type: "string" }, scope: { type: "string" }, rows: ROWS, ms: { type: "number" } },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/analytics/sql",
    action: "archive.sql",
    access: "admin",
    summary: "Operators: read-only SQL over a dataset's archive (relation `dataset`), with a time and row limit",
    description:
      "One SELECT statement only (anything that writes, or several statements, is a 403/400); no file or network access beyond the archive; stopped after ARCHIVE_SQL_TIMEOUT_MS (422 QUERY_TIMEOUT); at most ARCHIVE_SQL_MAX_ROWS rows (`truncated` says when there were more).",
    tags: ["analytics"],
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        required: ["dataset", "sql"],
        additionalProperties: false,
        properties: { dataset: DATASET, sql: { type: "string", minLength: 1, maxLength: 20_000 } },
      },
    },
    responses: {
      200: {
        description: "Rows",
        schema: { type: "object", properties: { rows: ROWS, truncated: { type: "boolean" }, ms: { type: "number" } } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/archive/{dataset}/exports",
    action: "archive.exportStart",
    access: "authenticated",
    summary: "Export your rows of a dataset in a time range (hot and archived) as a file; needs scope <dataset>:read",
    description:
      "Answers 202 with the export's id and status URL; the export runs in the background. Once done, its status carries a signed download URL that expires after ARCHIVE_EXPORT_URL_TTL_S.",
    tags: ["archive"],
    params: { type: "object", required: ["dataset"], properties: { dataset: DATASET } },
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        properties: {
          from: { type: "string", format: "date-time" },
          to: { type: "string", format: "date-time" },
          format: { type: "string", enum: [...EXPORT_FORMATS], default: "jsonl" },
        },
      },
    },
    responses: {
      202: {
        description: "Export started",
        schema: {
          type: "object",
          required: ["id", "statusUrl"],
          properties: { id: { type: "string" }, statusUrl: { type: "string" } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/archive/exports/{id}",
    action: "archive.exportStatus",
    access: "authenticated",
    summary: "An export's state; once done, a signed download URL and when it expires",
    tags: ["archive"],
    params: { type: "object", required: ["id"], properties: { id: { type: "string", format: "uuid" } } },
    responses: {
      200: {
        description: "The export",
        schema: {
          type: "object",
          properties: {
            id: { type: "string" },
            state: { type: "string", enum: ["running", "done", "failed"] },
            rows: { type: ["integer", "null"] },
            bytes: { type: ["integer", "null"] },
            downloadUrl: { type: ["string", "null"] },
            expiresAt: { type: ["string", "null"] },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/archive/downloads/{id}",
    errors: { 403: "The signature is wrong, or the URL has expired" },
    action: "archive.download",
    access: "public",
    summary: "Download an export through its signed URL (until it expires)",
    description: "The URL's `expires` and `signature` must match; an expired link is a 403.",
    tags: ["archive"],
    params: { type: "object", required: ["id"], properties: { id: { type: "string", format: "uuid" } } },
    query: {
      type: "object",
      required: ["expires", "signature"],
      additionalProperties: false,
      properties: { expires: { type: "integer", minimum: 0 }, signature: { type: "string", maxLength: 100 } },
    },
    responses: {
      200: { description: "The export file (JSON lines or CSV)", contentTypes: ["application/x-ndjson", "text/csv"] },
    },
  },
];
