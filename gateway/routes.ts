/**
 * The gateway's route table: the one source of truth for the HTTP surface. moleculer-web aliases,
 * access control, body handling, request validation and the OpenAPI document are all derived
 * from these declarations. Every domain lists its routes in `Domain.routes`; the gateway of
 * every node serves all of them, wherever the actions run.
 */

/** HTTP methods a route can declare. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export const HTTP_METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** Body media types the gateway understands. */
export type MediaType = "application/json" | "application/xml" | "application/x-www-form-urlencoded";

/**
 * A scope: `admin`, or `{domain}:read` / `{domain}:write` (e.g. `orders:read`), or
 * `{domain}:all` (across clients, e.g. `analytics:all`). Write does not imply read: a read+write
 * contract lists both. Scopes are checked by their shape
 * ({@link SCOPE_PATTERN}), not against a list of domains, so a new domain needs no change here.
 */
export type Scope = "admin" | `${string}:read` | `${string}:write` | `${string}:all`;

/** Scope syntax, checked when clients are created. */
export const SCOPE_PATTERN = /^(admin|[a-z][a-z0-9]{0,31}:(read|write|all))$/;

/**
 * Who may call a route: anyone (`public`), any active client (`authenticated`), or a client
 * holding the given scope.
 */
export type RouteAccess = "public" | "authenticated" | Scope;

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1). */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** What a route accepts as request body. */
export interface RouteBody {
  /** Accepted media types; anything else is refused with 415. */
  readonly contentTypes: readonly MediaType[];
  /** Schema of a JSON (or form) body; 422 VALIDATION_ERROR when it does not match. XML is passed raw. */
  readonly schema?: JsonSchema;
  /**
   * False when the action validates the body against `schema` itself (the schema then only
   * documents it), e.g. to report a batch's every problem in one answer, those a schema can say
   * and those it cannot. Default true: the gateway answers 422 before the action runs.
   */
  readonly validate?: boolean;
  /** Whether a body must be present (default true). */
  readonly required?: boolean;
  /**
   * Pass the exact text received as `raw` to the action (always done for XML). Needed when the
   * action stores "the exact bytes submitted".
   */
  readonly raw?: boolean;
  /** A lower body limit than the gateway's (bytes). */
  readonly limitBytes?: number;
  /** Description in the OpenAPI document. */
  readonly description?: string;
}

/** One documented response of a route. */
export interface RouteResponse {
  readonly description: string;
  /** Default `application/json`. */
  readonly contentType?: string;
  /** Several media types with the same schema (e.g. an original document as it was sent); overrides `contentType`. */
  readonly contentTypes?: readonly string[];
  /** An example body, shown in the OpenAPI document and the docs page. */
  readonly example?: unknown;
  readonly schema?: JsonSchema;
  readonly headers?: Readonly<Record<string, { readonly description: string; readonly schema: JsonSchema }>>;
}

/** A request header a route reads, as documented. */
export interface HeaderParam {
  /** As callers write it, e.g. `Idempotency-Key`. */
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

/** One HTTP route. */
export interface RouteSpec {
  readonly method: HttpMethod;
  /** OpenAPI-style path: `/api/v1/orders/{id}`. Literal segments use [A-Za-z0-9._~-]. */
  readonly path: string;
  /** The Moleculer action that answers, e.g. `orders.get`. */
  readonly action: string;
  readonly access: RouteAccess;
  readonly summary: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** Default: derived from the action name. */
  readonly operationId?: string;
  /** Object schema of the path parameters (one property per `{name}`); strings are coerced. */
  readonly params?: JsonSchema;
  /** Object schema of the query string; values are coerced (e.g. "10" to 10). */
  readonly query?: JsonSchema;
  readonly body?: RouteBody;
  /** Documented responses by status; the gateway adds its standard error responses. */
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /**
   * Error statuses this route's action answers besides the gateway's standard ones (which
   * follow from access, path parameters and body: see gateway/openapi.ts), with what they mean
   * here, e.g. `{ 409: "The Idempotency-Key was used with another body" }`. Body: the error shape.
   */
  readonly errors?: Readonly<Record<number, string>>;
  /** Request headers documented as header parameters (those in `headers` that callers send). */
  readonly headerParams?: readonly HeaderParam[];
  /** An example request body (JSON), for the docs page's curl line and the OpenAPI document. */
  readonly requestExample?: unknown;
  /**
   * Request headers (lower-case names) handed to the action as `headers`, e.g. `authorization`
   * for the OAuth token endpoint. Nothing else from the request's headers reaches actions.
   */
  readonly headers?: readonly string[];
  /** Answered by the node that received the request (health, metrics), never forwarded. */
  readonly nodeLocal?: boolean;
  /** Count against the client's rate limit (default: true for non-public routes). */
  readonly rateLimited?: boolean;
  /**
   * Related resources a caller may ask for with `?include=name,...` (gateway/includes.ts): each
   * is fetched through the gateway's own pipeline with the caller's authorization and returned
   * under `included.<name>` next to the resource.
   */
  readonly includes?: Readonly<Record<string, IncludeSpec>>;
}

/** A relation of a route's resource to other resources (see `RouteSpec.includes`). */
export interface IncludeSpec {
  /** The related resource's route, `GET /api/v1/...` with one path parameter, e.g. `GET /api/v1/orders/{id}`. */
  readonly route: string;
  /**
   * Where the related ids are in this route's answer: a JSON pointer whose `*` segments stand
   * for every element of an array, e.g. `/items/*\/productId` or `/orderId`. Null, missing and
   * non-string ids are skipped; duplicates are fetched once.
   */
  readonly from: string;
  /** One line for the OpenAPI document. */
  readonly description: string;
  /** At most this many related resources (default 20). */
  readonly max?: number;
}

/** The exact body text received, as handed to an action. */
export interface RawBody {
  /** The body as UTF-8 text (the gateway refuses bytes that are not valid UTF-8). */
  readonly text: string;
  readonly contentType: MediaType;
  /** Length in bytes. */
  readonly bytes: number;
}

/** The client a request authenticated as (from the verified caller assertion: `clientOf(ctx)`). */
export interface AuthenticatedClient {
  readonly id: string;
  readonly scopes: readonly string[];
}

/** What the gateway puts in `ctx.meta`. */
export interface GatewayMeta {
  /** The signed caller assertion (gateway/caller.ts); read it only through gateway/access.ts. */
  caller?: string;
  /** moleculer-web response controls an action may set. */
  $statusCode?: number;
  $responseType?: string;
  $responseHeaders?: Record<string, string>;
  $location?: string;
}

/**
 * The params of an action called through the gateway: path parameters, query, parsed body
 * (JSON and form bodies), the raw body (XML, or when the route asks for it) and any
 * forwarded headers.
 */
export interface HttpCallParams<P = Record<string, string>, Q = Record<string, unknown>, B = unknown> {
  readonly params: P;
  readonly query: Q;
  readonly body?: B;
  readonly raw?: RawBody;
  readonly headers?: Readonly<Record<string, string>>;
}

const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]+$/;
const PARAM_SEGMENT = /^\{([A-Za-z][A-Za-z0-9]*)\}$/;

/** The `{name}` parameters of an OpenAPI-style path, in order. */
export function pathParamNames(path: string): string[] {
  const names: string[] = [];
  for (const seg of path.split("/").slice(1)) {
    const m = PARAM_SEGMENT.exec(seg);
    if (m) names.push(m[1]!);
  }
  return names;
}

/** `/a/{id}` to the moleculer-web (path-to-regexp) form `/a/:id`. */
export function toColonPath(path: string): string {
  return path.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, ":$1");
}

/** `/a/:id` (moleculer-web) back to the OpenAPI form `/a/{id}`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z][A-Za-z0-9]*)/g, "{$1}");
}

/** `GET /a/{id}`: the identity of a route. */
export function routeKey(r: { readonly method: string; readonly path: string }): string {
  return `${r.method.toUpperCase()} ${r.path}`;
}

/** True when `access` names a scope (not `public` / `authenticated`). */
export function isScope(access: RouteAccess): access is Scope {
  return access !== "public" && access !== "authenticated";
}

/**
 * Checks a route table: path syntax, unique method+path, declared path params, known access.
 * Returns one line per problem (empty when the table is sound).
 */
export function checkRouteTable(routes: readonly RouteSpec[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const key = routeKey(r);
    if (seen.has(key)) problems.push(`${key}: declared twice`);
    seen.add(key);
    if (!HTTP_METHODS.includes(r.method)) problems.push(`${key}: unknown method`);
    if (r.path === "/") {
      // the root itself (a redirect to the docs): no segments to check
    } else if (!r.path.startsWith("/") || r.path.length < 2 || r.path.endsWith("/")) {
      problems.push(`${key}: a path starts with "/" and does not end with one (except "/" itself)`);
    } else {
      for (const seg of r.path.split("/").slice(1)) {
        if (!LITERAL_SEGMENT.test(seg) && !PARAM_SEGMENT.test(seg))
          problems.push(`${key}: bad segment ${JSON.stringify(seg)}`);
      }
    }
    if (!/^[A-Za-z$][A-Za-z0-9_$-]*(\.[A-Za-z$][A-Za-z0-9_$-]*)+$/.test(r.action))
      problems.push(`${key}: bad action name ${JSON.stringify(r.action)}`);
    if (isScope(r.access) && !SCOPE_PATTERN.test(r.access))
      problems.push(`${key}: bad scope ${JSON.stringify(r.access)}`);
    const names = pathParamNames(r.path);
    if (names.length > 0) {
      const props = (r.params?.["properties"] ?? {}) as Record<string, unknown>;
      for (const n of names) if (!(n in props)) problems.push(`${key}: path parameter ${n} has no schema in params`);
    }
    for (const h of r.headerParams ?? [])
      if (!(r.headers ?? []).includes(h.name.toLowerCase()))
        problems.push(`${key}: header parameter ${h.name} is documented but not in headers (the action never sees it)`);
    if (r.body && r.body.contentTypes.length === 0) problems.push(`${key}: body without content types`);
    if (r.body && (r.method === "GET" || r.method === "DELETE")) problems.push(`${key}: ${r.method} with a body`);
  }
  return problems;
}
