/**
 * The gateway domain's own routes: health, metrics, the OpenAPI document and docs page, the
 * JWKS, the OAuth2 token endpoint, the caller's profile and client administration.
 */
import { CLIENT_ID_SCHEMA, CLIENT_SCHEMA, NEW_CLIENT_SCHEMA } from "./clients/types";
import type { RouteSpec } from "../../gateway/routes";
import { cursorQuery } from "../../gateway/pagination";

const ID_PARAMS = { type: "object", required: ["id"], properties: { id: CLIENT_ID_SCHEMA } } as const;
const CREATED_CLIENT_SCHEMA = {
  ...CLIENT_SCHEMA,
  required: [...CLIENT_SCHEMA.required, "apiKey", "webhookSecret"],
  properties: {
    ...CLIENT_SCHEMA.properties,
    apiKey: { type: "string", description: "Shown once; only its hash is stored." },
    webhookSecret: { type: "string", description: "Standard Webhooks secret (whsec_...), shown once." },
  },
} as const;

/** Routes served by the gateway domain itself. */
export const gatewayRoutes: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/",
    action: "gateway.home",
    access: "public",
    nodeLocal: true,
    summary: "Redirect to the API documentation (/api/docs)",
    tags: ["documentation"],
    responses: {
      302: {
        description: "Found: the documentation is at the Location",
        contentType: "text/html",
        schema: { type: "string" },
        headers: { Location: { description: "/api/docs", schema: { type: "string", const: "/api/docs" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/health/live",
    action: "gateway.live",
    access: "public",
    nodeLocal: true,
    summary: "Liveness: 200 while the process runs",
    tags: ["operations"],
    responses: {
      200: { description: "The process is alive", schema: { type: "object", properties: { status: { const: "ok" } } } },
    },
  },
  {
    method: "GET",
    path: "/health/ready",
    action: "gateway.ready",
    access: "public",
    nodeLocal: true,
    summary: "Readiness: 200 when every check of this node passes, else 503 with the report",
    tags: ["operations"],
    responses: {
      200: {
        description: "Ready",
        schema: {
          type: "object",
          required: ["ready", "checks"],
          properties: { ready: { type: "boolean" }, checks: { type: "object" } },
        },
      },
      503: {
        description: "Not ready: the error shape plus the report",
        schema: { type: "object", required: ["error", "report"] },
      },
    },
  },
  {
    method: "GET",
    path: "/metrics",
    action: "gateway.metrics",
    access: "public",
    nodeLocal: true,
    summary: "Prometheus metrics of this node",
    tags: ["operations"],
    responses: {
      200: { description: "Prometheus text format", contentType: "text/plain", schema: { type: "string" } },
    },
  },
  {
    method: "GET",
    path: "/api/openapi.json",
    action: "gateway.openapi",
    access: "public",
    nodeLocal: true,
    summary: "This OpenAPI 3.1 document",
    tags: ["documentation"],
    responses: { 200: { description: "OpenAPI document", schema: { type: "object" } } },
  },
  {
    method: "GET",
    path: "/api/docs",
    action: "gateway.docs",
    access: "public",
    nodeLocal: true,
    summary: "API documentation page (self-contained HTML)",
    tags: ["documentation"],
    responses: { 200: { description: "HTML page", contentType: "text/html", schema: { type: "string" } } },
  },
  {
    method: "GET",
    path: "/.well-known/jwks.json",
    action: "gateway.jwks",
    access: "public",
    nodeLocal: true,
    summary: "Public keys that verify access tokens",
    tags: ["auth"],
    responses: {
      200: {
        description: "JSON Web Key Set",
        schema: { type: "object", required: ["keys"], properties: { keys: { type: "array" } } },
      },
    },
  },
  {
    method: "POST",
    path: "/oauth/token",
    action: "clients.token",
    access: "public",
    summary: "OAuth2 client credentials: exchange client id + API key for a short-lived access token",
    description:
      "grant_type=client_credentials; client_id and client_secret (the API key) in the body or as HTTP Basic. Optional scope (space-separated) narrows the token. Errors use the gateway's error shape.",
    tags: ["auth"],
    headers: ["authorization"],
    errors: {
      401: "Unknown client id, wrong secret, or a suspended client (error code UNAUTHORIZED)",
      429: "Too many token requests from this address; see Retry-After",
    },
    requestExample: { grant_type: "client_credentials", client_id: "cl_...", client_secret: "sy_live_..." },
    body: {
      contentTypes: ["application/x-www-form-urlencoded", "application/json"],
      limitBytes: 16 * 1024,
      schema: {
        type: "object",
        required: ["grant_type"],
        properties: {
          grant_type: { type: "string" },
          client_id: { type: "string", maxLength: 64 },
          client_secret: { type: "string", maxLength: 256 },
          scope: { type: "string", maxLength: 2048 },
        },
      },
    },
    responses: {
      200: {
        description: "Access token",
        schema: {
          type: "object",
          required: ["access_token", "token_type", "expires_in", "scope"],
          properties: {
            access_token: { type: "string" },
            token_type: { const: "Bearer" },
            expires_in: { type: "integer" },
            scope: { type: "string" },
          },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/me",
    action: "clients.me",
    access: "authenticated",
    summary: "The calling client",
    tags: ["clients"],
    responses: { 200: { description: "The client", schema: CLIENT_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/clients",
    action: "clients.list",
    access: "admin",
    summary: "List clients",
    tags: ["admin"],
    query: {
      type: "object",
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery(CLIENT_ID_SCHEMA),
        status: { type: "string", enum: ["active", "suspended"] },
      },
    },
    responses: {
      200: {
        description: "A page of clients",
        schema: {
          type: "object",
          required: ["items", "nextCursor", "next"],
          properties: {
            items: { type: "array", items: CLIENT_SCHEMA },
            nextCursor: {
              type: ["string", "null"],
              description: "Pass as `cursor` for the next page; null at the end",
            },
            next: {
              type: ["string", "null"],
              deprecated: true,
              description: "Deprecated: the old name of `nextCursor`",
            },
          },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/clients",
    action: "clients.create",
    access: "admin",
    summary: "Create a client (the API key and webhook secret are shown once)",
    tags: ["admin"],
    body: { contentTypes: ["application/json"], schema: NEW_CLIENT_SCHEMA, limitBytes: 64 * 1024 },
    responses: { 201: { description: "Created", schema: CREATED_CLIENT_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/clients/{id}",
    action: "clients.get",
    access: "admin",
    summary: "One client",
    tags: ["admin"],
    params: ID_PARAMS,
    responses: { 200: { description: "The client", schema: CLIENT_SCHEMA } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/clients/{id}/suspend",
    action: "clients.suspend",
    access: "admin",
    summary: "Suspend a client: its keys and tokens are refused on every node within seconds",
    tags: ["admin"],
    params: ID_PARAMS,
    responses: { 200: { description: "The client", schema: CLIENT_SCHEMA } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/clients/{id}/activate",
    action: "clients.activate",
    access: "admin",
    summary: "Re-activate a suspended client",
    tags: ["admin"],
    params: ID_PARAMS,
    responses: { 200: { description: "The client", schema: CLIENT_SCHEMA } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/clients/{id}/rotate",
    action: "clients.rotate",
    access: "admin",
    summary: "Issue a new API key; older keys keep working for the overlap period",
    tags: ["admin"],
    params: ID_PARAMS,
    body: {
      contentTypes: ["application/json"],
      required: false,
      limitBytes: 4096,
      schema: {
        type: "object",
        additionalProperties: false,
        properties: { overlapSeconds: { type: "integer", minimum: 0, maximum: 2592000 } },
      },
    },
    responses: {
      200: {
        description: "The new key",
        schema: {
          type: "object",
          required: ["id", "apiKey", "previousKeysExpireAt"],
          properties: {
            id: CLIENT_ID_SCHEMA,
            apiKey: { type: "string" },
            previousKeysExpireAt: { type: "string", format: "date-time" },
          },
        },
      },
    },
  },
];
