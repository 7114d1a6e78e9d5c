/**
 * The receipts domain: receipt registration end to end. Tables (monthly-partitioned receipts),
 * streams (the receipt stream and its Postgres-writer consumer, the idempotency bucket), the receipt actor kind, the registration and webhook jobs, the HTTP routes
 * and the Moleculer service "receipts" whose actions only parse, call the receipts API and
 * shape the answer.
 */
import type { Context, ServiceSchema } from "moleculer";
import { Counter } from "prom-client";
import type { Config } from "../../config";
import type { NodeContext } from "../../node/context";
import { defineDomain } from "../../node/domain";
import { receiptsConfig } from "./config";
import { requireOperator, requireScope, type GatewayMeta, type HttpCallParams } from "../../gateway";
import { AppError, errorMessage } from "../../lib/errors";
import { RECEIPT_JOBS, RECEIPT_KIND, receiptKind, type RegistrationService } from "./receipt.actor";
import { BacklogGauge } from "../../actors/backlog";
import { LagGate, eventLoopLag } from "../../lib/event-loop-lag";
import { admissionRefusal } from "./admission";
import { receiptDeclarations, receiptNames } from "./streams";
import { createClientStore } from "../gateway/clients";
import { createKeyring } from "../../lib/sealed";
import { ReceiptTypeRegistry } from "./registry";
import { RECEIPT_TYPES } from "./types";
import type { ReceiptStatus } from "./model";
import { createReceiptApi, type ReceiptApi } from "./api";
import { receiptJobs, type ClientLookup, type ReceiptJobDeps } from "./jobs";
import { createReceiptStore, receiptMigrations } from "./store";
import { receiptDlqAlarm, startReceiptWriter, type ConsumerLoop } from "./writer";
import { DeadLetters } from "../../actors/dlq";
import { startSweeper } from "./sweeper";
import { redisDeliveryLog } from "./deliveries";
import { receiptRoutes } from "./routes";
import { createEgress } from "../../lib/egress-http";

/** Metric: receipt messages dead-lettered by this node's writer, by kind (record, status). */
export const RECEIPT_DLQ_METRIC = "switchyard_receipts_dead_lettered_total";

/** The receipt type registry (compiled once per process). */
export const receiptTypes = new ReceiptTypeRegistry(RECEIPT_TYPES);

/** Job dependencies per node (jobs are declared from config alone; a node's services bind them). */
const boundDeps = new Map<string, ReceiptJobDeps>();
const depsKey = (c: Config): string => `${c.namespace}/${c.nodeId}`;

/** Caches client webhook lookups for `ttlMs` (one query per client per TTL, not per receipt). */
export function cachedClientLookup(inner: ClientLookup, ttlMs = 30_000): ClientLookup {
  const cache = new Map<string, { at: number; value: Awaited<ReturnType<ClientLookup["webhookOf"]>> }>();
  return {
    async webhookOf(id) {
      const hit = cache.get(id);
      if (hit && Date.now() - hit.at < ttlMs) return hit.value;
      const value = await inner.webhookOf(id);
      if (cache.size > 50_000) cache.clear();
      cache.set(id, { at: Date.now(), value });
      return value;
    },
  };
}

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall = HttpCallParams<{ id: string }>;
type ListCall = HttpCallParams<Record<string, string>, { from?: string; to?: string; status?: ReceiptStatus; type?: string; limit?: number; cursor?: string }>;

/** The Moleculer service "receipts" over `api` (see {@link ReceiptApi}). */
export function receiptsService(api: ReceiptApi, publicUrl: string, loops: () => ConsumerLoop[]): ServiceSchema {
  const callback = (service: RegistrationService) => async (c: Ctx) => {
    const raw = c.params.raw;
    if (!raw) throw new AppError("BAD_REQUEST", "a JSON body is required");
    await api.callback(service, raw.text, c.params.headers ?? {});
    return { received: true };
  };
  return {
    name: "receipts",
    actions: {
      types: () => ({ items: api.types() }),

      async submit(c: Ctx) {
        const client = requireScope(c, "receipts:write");
        const raw = c.params.raw;
        if (!raw) throw new AppError("BAD_REQUEST", "a receipt body is required");
        const h = c.params.headers ?? {};
        const r = await api.submit({
          clientId: client.id,
          body: Buffer.from(raw.text, "utf8"),
          contentType: h["content-type"] ?? raw.contentType,
          idempotencyKey: h["idempotency-key"],
          callbackUrl: h["x-callback-url"],
        });
        c.meta.$statusCode = 202;
        // moleculer-web sets Location from $location only for 201 and 3xx
        c.meta.$responseHeaders = { Location: r.statusUrl, ...(r.replayed ? { "Idempotent-Replayed": "true" } : {}) };
        return { id: r.id, status: r.status, statusUrl: r.statusUrl };
      },

      status: (c: Ctx<IdCall>) => api.status(requireScope(c, "receipts:read").id, c.params.params.id),

      get: (c: Ctx<IdCall>) => api.get(requireScope(c, "receipts:read").id, c.params.params.id),

      async original(c: Ctx<IdCall>) {
        const o = await api.original(requireScope(c, "receipts:read").id, c.params.params.id);
        c.meta.$responseType = o.contentType;
        // the gateway only accepts UTF-8 bodies, so the original is UTF-8 text
        return o.bytes.toString("utf8");
      },

      list(c: Ctx<ListCall>) {
        const client = requireScope(c, "receipts:read");
        const q = c.params.query;
        return api.list({
          clientId: client.id,
          ...(q.from ? { from: new Date(q.from) } : {}),
          ...(q.to ? { to: new Date(q.to) } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        });
      },

      callbackTax: callback("tax"),
      callbackWarehouse: callback("warehouse"),

      async retry(c: Ctx<IdCall>) {
        // through the gateway the route requires "admin"; the REPL calls as an operator
        const who = requireOperator(c);
        c.meta.$statusCode = 202;
        return api.retry(c.params.params.id, who);
      },

      /** Operators (REPL): `call receipts.retryFailed --id <id>`. */
      retryFailed: {
        params: { id: "string" },
        handler: (c: Context<{ id: string }>) => api.retry(c.params.id, requireOperator(c)),
      },

      /** Operators: counters of the Postgres writer on this node. */
      pipeline: (c: Ctx<unknown>) => {
        requireOperator(c);
        return { publicUrl, loops: loops().map((l) => ({ running: l.running(), ...l.stats })) };
      },
    },
  };
}

/** Starts the node's Postgres writer and sweeper and builds the service. */
function createReceiptServices(ctx: NodeContext): ServiceSchema[] {
  const { config, logger } = ctx;
  const rc = config.receipts;
  const names = receiptNames(config.namespace);
  const store = createReceiptStore({ pg: ctx.pg });
  const clients = cachedClientLookup(createClientStore({ pg: ctx.pg, keyring: createKeyring(config.master.keys) }));
  const deliveries = redisDeliveryLog(ctx.redis, config.namespace, Math.ceil(rc.webhookDeadlineMs / 1000) + 7 * 86_400);
  // webhooks go only where the egress policy allows, checked again at connect time
  const egress = createEgress(config.egress.policy, config.egress.resolver);
  if (config.egress.allow.length > 0) logger.info({ allow: config.egress.allow }, "webhook destinations allowed although not public (EGRESS_ALLOW)");
  boundDeps.set(depsKey(config), { clients, deliveries, egress, logger: logger.child({ domain: "receipts", part: "webhooks" }) });
  // admission control (receipts/admission.ts): refuse new receipts while this process's CPU is
  // saturated, or while the actors' mailboxes hold too much (the receipt mailboxes and the
  // registration jobs not yet done: where receipts wait)
  const lag = rc.maxLagMs > 0 ? new LagGate(eventLoopLag(), rc.maxLagMs) : undefined;
  const jobs = ctx.topology.jobs;
  const backlog =
    rc.maxBacklog > 0
      ? new BacklogGauge(ctx.nats.jsm, [
          { stream: ctx.topology.actors.stream(RECEIPT_KIND) },
          { stream: jobs.stream, consumer: jobs.consumer(RECEIPT_JOBS.tax) },
          { stream: jobs.stream, consumer: jobs.consumer(RECEIPT_JOBS.warehouse) },
        ])
      : undefined;
  const api = createReceiptApi({
    nats: ctx.nats,
    names,
    runtime: ctx.runtime,
    store,
    registry: receiptTypes,
    clients,
    deliveries,
    logger: logger.child({ domain: "receipts" }),
    publicUrl: rc.publicUrl,
    callbackSecrets: { tax: rc.taxCallbackSecret, warehouse: rc.warehouseCallbackSecret },
    egress: config.egress.policy,
    admission: () => admissionRefusal({ overloadedLagMs: lag?.check(), backlog: backlog?.messages ?? 0 }, rc),
  });
  const loops: ConsumerLoop[] = [];
  ctx.metrics.removeSingleMetric(RECEIPT_DLQ_METRIC);
  const deadLettered = new Counter({ name: RECEIPT_DLQ_METRIC, help: "Receipt records and status updates this node dead-lettered because Postgres cannot store them", labelNames: ["kind"], registers: [ctx.metrics] });
  let partitionTimer: NodeJS.Timeout | undefined;
  let sweeper: { stop(): void } | undefined;
  const service = receiptsService(api, rc.publicUrl, () => loops);
  return [
    {
      ...service,
      async started() {
        const log = logger.child({ domain: "receipts" });
        if (rc.devCallbackSecrets) log.warn("receipts: callbacks are verified with the well-known development secrets (set TAX_CALLBACK_SECRET and WAREHOUSE_CALLBACK_SECRET for anything real)");
        // partitions for this month and the next three, then once a day
        const ensure = (): void =>
          void store.ensurePartitions(new Date(), 4).catch((err: unknown) => log.error({ err: errorMessage(err) }, "receipt partitions not ensured"));
        ensure();
        partitionTimer = setInterval(ensure, 24 * 3600_000);
        partitionTimer.unref();
        backlog?.start();
        if (!config.workers) return; // an API node: the writer and the sweeper run on worker nodes
        const broker = (this as unknown as { broker: { broadcast(event: string, payload: unknown): Promise<void> } }).broker;
        loops.push(
          await startReceiptWriter({
            nats: ctx.nats,
            names,
            store,
            dlq: new DeadLetters(ctx.nats, ctx.topology.dlq.stream),
            logger: log.child({ part: "writer" }),
            batchRows: rc.batchRows,
            batchMs: rc.batchMs,
            // the alarm: a metric, and the alarm.dlq event (the writer logs the error line)
            onDeadLetter: (letter) => {
              deadLettered.inc({ kind: letter.kind });
              void broker.broadcast("alarm.dlq", receiptDlqAlarm(letter, config.nodeId, Date.now())).catch(() => undefined);
            },
          }),
        );
        sweeper = startSweeper({ store, runtime: ctx.runtime, logger: log.child({ part: "sweeper" }), callbackWaitMs: rc.callbackWaitMs, orphanAfterMs: Math.min(60_000, rc.callbackWaitMs), deadlineMs: rc.deadlineMs });
        ctx.health.register("receipts", () => ({ ok: loops.every((l) => l.running()) }));
      },
      async stopped() {
        if (partitionTimer) clearInterval(partitionTimer);
        backlog?.stop();
        sweeper?.stop();
        await Promise.all(loops.map((l) => l.stop()));
        loops.length = 0;
        boundDeps.delete(depsKey(config));
        egress.close();
      },
    },
  ];
}

/** The receipts domain (see module doc). */
export const receiptsDomain = defineDomain({
  name: "receipts",
  config: receiptsConfig,
  needsMasterKey: true,
  summary: "receipt registration: JSON and XML receipts validated, registered with the tax and warehouse services, durable status, client webhooks",
  declare: (config, topo) => ({
  migrations: receiptMigrations,
  streams: receiptDeclarations(topo, config),
  kinds: [
    receiptKind({
      registry: receiptTypes,
      statusSubject: receiptNames(config.namespace).statusSubject,
      deadlineMs: config.receipts.deadlineMs,
      callbackWaitMs: config.receipts.callbackWaitMs,
      webhookDeadlineMs: config.receipts.webhookDeadlineMs,
      publicUrl: config.receipts.publicUrl,
    }),
  ],
  jobs: receiptJobs(config, () => boundDeps.get(depsKey(config))),
  routes: receiptRoutes,
  }),
  start: (ctx) => ({ services: createReceiptServices(ctx) }),
});
