/**
 * Runs one request through the gateway's pipeline without HTTP: the route table match, the
 * caller's rate limit and scope (the same `admit` the HTTP path uses), path, query and body
 * checks against the same validators, a caller assertion signed for this request alone, the
 * instance choice (canaries), the action, and the answer shaped as HTTP would shape it
 * (status, Location, headers the action set, the uniform error). Batch items and `?include=`
 * reads run here, so neither can reach what the caller could not reach with a request of its own.
 */
import type { ActionEndpoint, ServiceBroker } from "moleculer";
import { AppError } from "../../lib/errors";
import { errorBody, toHttpError } from "../../gateway/errors";
import { parseQuery } from "../../gateway/body";
import { jsonDepth, MAX_JSON_DEPTH } from "../../gateway/body";
import { assertValid, type RouteValidators } from "../../gateway/validate";
import { isScope, type HttpCallParams, type RouteSpec } from "../../gateway/routes";
import type { Router } from "../../gateway/router";
import type { CallerTokens } from "../../gateway/caller";
import { INCLUDE_PARAM, parseInclude } from "../../gateway/includes";
import { includeRelated, type IncludeCounter } from "./prefetch";
import type { Dispatch, SubResponse } from "./sub-request";

export type { Dispatch, SubRequest, SubResponse } from "./sub-request";
import { serviceOfAction } from "../../gateway/interactions";
import type { GatewayMetrics } from "../../gateway/metrics";
import type { Principal, RateLimiter } from "./clients";
import type { Canaries } from "./canaries";
import { versionOf } from "./canaries";

/** Actions that never run inside a batch (the batch itself; the token grant, which takes credentials in its body). */
const NOT_BATCHABLE = new Set(["gateway.batch", "clients.token"]);

/**
 * Rate limit then scope of `principal` for `spec`, as the HTTP `authorize` hook does: 429 with
 * Retry-After, 503 when rate limiting is unavailable, 403 without the scope. Returns the
 * rate-limit headers to answer with.
 */
export async function admit(
  spec: RouteSpec,
  principal: Principal | undefined,
  limiter: RateLimiter,
  metrics: GatewayMetrics,
): Promise<Record<string, string>> {
  if (spec.access === "public") return {};
  if (!principal) throw new AppError("UNAUTHORIZED", "authentication required");
  const headers: Record<string, string> = {};
  if (spec.rateLimited !== false) {
    const d = await limiter.take(principal.client.id, principal.rateLimit);
    if (d.unavailable) {
      metrics.throttled("redis_down");
      throw new AppError("UNAVAILABLE", "rate limiting is unavailable: retry later", undefined, {
        "Retry-After": String(Math.ceil(d.retryAfterMs / 1000)),
      });
    }
    headers["X-RateLimit-Limit"] = String(d.limit.burst);
    headers["X-RateLimit-Remaining"] = String(Math.max(0, d.remaining));
    if (!d.allowed)
      throw new AppError(
        "RATE_LIMITED",
        `rate limit exceeded (${d.limit.perSec}/s, burst ${d.limit.burst})`,
        undefined,
        {
          "Retry-After": String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))),
        },
      );
  }
  if (isScope(spec.access) && !principal.client.scopes.includes(spec.access))
    throw new AppError("FORBIDDEN", `scope ${spec.access} required`);
  return headers;
}

/** Response headers an action may set that a batch item keeps. */
const KEPT_HEADERS = new Set([
  "location",
  "retry-after",
  "etag",
  "x-cache",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
]);

/** What the dispatcher needs. */
export interface DispatchDeps {
  readonly broker: ServiceBroker;
  readonly router: Router;
  readonly validators: ReadonlyMap<RouteSpec, RouteValidators>;
  readonly limiter: RateLimiter;
  readonly callers: CallerTokens;
  readonly metrics: GatewayMetrics;
  readonly canaries?: Canaries;
  /** Moleculer call timeout of one sub-request, milliseconds. */
  readonly timeoutMs?: number;
  /** Counts related reads of `?include=`. */
  readonly includeCount: IncludeCounter;
  /** Sees every related read of `?include=` (interactions, canary windows). */
  readonly relatedAnswered?: (r: SubResponse, requestId: string, ms: number) => void;
}

/** The dispatcher over the gateway's route table. */
export function createDispatcher(deps: DispatchDeps): Dispatch {
  const { broker, router, validators, limiter, callers, metrics } = deps;
  const dispatch: Dispatch = async (principal, req) => {
    let route = "unmatched";
    let spec: RouteSpec | undefined;
    let service = "gateway";
    let version = "";
    let headers: Record<string, string> = {};
    try {
      const m = router.match(req.method, req.path);
      if (m.kind === "method")
        throw new AppError("METHOD_NOT_ALLOWED", `method ${req.method} not allowed; allowed: ${m.allow.join(", ")}`);
      if (m.kind === "bad") throw new AppError("BAD_REQUEST", m.reason);
      if (m.kind === "none") throw new AppError("NOT_FOUND", "no such route");
      spec = m.spec;
      route = spec.path;
      service = serviceOfAction(spec.action);
      if (spec.nodeLocal || NOT_BATCHABLE.has(spec.action))
        throw new AppError("BAD_REQUEST", `${req.method} ${spec.path} cannot be called inside a batch`);
      headers = await admit(spec, principal, limiter, metrics);
      const v = validators.get(spec) ?? {};
      const params: Record<string, string> = { ...m.params };
      assertValid(v.params, params, "params", "INVALID_PARAMETER");
      const query: Record<string, unknown> = spec.query ? parseQuery(req.path) : {};
      assertValid(v.query, query, "query", "INVALID_PARAMETER");
      const include = parseInclude(query[INCLUDE_PARAM], spec);
      delete query[INCLUDE_PARAM];
      let body: unknown;
      let raw: HttpCallParams["raw"];
      if (spec.body) {
        if (req.body !== undefined) {
          if (!spec.body.contentTypes.includes("application/json"))
            throw new AppError(
              "UNSUPPORTED_MEDIA_TYPE",
              `batch items are JSON; this route accepts ${spec.body.contentTypes.join(", ")}`,
            );
          if (jsonDepth(req.body) > MAX_JSON_DEPTH)
            throw new AppError("INVALID_JSON", `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
          // validation mutates nothing of the caller's item: work on a copy
          body = structuredClone(req.body);
          assertValid(v.body, body, "body", "VALIDATION_ERROR");
          if (spec.body.raw) {
            const text = JSON.stringify(req.body);
            raw = { text, contentType: "application/json", bytes: Buffer.byteLength(text) };
          }
        } else if (spec.body.required !== false) {
          throw new AppError("BAD_REQUEST", `a request body is required (${spec.body.contentTypes.join(", ")})`);
        }
      } else if (req.body !== undefined) {
        throw new AppError("BAD_REQUEST", `${req.method} ${spec.path} takes no body`);
      }
      let fwd: Record<string, string> | undefined;
      if (spec.headers) {
        fwd = {};
        const given = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, x]) => [k.toLowerCase(), x]));
        // the caller's credentials are the batch's own: never one an item names
        for (const h of spec.headers) if (h !== "authorization" && given[h] !== undefined) fwd[h] = given[h];
      }
      const params$: HttpCallParams = {
        params,
        query,
        ...(body !== undefined ? { body } : {}),
        ...(raw ? { raw } : {}),
        ...(fwd ? { headers: fwd } : {}),
      };
      const caller = principal
        ? await callers.sign({
            kind: "client",
            subject: principal.client.id,
            scopes: principal.client.scopes,
            requestId: req.requestId,
          })
        : await callers.sign({ kind: "public", subject: "anonymous", requestId: req.requestId });
      const choice = deps.canaries?.choose(spec.action);
      const endpoint = choice?.endpoint ?? broker.findNextActionEndpoint(spec.action);
      if (endpoint instanceof Error) throw endpoint;
      version = choice?.version ?? versionOf(endpoint);
      // a root context of this request (as moleculer-web makes one per HTTP request): the action's meta comes back into it
      const ctx = broker.ContextFactory.create(
        broker,
        endpoint as ActionEndpoint,
        {},
        {
          meta: { caller },
          requestID: req.requestId,
        },
      );
      const data: unknown = await ctx.call(endpoint as unknown as string, params$, {
        ...(deps.timeoutMs ? { timeout: deps.timeoutMs } : {}),
      });
      const meta = ctx.meta as Record<string, unknown>;
      const status = typeof meta["$statusCode"] === "number" ? meta["$statusCode"] : 200;
      const set = (meta["$responseHeaders"] ?? {}) as Record<string, unknown>;
      for (const [k, x] of Object.entries(set))
        if (KEPT_HEADERS.has(k.toLowerCase()) && (typeof x === "string" || typeof x === "number"))
          headers[k] = String(x);
      if (typeof meta["$location"] === "string") headers["Location"] = meta["$location"];
      let out: unknown = data ?? null;
      if (include.length > 0 && status < 300 && typeof out === "object" && out !== null && !Array.isArray(out)) {
        const included = await includeRelated(
          dispatch,
          principal,
          spec,
          include,
          out,
          req.requestId,
          deps.includeCount,
          deps.relatedAnswered,
        );
        out = { ...out, included };
      }
      return { status, headers, body: out, route, spec, service, version };
    } catch (err) {
      const e = toHttpError(err);
      for (const [k, x] of Object.entries(e.headers ?? {})) headers[k] = x;
      return {
        status: e.status,
        headers,
        body: errorBody(e, req.requestId),
        route,
        ...(spec ? { spec } : {}),
        service,
        version,
      };
    }
  };
  return dispatch;
}
