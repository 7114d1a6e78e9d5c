/**
 * The HTTP gateway (moleculer-web) and the `clients` service.
 *
 * One request, in order:
 *   0. per-IP connection cap (sockets beyond it are destroyed as accepted)
 *   1. own HTTP server: request id (X-Request-Id), route table match -> 404 / 405 / 400, the
 *      caller's IP (X-Forwarded-For only from TRUSTED_PROXIES)
 *   2. moleculer-web: alias -> endpoint; `authenticate` -> 429 per-IP (failed authentications,
 *      token exchanges), 401 / 403 CLIENT_SUSPENDED; `authorize` -> 429
 *      (Redis token bucket; 503 while Redis is down if RATE_LIMIT_REDIS_DOWN=closed) and 403 (scope)
 *   3. alias middleware: Content-Type (415), body read (413 / 408), decode (400), schema (400 / 422),
 *      then the caller assertion in ctx.meta.caller (gateway/caller.ts: "client" with the
 *      client's id and scopes, or "public"), signed for this request id
 *   4. the action, wherever it runs; its result is sent by moleculer-web
 * Every failure goes through one writer: {"error":{"code","message","details"?,"requestId"}}.
 *
 * Routes come from every domain in services/index.ts DOMAINS (not only those hosted here), so
 * any node's gateway serves the whole API; aliases and the OpenAPI document share that table.
 *
 * This file is the Moleculer layer only: the HTTP front is in http.ts, the registry, credentials
 * and the token grant in clients/, the domain module in index.ts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type http from "node:http";
import ApiGateway from "moleculer-web";
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import type { NodeContext } from "../../node/context";
import { AppError } from "../../lib/errors";
import { topology } from "../../streams/subjects";
import type { Subscription } from "../../nats";
import {
  checkRouteTable,
  isScope,
  toColonPath,
  type GatewayMeta,
  type HttpCallParams,
  type RouteSpec,
} from "../../gateway/routes";
import { createRouter } from "../../gateway/router";
import { compileValidators } from "../../gateway/validate";
import { buildOpenApi } from "../../gateway/openapi";
import { cursorOf } from "../../gateway/pagination";
import { gatewayMetrics } from "../../gateway/metrics";
import { requireClient, requireNodeOrOperator, requireOperator } from "../../gateway/access";
import { callerTokens } from "../../gateway/caller";
import { createEndUserVerifier } from "../../gateway/end-user-tokens";
import { createProxyList } from "../../gateway/client-ip";
import { createIpThrottle, ipLimitError } from "../../gateway/throttle";
import { checkIncludes, withIncludes } from "../../gateway/includes";
import type { BatchItem } from "../../gateway/batch";
import type { CanaryInput } from "../../gateway/canary";
import { docsHtml, DOCS_CSP } from "./docs";
import { closeServer, createErrorWriter, createHttpServer, prepareParams, type RequestState } from "./http";
import { createEdge } from "./edge";
import {
  createClientRegistry,
  createClient,
  listClients,
  getClient,
  getClientWebhook,
  suspendClient,
  activateClient,
  rotateClientKey,
  decodeClientChange,
  parseTokenRequest,
  exchangeClientCredentials,
  type ClientPage,
  type ClientRecord,
  type ClientStatus,
  type ClientWebhook,
  type NewClientInput,
  type Principal,
  type TokenResponse,
} from "./clients";

/**
 * The contract of the `clients` service, for typed callers (the admin routes and the REPL
 * call the HTTP-shaped actions; `clients.webhook` is internal: nodes and operators only).
 */
export interface ClientsApi {
  "clients.create": {
    params: HttpCallParams<Record<string, string>, Record<string, unknown>, NewClientInput>;
    result: ClientRecord & { apiKey: string; webhookSecret: string };
  };
  "clients.list": {
    params: HttpCallParams<
      Record<string, string>,
      { limit?: number; cursor?: string; after?: string; status?: ClientStatus }
    >;
    result: ClientPage & { readonly nextCursor: string | null };
  };
  "clients.get": { params: HttpCallParams<{ id: string }>; result: ClientRecord };
  "clients.suspend": { params: HttpCallParams<{ id: string }>; result: ClientRecord };
  "clients.activate": { params: HttpCallParams<{ id: string }>; result: ClientRecord };
  "clients.rotate": {
    params: HttpCallParams<{ id: string }, Record<string, unknown>, { overlapSeconds?: number }>;
    result: { id: string; apiKey: string; previousKeysExpireAt: string };
  };
  "clients.me": { params: HttpCallParams; result: ClientRecord };
  "clients.token": {
    params: HttpCallParams<Record<string, string>, Record<string, unknown>, Record<string, unknown>>;
    result: TokenResponse;
  };
  /** A client's webhook URL and unsealed secret; null for an unknown client. No HTTP route. */
  "clients.webhook": { params: { id: string }; result: ClientWebhook | null };
}

/** Options for tests and tools; a node uses the defaults. */
export interface GatewayServiceOptions {
  /** Routes added to those of every domain (tests add a tiny domain of their own). */
  readonly extraRoutes?: readonly RouteSpec[];
}

/**
 * Every route the gateway serves: every domain's (`domainRoutes`, its own among them, from the
 * node context) and `extra`. Throws on a bad table.
 */
export function collectRoutes(domainRoutes: readonly RouteSpec[], extra: readonly RouteSpec[] = []): RouteSpec[] {
  const routes: RouteSpec[] = withIncludes([...domainRoutes, ...extra]);
  const problems = [...checkRouteTable(routes), ...checkIncludes(routes)];
  if (problems.length > 0) throw new Error(`invalid route table:\n  ${problems.join("\n  ")}`);
  return routes;
}

/** The batch route's action name (answered in process by the receiving node: see `batchHandler`). */
export const BATCH_ACTION = "gateway.batch";

type ReqWithParams = IncomingMessage & { $params?: unknown; $ctx?: { meta: GatewayMeta } };
type GatewayContext<P = HttpCallParams> = Context<P, GatewayMeta>;

/** The gateway's Moleculer services: `gateway` (moleculer-web + own HTTP server) and `clients`. */
export function createGatewayServices(ctx: NodeContext, opts: GatewayServiceOptions = {}): ServiceSchema[] {
  const { config, logger } = ctx;
  const gw = config.gateway;
  const routes = collectRoutes(ctx.routes, opts.extraRoutes);
  const router = createRouter(routes);
  const validators = compileValidators(routes);
  const openapi = buildOpenApi(routes, {
    title: "Switchyard API",
    version: "1",
    description:
      "One HTTP front door for every Switchyard domain. Authenticate with an API key or an OAuth2 access token as a Bearer token.",
  });
  const metrics = gatewayMetrics(ctx.metrics);
  const { cache, tokens, auth, limiter, admin, ready } = createClientRegistry(ctx, (layer) => metrics.authCache(layer));
  const proxies = createProxyList(gw.throttle.trustedProxies);
  const ipThrottle = createIpThrottle({
    unauthenticated: { perSec: gw.throttle.unauthPerSec, burst: gw.throttle.unauthBurst },
    token: { perSec: gw.throttle.tokenPerSec, burst: gw.throttle.tokenBurst },
  });
  const callers = callerTokens(config.cluster.secret, config.namespace);
  const endUsers = createEndUserVerifier(gw.endUsers);
  const states = new WeakMap<IncomingMessage, RequestState>();
  const sendError = createErrorWriter(logger, (req) => states.get(req));
  let server: http.Server | undefined;
  let subscription: Subscription | undefined;
  let brokerRef: ServiceBroker | undefined;
  const edge = createEdge({
    ctx,
    broker: () => {
      if (!brokerRef) throw new AppError("INTERNAL", "gateway not created yet");
      return brokerRef;
    },
    router,
    validators,
    limiter,
    callers,
    metrics,
  });

  /** The caller assertion of a request: its client, or "public" for a public route. */
  function signCaller(st: RequestState): Promise<string> {
    const client = st.principal?.client;
    if (client && st.principal?.via === "end_user")
      return callers.sign({ kind: "user", subject: client.id, scopes: client.scopes, requestId: st.requestId });
    return client
      ? callers.sign({ kind: "client", subject: client.id, scopes: client.scopes, requestId: st.requestId })
      : callers.sign({ kind: "public", subject: "anonymous", requestId: st.requestId });
  }

  /** The principal of an end-user token of the configured identity provider; null for any other credential. */
  async function endUserPrincipal(authorization: string | undefined): Promise<Principal | null> {
    const m = endUsers && authorization ? /^bearer\s+(\S{1,4096})$/i.exec(authorization) : null;
    if (!endUsers || !m || !endUsers.accepts(m[1]!)) return null;
    const u = await endUsers.verify(m[1]!);
    return {
      client: { id: u.subject, scopes: u.scopes },
      rateLimit: { perSec: gw.ratePerSec, burst: gw.rateBurst },
      via: "end_user",
    };
  }

  /** moleculer-web alias middleware: runs after authentication and authorization. */
  function inputMiddleware(req: IncomingMessage, _res: ServerResponse, next: (err?: unknown) => void): void {
    const st = states.get(req);
    const mctx = (req as ReqWithParams).$ctx;
    if (!st || !mctx) return next(new AppError("INTERNAL", "request state missing"));
    Promise.all([prepareParams(req, st, validators.get(st.spec) ?? {}, gw), signCaller(st)]).then(
      ([p, caller]) => {
        try {
          edge.takeInclude(p, st);
        } catch (err) {
          return next(err);
        }
        (req as ReqWithParams).$params = p;
        mctx.meta.caller = caller;
        next();
      },
      (err: unknown) => next(err),
    );
  }

  /**
   * The batch route's handler: answered by the node that received it (it runs every item for
   * the principal this node authenticated), never forwarded as an action.
   */
  function batchHandler(req: IncomingMessage, res: ServerResponse): void {
    const st = states.get(req);
    const body = ((req as ReqWithParams).$params as HttpCallParams<unknown, unknown, { items: BatchItem[] }>).body;
    if (!st || !body) return sendError(req, res, new AppError("INTERNAL", "request state missing"));
    edge.batch(st.principal, body.items, st.requestId).then(
      (out) => {
        const text = JSON.stringify(out);
        res.statusCode = 200;
        res.setHeader("Content-Type", "application/json; charset=utf-8");
        res.setHeader("Content-Length", Buffer.byteLength(text));
        res.end(text);
      },
      (err: unknown) => sendError(req, res, err),
    );
  }

  const localAliases: Record<string, unknown[]> = {};
  const apiAliases: Record<string, unknown[]> = {};
  for (const spec of routes) {
    (spec.nodeLocal ? localAliases : apiAliases)[`${spec.method} ${toColonPath(spec.path)}`] = [
      inputMiddleware,
      spec.action === BATCH_ACTION ? batchHandler : spec.action,
    ];
  }
  const onError = function (req: IncomingMessage, res: ServerResponse, err: unknown) {
    sendError(req, res, err);
  };
  const commonRoute = { path: "/", mappingPolicy: "restrict", bodyParsers: false, logging: false, onError };

  const gatewayService: ServiceSchema<Record<string, unknown>> = {
    name: "gateway",
    mixins: [ApiGateway],
    settings: {
      server: false,
      port: config.port,
      ip: config.host,
      logRequest: null,
      logResponse: null,
      logRequestParams: null,
      logResponseData: null,
      log4XXResponses: false,
      logRouteRegistration: "debug",
      onError,
      routes: [
        // Node-local answers (health, metrics, docs): never forwarded to another node.
        { ...commonRoute, name: "local", aliases: localAliases, authentication: false, authorization: false },
        {
          ...commonRoute,
          name: "api",
          aliases: apiAliases,
          authentication: true,
          authorization: true,
          // canaries: the instance of a call is the gateway's choice for a service with one
          onBeforeCall(_c: unknown, _r: unknown, req: IncomingMessage & { $endpoint?: unknown }) {
            const st = states.get(req);
            if (st && req.$endpoint) edge.chooseEndpoint(req, st);
          },
          onAfterCall(c: GatewayContext<unknown>, _r: unknown, req: IncomingMessage, _res: unknown, data: unknown) {
            const st = states.get(req);
            return st ? edge.afterCall(st, c.meta.$statusCode ?? 200, data) : data;
          },
        },
      ],
    },
    actions: {
      live: () => ({ status: "ok" }),
      ready(c: GatewayContext<unknown>) {
        const report = ctx.health.report();
        if (report.ready) return report;
        c.meta.$statusCode = 503;
        const failing = Object.entries(report.checks).filter(([, r]) => !r.ok);
        return {
          error: {
            code: "NOT_READY",
            message: "node is not ready",
            details: failing.map(([name, r]) => ({
              path: `/checks/${name}`,
              message:
                r.detail === undefined
                  ? "failing"
                  : String(typeof r.detail === "string" ? r.detail : JSON.stringify(r.detail)),
            })),
            requestId: c.requestID ?? "",
          },
          report,
        };
      },
      async metrics(c: GatewayContext<unknown>) {
        c.meta.$responseType = ctx.metrics.contentType;
        return ctx.metrics.metrics();
      },
      home(c: GatewayContext<unknown>) {
        c.meta.$statusCode = 302;
        c.meta.$location = "/api/docs";
        c.meta.$responseType = "text/html; charset=utf-8";
        return '<!doctype html><a href="/api/docs">API documentation: /api/docs</a>\n';
      },
      openapi: () => openapi,
      docs(c: GatewayContext<unknown>) {
        c.meta.$responseType = "text/html; charset=utf-8";
        c.meta.$responseHeaders = { "Content-Security-Policy": DOCS_CSP };
        return docsHtml("/api/openapi.json");
      },
      async jwks(c: GatewayContext<unknown>) {
        await ready();
        c.meta.$responseHeaders = { "Cache-Control": "public, max-age=300" };
        return tokens.jwks();
      },
      canaries(c: GatewayContext) {
        requireOperator(c);
        return { items: edge.canaries().list() };
      },
      canary(c: GatewayContext<HttpCallParams<{ service: string }>>) {
        requireOperator(c);
        const v = edge.canaries().get(c.params.params.service);
        if (!v) throw new AppError("NOT_FOUND", `no canary for ${c.params.params.service}`);
        return v;
      },
      async canarySet(c: GatewayContext<HttpCallParams<{ service: string }, Record<string, unknown>, CanaryInput>>) {
        const by = requireOperator(c);
        return edge.canaries().set(c.params.params.service, c.params.body ?? {}, by);
      },
      async canaryDelete(c: GatewayContext<HttpCallParams<{ service: string }>>) {
        const by = requireOperator(c);
        const removed = await edge.canaries().remove(c.params.params.service, by);
        if (!removed) throw new AppError("NOT_FOUND", `no canary for ${c.params.params.service}`);
        return removed;
      },
    },
    methods: {
      /** moleculer-web's catch-all: the uniform error, logged by `sendError` (5xx only). */
      errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown) {
        sendError(req, res, err);
      },
      async authenticate(_c: GatewayContext<unknown>, _route: unknown, req: IncomingMessage) {
        const st = states.get(req);
        if (!st) throw new AppError("INTERNAL", "request state missing");
        if (st.spec.access === "public") {
          if (st.spec.action === "clients.token") {
            const d = ipThrottle.tokenExchange(st.ip);
            if (!d.allowed) {
              metrics.throttled("token");
              throw ipLimitError("token", d);
            }
          }
          return null;
        }
        // A caller that keeps failing is refused before its credentials cost a lookup.
        const may = ipThrottle.mayAuthenticate(st.ip);
        if (!may.allowed) {
          metrics.throttled("unauthenticated");
          throw ipLimitError("unauthenticated", may);
        }
        let p: Principal;
        try {
          p =
            (await endUserPrincipal(req.headers.authorization)) ?? (await auth.authenticate(req.headers.authorization));
        } catch (err) {
          if (err instanceof AppError && (err.status === 401 || err.status === 403))
            ipThrottle.failedAuthentication(st.ip);
          throw err;
        }
        st.principal = p;
        st.log = st.log.child({ clientId: p.client.id });
        // null: moleculer-web would copy a returned user into ctx.meta.user, a bare field anyone
        // on NATS could forge; actions learn the client from the signed caller assertion only.
        return null;
      },
      async authorize(_c: GatewayContext<unknown>, _route: unknown, req: IncomingMessage, res: ServerResponse) {
        const st = states.get(req);
        if (!st) throw new AppError("INTERNAL", "request state missing");
        const spec = st.spec;
        if (spec.access === "public") return;
        const p = st.principal;
        if (!p) throw new AppError("UNAUTHORIZED", "authentication required");
        if (spec.rateLimited !== false) {
          const d = await limiter.take(p.via === "end_user" ? `user:${p.client.id}` : p.client.id, p.rateLimit);
          if (d.unavailable) {
            metrics.throttled("redis_down");
            throw new AppError("UNAVAILABLE", "rate limiting is unavailable: retry later", undefined, {
              "Retry-After": String(Math.ceil(d.retryAfterMs / 1000)),
            });
          }
          res.setHeader("X-RateLimit-Limit", String(d.limit.burst));
          res.setHeader("X-RateLimit-Remaining", String(Math.max(0, d.remaining)));
          if (!d.allowed) {
            throw new AppError(
              "RATE_LIMITED",
              `rate limit exceeded (${d.limit.perSec}/s, burst ${d.limit.burst})`,
              undefined,
              {
                "Retry-After": String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))),
              },
            );
          }
        }
        if (isScope(spec.access) && !p.client.scopes.includes(spec.access)) {
          throw new AppError("FORBIDDEN", `scope ${spec.access} required`);
        }
      },
    },
    created() {
      // Pin node-local routes to this node (moleculer-web built its routes in its own created()).
      const self = this as unknown as {
        routes: { name?: string; callOptions?: unknown }[];
        broker: { nodeID: string };
      };
      for (const r of self.routes) if (r.name === "local") r.callOptions = { nodeID: self.broker.nodeID };
      const handler = (
        this as unknown as { httpHandler(req: IncomingMessage, res: ServerResponse): Promise<void> }
      ).httpHandler.bind(this);
      server = createHttpServer({
        router,
        logger,
        metrics,
        proxies,
        bodyTimeoutMs: gw.bodyTimeoutMs,
        maxConnectionsPerIp: gw.throttle.maxConnectionsPerIp,
        states,
        sendError,
        handler,
        answered: (a) => edge.answered(a),
        ...(ctx.admission ? { admission: (action: string) => ctx.admission?.check(action) } : {}),
      });
      (this as unknown as { server: http.Server }).server = server;
    },
    async started() {
      brokerRef = (this as unknown as { broker: ServiceBroker }).broker;
      await ready();
      await edge.start();
      subscription = ctx.nats.nc.subscribe(topology(config.namespace).gateway.clientChanges, {
        callback: (err, msg) => {
          if (err) return;
          const change = decodeClientChange(msg.data);
          if (change) cache.apply(change);
        },
      });
      const srv = server!;
      await edge.serve(srv);
      // an idle backup is healthy: it does not listen until the primary goes silent
      ctx.health.register("gateway", () => ({ ok: srv.listening || edge.isBackup() }));
      const addr = srv.address();
      logger.info(
        { address: typeof addr === "object" && addr ? `${addr.address}:${addr.port}` : addr, routes: routes.length },
        "gateway listening",
      );
    },
    async stopped() {
      subscription?.unsubscribe();
      await edge.stop();
      await closeServer(server);
    },
  };

  const clientsService: ServiceSchema = {
    name: "clients",
    actions: {
      async create(c: GatewayContext<HttpCallParams<Record<string, string>, Record<string, unknown>, NewClientInput>>) {
        requireOperator(c);
        const created = await createClient(admin, c.params.body!);
        c.meta.$statusCode = 201;
        c.meta.$location = `/api/v1/admin/clients/${created.client.id}`;
        return { ...created.client, apiKey: created.apiKey, webhookSecret: created.webhookSecret };
      },
      async list(
        c: GatewayContext<
          HttpCallParams<
            Record<string, string>,
            { limit?: number; cursor?: string; after?: string; status?: ClientStatus }
          >
        >,
      ) {
        requireOperator(c);
        const q = c.params.query;
        const cursor = cursorOf(q);
        const page = await listClients(admin, {
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          ...(cursor ? { after: cursor } : {}),
          ...(q.status ? { status: q.status } : {}),
        });
        return { ...page, nextCursor: page.next };
      },
      async get(c: GatewayContext<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        return getClient(admin, c.params.params.id);
      },
      async suspend(c: GatewayContext<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        return suspendClient(admin, c.params.params.id);
      },
      async activate(c: GatewayContext<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        return activateClient(admin, c.params.params.id);
      },
      async rotate(
        c: GatewayContext<HttpCallParams<{ id: string }, Record<string, unknown>, { overlapSeconds?: number }>>,
      ) {
        requireOperator(c);
        const overlap = c.params.body?.overlapSeconds;
        const r = await rotateClientKey(
          admin,
          c.params.params.id,
          overlap !== undefined ? { overlapSec: overlap } : {},
        );
        return { id: r.client.id, apiKey: r.apiKey, previousKeysExpireAt: r.previousKeysExpireAt };
      },
      async me(c: GatewayContext) {
        const me = requireClient(c);
        return getClient(admin, me.id);
      },
      async token(
        c: GatewayContext<HttpCallParams<Record<string, string>, Record<string, unknown>, Record<string, unknown>>>,
      ) {
        c.meta.$responseHeaders = { "Cache-Control": "no-store", Pragma: "no-cache" };
        return exchangeClientCredentials(
          { auth, tokens },
          parseTokenRequest(c.params.body ?? {}, c.params.headers?.["authorization"]),
        );
      },
      webhook: {
        // internal, for domains that send client webhooks: no route, and no client (not even an admin) may read a secret
        params: { id: { type: "string", min: 1, max: 200 } },
        async handler(c: Context<{ id: string }>): Promise<ClientWebhook | null> {
          requireNodeOrOperator(c);
          return getClientWebhook(admin, c.params.id);
        },
      },
    },
    async started() {
      await ready();
    },
  };

  return [gatewayService as unknown as ServiceSchema, clientsService];
}
