/**
 * The OpenAPI 3.1 document, generated from the route table (the same table the gateway's
 * aliases come from), plus the check that every route the gateway serves is documented.
 */
import { ErrorCodes } from "../lib/errors";
import { ERROR_BODY_SCHEMA } from "./errors";
import { isScope, pathParamNames, toOpenApiPath, type JsonSchema, type RouteSpec } from "./routes";

/** Title, version and description of the document. */
export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

/** A JSON object (the generated document is plain JSON). */
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

const ERROR_RESPONSES: Readonly<Record<number, string>> = {
  400: "Bad request: invalid JSON/XML, encoding or parameters",
  401: "Missing or invalid credentials",
  403: "The client lacks the scope, or is suspended",
  409: "Conflict with the resource's current state",
  404: "No such resource (or it belongs to another client)",
  408: "The request body arrived too slowly",
  413: "Request body too large",
  415: "Unsupported Content-Type",
  422: "The body does not match the schema",
  429: "Rate limit exceeded; see Retry-After",
  500: "Internal error",
  503: "Service unavailable or not ready",
  504: "The service did not answer in time",
};

function operationId(r: RouteSpec): string {
  if (r.operationId) return r.operationId;
  return r.action.replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase());
}

function errorStatuses(r: RouteSpec): number[] {
  const s = [400, 500];
  if (r.access !== "public") s.push(401, 429);
  // A suspended client is refused on every route that authenticates, whatever its scope.
  if (r.access !== "public") s.push(403);
  if (pathParamNames(r.path).length > 0) s.push(404);
  if (r.body) s.push(408, 413, 415);
  if (r.body?.schema) s.push(422);
  if (!r.nodeLocal) s.push(503, 504);
  return s.sort((a, b) => a - b);
}

function parameters(r: RouteSpec): unknown[] {
  const out: unknown[] = [];
  const pprops = (r.params?.["properties"] ?? {}) as Record<string, JsonSchema>;
  for (const name of pathParamNames(r.path)) {
    const schema = pprops[name] ?? { type: "string" };
    out.push({
      name,
      in: "path",
      required: true,
      schema,
      ...(typeof schema["description"] === "string" ? { description: schema["description"] } : {}),
    });
  }
  const qprops = (r.query?.["properties"] ?? {}) as Record<string, JsonSchema>;
  const qreq = new Set((r.query?.["required"] ?? []) as string[]);
  for (const [name, schema] of Object.entries(qprops)) {
    out.push({
      name,
      in: "query",
      required: qreq.has(name),
      ...(schema["deprecated"] === true ? { deprecated: true } : {}),
      schema,
      ...(typeof schema["description"] === "string" ? { description: schema["description"] } : {}),
    });
  }
  for (const h of r.headerParams ?? []) {
    out.push({
      name: h.name,
      in: "header",
      required: h.required === true,
      description: h.description,
      schema: h.schema,
    });
  }
  out.push({ $ref: "#/components/parameters/RequestId" });
  return out;
}

function requestBody(r: RouteSpec): unknown {
  const b = r.body!;
  const content: Record<string, unknown> = {};
  for (const ct of b.contentTypes) {
    if (ct === "application/xml")
      content[ct] = { schema: { type: "string", description: "An XML document (passed to the service as sent)" } };
    else
      content[ct] = {
        schema: b.schema ?? {},
        ...(r.requestExample !== undefined && ct === "application/json" ? { example: r.requestExample } : {}),
      };
  }
  return { required: b.required !== false, content, ...(b.description ? { description: b.description } : {}) };
}

/** Builds the OpenAPI 3.1 document for `routes`. */
export function buildOpenApi(routes: readonly RouteSpec[], info: OpenApiInfo): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  const scopes = new Set<string>();
  for (const r of routes) if (isScope(r.access)) scopes.add(r.access);
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      const media = resp.contentTypes ?? [resp.contentType ?? "application/json"];
      responses[status] = {
        description: resp.description,
        ...(resp.headers ? { headers: resp.headers } : {}),
        content: Object.fromEntries(
          media.map((m) => [
            m,
            { schema: resp.schema ?? {}, ...(resp.example !== undefined ? { example: resp.example } : {}) },
          ]),
        ),
      };
    }
    for (const [status, description] of Object.entries(r.errors ?? {})) {
      if (status in responses) continue;
      responses[status] = {
        description,
        headers: { "X-Request-Id": { $ref: "#/components/headers/RequestId" } },
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    for (const s of errorStatuses(r)) {
      if (!(String(s) in responses)) responses[String(s)] = { $ref: `#/components/responses/E${s}` };
    }
    const security = r.access === "public" ? [] : [{ apiKey: [] }, { oauth2: isScope(r.access) ? [r.access] : [] }];
    const op: Record<string, unknown> = {
      operationId: operationId(r),
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: r.tags && r.tags.length > 0 ? [...r.tags] : [r.action.split(".")[0]],
      parameters: parameters(r),
      ...(r.body ? { requestBody: requestBody(r) } : {}),
      responses,
      security,
      "x-moleculer-action": r.action,
      "x-access": r.access,
    };
    const p = (paths[r.path] ??= {});
    p[r.method.toLowerCase()] = op;
  }
  const responses: Record<string, unknown> = {};
  for (const [status, description] of Object.entries(ERROR_RESPONSES)) {
    responses[`E${status}`] = {
      description,
      headers: { "X-Request-Id": { $ref: "#/components/headers/RequestId" } },
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: info.title,
      version: info.version,
      ...(info.description ? { description: info.description } : {}),
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: ERROR_BODY_SCHEMA },
      responses,
      parameters: {
        RequestId: {
          name: "X-Request-Id",
          in: "header",
          required: false,
          description: "Echoed on the response; generated when absent or not 1-128 of [A-Za-z0-9._:-].",
          schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" },
        },
      },
      headers: {
        RequestId: { description: "The request id (also in the error body and the logs).", schema: { type: "string" } },
      },
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key (sy_live_...) as a bearer token." },
        oauth2: {
          type: "oauth2",
          description: "Client credentials: POST /oauth/token with client_id and client_secret (the API key).",
          flows: {
            clientCredentials: {
              tokenUrl: "/oauth/token",
              scopes: Object.fromEntries(
                [...scopes]
                  .sort()
                  .map((s) => [
                    s,
                    s === "admin" ? "Administer clients" : `${s.split(":")[1]} access to ${s.split(":")[0]}`,
                  ]),
              ),
            },
          },
        },
      },
    },
    "x-error-codes": ErrorCodes,
  };
}

/**
 * The served routes (method + path, either `{id}` or `:id` style) that the document does not
 * describe, as "GET /path" lines. Empty when everything served is documented.
 */
export function missingFromOpenApi(
  served: readonly { method: string; path: string }[],
  doc: OpenApiDocument,
): string[] {
  const missing: string[] = [];
  for (const s of served) {
    const path = toOpenApiPath(s.path);
    const methods = s.method === "*" ? ["get", "post", "put", "patch", "delete"] : [s.method.toLowerCase()];
    for (const m of methods) {
      if (!doc.paths[path]?.[m]) missing.push(`${m.toUpperCase()} ${path}`);
    }
  }
  return missing;
}
