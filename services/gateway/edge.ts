/**
 * The gateway's edge functions, wired for one node: batches, `?include=`, interaction records,
 * canary routing and the primary heartbeat / backup watch. service.ts calls these from
 * moleculer-web's hooks and its own HTTP server; each part is a module of its own (batch.ts,
 * dispatch.ts, prefetch.ts, interactions.ts, canaries.ts, failover.ts).
 */
import type http from "node:http";
import type { IncomingMessage } from "node:http";
import type { ServiceBroker } from "moleculer";
import type { NodeContext } from "../../node/context";
import { AppError } from "../../lib/errors";
import type { Router } from "../../gateway/router";
import type { RouteValidators } from "../../gateway/validate";
import type { RouteSpec } from "../../gateway/routes";
import type { CallerTokens } from "../../gateway/caller";
import type { GatewayMetrics } from "../../gateway/metrics";
import type { BatchItem } from "../../gateway/batch";
import { INCLUDE_PARAM, parseInclude } from "../../gateway/includes";
import { serviceOfAction, type Interaction } from "../../gateway/interactions";
import type { Principal, RateLimiter } from "./clients";
import { createDispatcher, type Dispatch, type SubResponse } from "./dispatch";
import { runBatch } from "./batch";
import { includeRelated } from "./prefetch";
import { createInteractionsPublisher, type InteractionsPublisher } from "./interactions";
import { startCanaries, versionOf, type Canaries } from "./canaries";
import { listenAsPrimary, startBackup, startHeartbeat } from "./failover";
import { gatewayNames } from "./streams";
import type { Answered, RequestState } from "./http";
import { closeServer, listen } from "./http";

/** What the edge needs from the gateway service. */
export interface EdgeDeps {
  readonly ctx: NodeContext;
  readonly broker: () => ServiceBroker;
  readonly router: Router;
  readonly validators: ReadonlyMap<RouteSpec, RouteValidators>;
  readonly limiter: RateLimiter;
  readonly callers: CallerTokens;
  readonly metrics: GatewayMetrics;
}

type Params = { query?: Record<string, unknown> };

/** The edge of one gateway node (see the module doc). */
export function createEdge(deps: EdgeDeps) {
  const { ctx, metrics } = deps;
  const { config, logger } = ctx;
  const edge = config.gateway.edge;
  const names = gatewayNames(config.namespace);
  const log = logger.child({ component: "gateway-edge" });
  let canaries: Canaries | undefined;
  let publisher: InteractionsPublisher | undefined;
  let heartbeat: ReturnType<typeof startHeartbeat> | undefined;
  let backup: ReturnType<typeof startBackup> | undefined;
  let dispatcher: Dispatch | undefined;

  function record(i: Interaction): void {
    publisher?.record(i);
  }

  /** A dispatched answer (batch item, related read): interactions, canary window, cache metrics. */
  function sawSub(r: SubResponse, requestId: string, at: Date, ms: number, client: string, batch: boolean): void {
    record({
      at: at.toISOString(),
      route: r.route,
      method: r.spec?.method ?? "GET",
      service: r.service,
      version: r.version,
      client,
      status: r.status,
      latencyMs: Math.round(ms * 1000) / 1000,
      requestId,
      ...(batch ? { batch: true } : {}),
    });
    if (r.version) canaries?.observe(r.service, r.version, r.status, ms);
    const cache = r.headers["X-Cache"];
    if (cache === "hit" || cache === "miss") metrics.cacheRead(r.route, cache);
  }

  function dispatch(): Dispatch {
    dispatcher ??= createDispatcher({
      broker: deps.broker(),
      router: deps.router,
      validators: deps.validators,
      limiter: deps.limiter,
      callers: deps.callers,
      metrics,
      ...(canaries ? { canaries } : {}),
      includeCount: (relation, outcome) => metrics.included(relation, outcome),
      relatedAnswered: (r, requestId, ms) => sawSub(r, requestId, new Date(Date.now() - ms), ms, "", false),
    });
    return dispatcher;
  }

  return {
    /** Starts publishing interactions and watching canaries (before the server listens). */
    async start(): Promise<void> {
      publisher = createInteractionsPublisher({
        js: ctx.nats.js,
        names,
        enabled: edge.interactions,
        sample: edge.interactionsSample,
        log,
        count: (outcome, n) => metrics.interactions(outcome, n),
      });
      canaries = await startCanaries({
        kv: await ctx.nats.kvm.open(names.canariesBucket),
        broker: deps.broker(),
        log,
        nodeId: config.nodeId,
        checkMs: edge.canaryCheckMs,
        changed: (state, how) => metrics.canaryChanged(state, how),
        routed: (service, group) => metrics.canaryRouted(service, group),
      });
    },

    /**
     * Serves `server`: a primary listens (waiting for a backup to hand the port back) and writes
     * its heartbeat; a backup idles until the primary's heartbeat stops.
     */
    async serve(server: http.Server): Promise<void> {
      const hb = await ctx.nats.kvm.open(names.heartbeatBucket);
      const port = config.port;
      if (edge.role === "backup") {
        if (port === 0) throw new Error("a backup gateway needs the primary's PORT (not 0)");
        backup = startBackup({
          kv: hb,
          primaryKey: names.primaryKey(port),
          backupKey: names.backupKey(port),
          node: config.nodeId,
          timeoutMs: edge.heartbeatTimeoutMs,
          log,
          listen: () => listen(server, port, config.host),
          close: () => closeServer(server),
          serving: (on) => metrics.backupServing(on),
        });
        log.info({ port }, "backup gateway idle: watching the primary's heartbeat");
        return;
      }
      if (port === 0) {
        await listen(server, 0, config.host);
      } else {
        heartbeat = startHeartbeat(hb, names.primaryKey(port), config.nodeId, edge.heartbeatMs, log);
        await listenAsPrimary(() => listen(server, port, config.host), hb, names.backupKey(port), log);
      }
      const addr = server.address();
      const actual = typeof addr === "object" && addr ? addr.port : port;
      heartbeat ??= startHeartbeat(hb, names.primaryKey(actual), config.nodeId, edge.heartbeatMs, log);
      heartbeat.serving();
    },

    /** True when this node's gateway is a backup (it answers only while it serves). */
    isBackup: () => edge.role === "backup",

    /** moleculer-web `onBeforeCall`: the instance of a service with a canary. */
    chooseEndpoint(req: IncomingMessage & { $endpoint?: unknown }, st: RequestState): void {
      const choice = canaries?.choose(st.spec.action);
      if (choice) req.$endpoint = choice.endpoint;
      st.version = choice?.version ?? versionOf(req.$endpoint);
    },

    /** Takes `include` out of the action's query (into the request state); 400 for an unknown relation. */
    takeInclude(params: Params, st: RequestState): void {
      const q = params.query;
      if (!q || !(INCLUDE_PARAM in q)) return;
      st.include = parseInclude(q[INCLUDE_PARAM], st.spec);
      delete q[INCLUDE_PARAM];
    },

    /** moleculer-web `onAfterCall`: the related resources asked for with `?include=`. */
    async afterCall(st: RequestState, status: number, data: unknown): Promise<unknown> {
      if (!st.include?.length || typeof data !== "object" || data === null || Array.isArray(data)) return data;
      if (status >= 300) return data;
      const included = await includeRelated(
        dispatch(),
        st.principal,
        st.spec,
        st.include,
        data,
        st.requestId,
        (relation, outcome) => metrics.included(relation, outcome),
        (r, requestId, ms) =>
          sawSub(r, requestId, new Date(Date.now() - ms), ms, st.principal?.client.id ?? "anonymous", false),
      );
      return { ...data, included };
    },

    /** Answers a batch (the route's body is validated already). */
    async batch(principal: Principal | undefined, items: readonly BatchItem[], requestId: string) {
      metrics.batch(items.length);
      const results = await runBatch(
        {
          dispatch: dispatch(),
          concurrency: edge.batchConcurrency,
          answered: (r, i) => {
            metrics.batchItem(r.status);
            sawSub(r, i.requestId, new Date(i.at), i.latencyMs, i.client, true);
          },
        },
        principal,
        items,
        requestId,
      );
      return { items: results };
    },

    /** Every answered HTTP request: its interaction record, the canary window, cache hit metrics. */
    answered(a: Answered): void {
      const st = a.state;
      const ms = a.seconds * 1000;
      const service = st ? serviceOfAction(st.spec.action) : "gateway";
      record({
        at: a.at.toISOString(),
        route: a.route,
        method: a.req.method ?? "",
        service,
        version: st?.version ?? "",
        client: st?.principal?.client.id ?? "anonymous",
        status: a.status,
        latencyMs: Math.round(ms * 1000) / 1000,
        requestId: a.requestId,
      });
      if (st?.version) canaries?.observe(service, st.version, a.status, ms);
      const cache = a.res.getHeader("X-Cache");
      if (cache === "hit" || cache === "miss") metrics.cacheRead(a.route, cache);
    },

    /** The canaries of this node (admin actions); 503 before start. */
    canaries(): Canaries {
      if (!canaries) throw new AppError("UNAVAILABLE", "canaries are not loaded yet");
      return canaries;
    },

    /** Flushes interactions, stops the heartbeat (or the backup's watch) and the canary watch. */
    async stop(): Promise<void> {
      await backup?.stop();
      await heartbeat?.stop();
      await canaries?.stop();
      await publisher?.stop();
    },
  };
}

/** The edge of one node. */
export type Edge = ReturnType<typeof createEdge>;
