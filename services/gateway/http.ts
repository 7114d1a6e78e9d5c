/**
 * The gateway's own HTTP front, beneath moleculer-web: the node's HTTP server (request id,
 * route table match, caller IP, per-IP connection cap, refusals of Node's HTTP parser), the one
 * writer of the uniform error, and the parameter checks of a matched route (path, query, body).
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { randomUUID } from "node:crypto";
import { AppError } from "../../lib/errors";
import type { Logger } from "../../lib/logger";
import type { HttpCallParams, RouteSpec } from "../../gateway/routes";
import type { Router } from "../../gateway/router";
import type { GatewayMetrics } from "../../gateway/metrics";
import { errorBody, toHttpError, REASONS } from "../../gateway/errors";
import { requestIdFrom } from "../../gateway/request-id";
import { decodeBody, hasBody, negotiateMediaType, parseQuery, readBody } from "../../gateway/body";
import { assertValid, type RouteValidators } from "../../gateway/validate";
import { clientIp, type ProxyList } from "../../gateway/client-ip";
import { capConnectionsPerIp } from "../../gateway/connection-cap";
import type { Principal } from "./clients";

/** Per-request state kept beside moleculer-web's own. */
export interface RequestState {
  readonly requestId: string;
  readonly spec: RouteSpec;
  readonly pathParams: Record<string, string>;
  /** The caller's address (see gateway/client-ip.ts); "" once the socket is gone. */
  readonly ip: string;
  log: Logger;
  principal?: Principal;
  /** When the request arrived. */
  readonly at: Date;
  /** The version of the instance the call went to (canaries, interactions), once chosen. */
  version?: string;
  /** Relations asked for with `?include=`. */
  include?: string[];
}

/** One answered request, as the server saw it (interactions, canary windows, cache metrics). */
export interface Answered {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The route template, or `unmatched`. */
  readonly route: string;
  readonly status: number;
  readonly seconds: number;
  readonly requestId: string;
  readonly at: Date;
  /** The request's state (matched requests only). */
  readonly state?: RequestState;
}

/** Writes a uniform error straight to a socket (for requests Node's HTTP parser refused). */
export function rawError(socket: Socket, status: number, code: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const body = JSON.stringify({ error: { code, message, requestId } });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Writes the uniform error for `err` to `res`, logging 5xx (a response already started is cut). */
export type ErrorWriter = (req: IncomingMessage, res: ServerResponse, err: unknown) => void;

/**
 * The one error writer of the gateway; `stateOf` gives a request's state (its id and logger).
 * A deliberate 5xx refusal (admission control's 503 under overload) is logged at most once a
 * second per code, with the number of refusals not logged since: a node that sheds hundreds of
 * requests a second must not spend its CPU writing a line for each (the metrics count them all).
 */
export function createErrorWriter(
  logger: Logger,
  stateOf: (req: IncomingMessage) => RequestState | undefined,
  refusalLogIntervalMs = 1000,
  now: () => number = Date.now,
): ErrorWriter {
  const lastRefusalLog = new Map<string, { at: number; suppressed: number }>();
  const shouldLogRefusal = (code: string): number | undefined => {
    const at = now();
    const last = lastRefusalLog.get(code);
    if (last && at - last.at < refusalLogIntervalMs) {
      last.suppressed++;
      return undefined;
    }
    lastRefusalLog.set(code, { at, suppressed: 0 });
    return last?.suppressed ?? 0;
  };
  return (req, res, err) => {
    const st = stateOf(req);
    const requestId = st?.requestId ?? String(res.getHeader("X-Request-Id") ?? randomUUID());
    const e = toHttpError(err);
    const log = st?.log ?? logger.child({ requestId });
    if (e.status >= 500) {
      // a deliberate refusal (an AppError such as admission control's 503) is expected: no stack
      if (e.cause instanceof AppError) {
        const suppressed = shouldLogRefusal(e.code);
        if (suppressed !== undefined)
          log.warn(
            { code: e.code, reason: e.cause.message, ...(suppressed > 0 ? { refusedSinceLastLine: suppressed } : {}) },
            "request refused",
          );
      } else
        log.error(
          {
            err:
              e.cause instanceof Error
                ? { name: e.cause.name, message: e.cause.message, stack: e.cause.stack }
                : e.cause,
            code: e.code,
          },
          "request failed",
        );
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    res.statusCode = e.status;
    for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
    // The rest of an oversized or stalled body is not worth reading: close after answering.
    if (e.status === 413 || e.status === 408) res.setHeader("Connection", "close");
    const body = JSON.stringify(errorBody(e, requestId));
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(body);
  };
}

/** Body limits of the gateway (a route may ask for a lower byte limit). */
export interface BodyLimits {
  readonly bodyLimitBytes: number;
  readonly bodyTimeoutMs: number;
}

/**
 * Path, query and body checks of a matched request: the action's params (see HttpCallParams).
 * 400 / 415 / 413 / 408 / 422 as AppErrors.
 */
export async function prepareParams(
  req: IncomingMessage,
  st: RequestState,
  v: RouteValidators,
  limits: BodyLimits,
): Promise<HttpCallParams> {
  const spec = st.spec;
  const params: Record<string, string> = { ...st.pathParams };
  assertValid(v.params, params, "params", "INVALID_PARAMETER");
  const query: Record<string, unknown> = spec.query ? parseQuery(req.url ?? "") : {};
  assertValid(v.query, query, "query", "INVALID_PARAMETER");
  let body: unknown;
  let raw: HttpCallParams["raw"];
  if (spec.body) {
    if (hasBody(req)) {
      const media = negotiateMediaType(req.headers["content-type"], spec.body.contentTypes);
      const buf = await readBody(
        req,
        Math.min(spec.body.limitBytes ?? limits.bodyLimitBytes, limits.bodyLimitBytes),
        limits.bodyTimeoutMs,
      );
      if (buf.length > 0) {
        const decoded = decodeBody(buf, media, spec.body.raw === true);
        body = decoded.body;
        raw = decoded.raw;
        if (media !== "application/xml") assertValid(v.body, body, "body", "VALIDATION_ERROR");
      }
    }
    if (body === undefined && raw === undefined && spec.body.required !== false) {
      throw new AppError("BAD_REQUEST", `a request body is required (${spec.body.contentTypes.join(", ")})`);
    }
  }
  let headers: Record<string, string> | undefined;
  if (spec.headers) {
    headers = {};
    for (const h of spec.headers) {
      const val = req.headers[h];
      if (typeof val === "string") headers[h] = val;
    }
  }
  return {
    params,
    query,
    ...(body !== undefined ? { body } : {}),
    ...(raw ? { raw } : {}),
    ...(headers ? { headers } : {}),
  };
}

/** What the node's HTTP server needs. */
export interface HttpServerDeps {
  readonly router: Router;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly proxies: ProxyList;
  readonly bodyTimeoutMs: number;
  /** Open connections per remote address (0: no cap); trusted proxies are exempt. */
  readonly maxConnectionsPerIp: number;
  /** Where a matched request's state is kept (moleculer-web's hooks read it back). */
  readonly states: WeakMap<IncomingMessage, RequestState>;
  readonly sendError: ErrorWriter;
  /** moleculer-web's handler, called for every request that matched a route. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Called once per answered (or abandoned: 499) request, after the metrics. */
  readonly answered?: (a: Answered) => void;
  /**
   * The admission check of a matched route's action (lib/admission.ts): a refusal is answered at
   * once, before moleculer-web authenticates the caller or reads the body.
   */
  readonly admission?: (action: string) => AppError | undefined;
}

/**
 * The node's HTTP server (not listening yet): stamps the request id and safe headers, matches
 * the route table (404 / 405 / 400 answered here), records metrics per route template, and
 * hands matched requests to moleculer-web with their state.
 */
export function createHttpServer(deps: HttpServerDeps): http.Server {
  const { router, logger, metrics, proxies, states, sendError, handler } = deps;
  const server = http.createServer(
    { requestTimeout: Math.max(deps.bodyTimeoutMs * 2, 30_000), headersTimeout: 20_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      const requestId = requestIdFrom(req.headers["x-request-id"]);
      // moleculer-web takes ctx.requestID from these headers: make it ours.
      req.headers["x-request-id"] = requestId;
      delete req.headers["x-correlation-id"];
      res.setHeader("X-Request-Id", requestId);
      res.setHeader("X-Content-Type-Options", "nosniff");
      res.setHeader("Cache-Control", "no-store");
      const start = process.hrtime.bigint();
      const at = new Date();
      const m = router.match(req.method, req.url);
      const routeLabel = m.kind === "found" ? m.spec.path : "unmatched";
      const log = logger.child({ requestId });
      res.once("close", () => {
        const status = res.writableFinished ? res.statusCode : 499;
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        metrics.observe(routeLabel, req.method ?? "", status, seconds);
        const state = states.get(req);
        deps.answered?.({ req, res, route: routeLabel, status, seconds, requestId, at, ...(state ? { state } : {}) });
        (state?.log ?? log).debug(
          { method: req.method, route: routeLabel, status, ms: Math.round(seconds * 1e6) / 1e3 },
          "request",
        );
      });
      if (m.kind !== "found") {
        if (m.kind === "method") {
          res.setHeader("Allow", m.allow.join(", "));
          return sendError(
            req,
            res,
            new AppError(
              "METHOD_NOT_ALLOWED",
              `method ${String(req.method).slice(0, 16)} not allowed; allowed: ${m.allow.join(", ")}`,
            ),
          );
        }
        if (m.kind === "bad") return sendError(req, res, new AppError("BAD_REQUEST", m.reason));
        return sendError(req, res, new AppError("NOT_FOUND", "no such route"));
      }
      const ip = clientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], proxies) ?? "";
      states.set(req, { requestId, spec: m.spec, pathParams: m.params, ip, log, at });
      const refused = deps.admission?.(m.spec.action);
      if (refused) {
        metrics.throttled("overloaded");
        return sendError(req, res, refused);
      }
      handler(req, res).catch((err: unknown) => sendError(req, res, err));
    },
  );
  capConnectionsPerIp(server, {
    max: deps.maxConnectionsPerIp,
    exempt: (ip) => proxies.has(ip),
    onRefuse: () => metrics.connectionRefused(),
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    if (err.code === "HPE_HEADER_OVERFLOW")
      return rawError(socket, 431, "HEADERS_TOO_LARGE", "request headers too large");
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return rawError(socket, 408, "REQUEST_TIMEOUT", "request timed out");
    rawError(socket, 400, "BAD_REQUEST", "malformed HTTP request");
  });
  server.on("connect", (_req: IncomingMessage, socket: Socket) =>
    rawError(socket, 405, "METHOD_NOT_ALLOWED", "CONNECT is not supported"),
  );
  return server;
}

/** Stops `server` listening: idle connections close at once, the rest after a second. */
export async function closeServer(server: http.Server | undefined): Promise<void> {
  if (!server?.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

/** Starts `server` listening on `port` of `host`. */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
