/**
 * The events domain: multi-tenant event intake (NATS subject per tenant and POST /api/v1/events),
 * the versioned type registry (KV, watched), the encrypted event store (Postgres, monthly
 * partitions), fair per-tenant processing, the DLQ with its alarm, and both sender feeds (the
 * {ns}.events.out.{tenant} stream and GET /api/v1/events). This file only wires things; the
 * logic is in events/.
 */
import type { Context, ServiceSchema } from "moleculer";
import { Counter, Histogram as PromHistogram } from "prom-client";
import type { NodeContext } from "../../node/context";
import { defineDomain } from "../../node/domain";
import { eventsConfig } from "./config";
import { clientOf, requireOperator, requireScope, type GatewayMeta, type HttpCallParams } from "../../gateway";
import { AppError } from "../../lib/errors";
import { eventDeclarations, eventNames } from "./streams";
import { createEventsApi, type EventsApi } from "./api";
import { createEventStore, eventMigrations } from "./store";
import { DataKeyring } from "./crypto";
import { DlqMonitor, type DlqAlarm } from "./alarms";
import { EventProcessor } from "./processor";
import { EventTypeRegistry } from "./registry";
import { eventRoutes } from "./routes";
import { TypeStore, type TypeDefinition } from "./types-store";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

/** The contract of the `events` service, for typed callers (REPL, tests, other services). */
export interface EventsServiceApi {
  "events.types": { params: Record<string, never>; result: { items: ReturnType<EventsApi["types"]> } };
  "events.defineType": { params: { name: string; schema: Record<string, unknown>; description?: string }; result: Awaited<ReturnType<EventsApi["defineType"]>> };
  "events.dlqList": { params: { tenant?: string; after?: number; limit?: number }; result: { items: Awaited<ReturnType<EventsApi["deadLetters"]>>; depths: Record<string, number> } };
  "events.dlqReplay": { params: { seqs: number[] }; result: { replayed: number[]; missing: number[] } };
  "events.stats": { params: Record<string, never>; result: ReturnType<EventProcessor["stats"]> & { dlq: Record<string, number>; alarms: number } };
}

/** Operator surfaces: the REPL (an operator), a node, or through the gateway a client with admin. */
function operator(c: Ctx<unknown>): void {
  requireOperator(c);
}

/** Builds the node's events service (processor, registry watch, DLQ monitor, API). */
function createEventServices(ctx: NodeContext): ServiceSchema[] {
  const { config } = ctx;
  const ec = config.events;
  const log = ctx.logger.child({ domain: "events" });
  const names = eventNames(config.namespace);
  const store = createEventStore({ pg: ctx.pg });
  const keyring = new DataKeyring(ec.dataKeys, ec.dataKeyId);
  const registry = new EventTypeRegistry();
  let types: TypeStore | null = null;
  const typesOrFail = (): TypeStore => {
    if (!types) throw new AppError("NOT_READY", "event type registry is loading");
    return types;
  };
  const storedTotal = new Counter({ name: "switchyard_events_stored_total", help: "Events stored by this node", registers: [ctx.metrics] });
  const deadTotal = new Counter({ name: "switchyard_events_dead_lettered_total", help: "Events dead-lettered by this node, by reason code", labelNames: ["code"], registers: [ctx.metrics] });
  const latency = new PromHistogram({
    name: "switchyard_events_intake_to_stored_seconds",
    help: "From the intake stream's timestamp to the store commit",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [ctx.metrics],
  });
  let monitor: DlqMonitor | null = null;
  const processor = new EventProcessor(
    {
      nats: ctx.nats,
      topology: ctx.topology,
      names,
      store,
      registry,
      keyring,
      logger: log.child({ part: "processor" }),
      onDeadLetter: (_tenant, code) => {
        deadTotal.inc({ code });
        monitor?.poke();
      },
      onStored: (_tenant, ms) => {
        storedTotal.inc();
        latency.observe(ms / 1000);
      },
    },
    {
      nodeId: config.nodeId,
      partitions: ec.partitions,
      leaseTtlMs: config.actors.leaseTtlMs,
      maxEventBytes: ec.maxEventBytes,
      quantum: ec.quantum,
      maxBatch: ec.maxBatch,
      writeConcurrency: ec.writeConcurrency,
      tenantBuffer: ec.tenantBuffer,
      maxAttempts: ec.maxAttempts,
      discoverMs: ec.discoverMs,
      idleMs: ec.idleMs,
    },
  );
  const api = createEventsApi({
    nats: ctx.nats,
    names,
    dlqStream: ctx.topology.dlq.stream,
    runtime: ctx.runtime,
    registry,
    types: { define: (name: string, def: TypeDefinition) => typesOrFail().define(name, def) },
    store,
    keyring,
    maxEventBytes: ec.maxEventBytes,
    logger: log,
  });
  let partitionTimer: NodeJS.Timeout | undefined;

  const service: ServiceSchema = {
    name: "events",
    actions: {
      async ingest(c: Ctx) {
        const client = requireScope(c, "events:write");
        const r = await api.ingest(client.id, c.params.body);
        c.meta.$statusCode = 202;
        return r;
      },

      feed(c: Ctx<HttpCallParams<Record<string, string>, { after?: string; limit?: number }>>) {
        const client = requireScope(c, "events:read");
        return api.feed(client.id, c.params.query.after, c.params.query.limit ?? 100);
      },

      types: () => ({ items: api.types() }),

      type(c: Ctx<HttpCallParams<{ name: string }> | { name: string }>) {
        const p = c.params as { params?: { name: string }; name?: string };
        return api.type(String(p.params?.name ?? p.name ?? ""));
      },

      /** HTTP: POST /api/v1/admin/event-types/{name}/versions; REPL: `call events.defineType --name x --schema {...}`. */
      async defineType(c: Ctx<HttpCallParams<{ name: string }, Record<string, unknown>, TypeDefinition> | { name: string; schema: Record<string, unknown>; description?: string }>) {
        operator(c);
        const p = c.params as Partial<HttpCallParams<{ name: string }, Record<string, unknown>, TypeDefinition>> & { name?: string; schema?: Record<string, unknown>; description?: string };
        const name = String(p.params?.name ?? p.name ?? "");
        const def: TypeDefinition = p.body ?? { schema: p.schema as Record<string, unknown>, ...(typeof p.description === "string" ? { description: p.description } : {}) };
        const v = await api.defineType(name, def);
        if (clientOf(c)) {
          c.meta.$statusCode = 201;
          c.meta.$location = `/api/v1/event-types/${encodeURIComponent(name)}`;
        }
        log.info({ type: v.name, version: v.version, by: clientOf(c)?.id ?? "operator" }, "event type version defined");
        return v;
      },

      async dlqList(c: Ctx<HttpCallParams<Record<string, string>, { tenant?: string; after?: number; limit?: number }> | { tenant?: string; after?: number; limit?: number }>) {
        operator(c);
        const q = ((c.params as { query?: unknown }).query ?? c.params) as { tenant?: string; after?: number | string; limit?: number | string };
        const items = await api.deadLetters({
          ...(typeof q.tenant === "string" && q.tenant !== "" ? { tenant: q.tenant } : {}),
          ...(q.after !== undefined ? { afterSeq: Number(q.after) } : {}),
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
        });
        if (monitor) await monitor.check().catch(() => undefined);
        return { items, depths: monitor?.snapshot() ?? {} };
      },

      async dlqReplay(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { seqs: number[] }> | { seqs: number[] }>) {
        operator(c);
        const p = c.params as { body?: { seqs?: unknown }; seqs?: unknown };
        const raw = p.body?.seqs ?? p.seqs;
        const seqs = (Array.isArray(raw) ? raw : [raw]).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
        if (seqs.length === 0) throw new AppError("VALIDATION_ERROR", "seqs must list DLQ sequences", [{ path: "/seqs", message: "at least one positive integer" }]);
        const r = await api.replay(seqs);
        log.info({ replayed: r.replayed.length, missing: r.missing.length, by: clientOf(c)?.id ?? "operator" }, "event dead letters replayed");
        return r;
      },

      stats(c: Ctx<unknown>) {
        operator(c);
        return { ...processor.stats(), dlq: monitor?.snapshot() ?? {}, alarms: monitor?.raised ?? 0 };
      },

      /** Operators and benchmarks: merged intake-to-stored latency of some tenants on this node. */
      latency: {
        params: { tenants: { type: "array", items: { type: "string", max: 200 }, max: 100_000 } },
        handler(c: Ctx<{ tenants: string[] }>) {
          operator(c as Ctx<unknown>);
          return processor.latencyOf(c.params.tenants);
        },
      },

      resetStats(c: Ctx<unknown>) {
        operator(c);
        processor.resetStats();
        return true;
      },
    },

    async started() {
      if (ec.devKey) log.warn({ keyId: ec.dataKeyId }, "events: event data is encrypted with the well-known DEV key (dev mode, EVENTS_DATA_KEYS unset); configure EVENTS_DATA_KEYS for anything real");
      const ensure = (): void =>
        void store.ensurePartitions(new Date(), 3).catch((err: unknown) => log.error({ err: (err as Error).message }, "event partitions not ensured"));
      ensure();
      partitionTimer = setInterval(ensure, 24 * 3600_000);
      partitionTimer.unref();
      const t = new TypeStore(await ctx.nats.kvm.open(names.typesBucket), registry, log.child({ part: "types" }));
      await t.start();
      types = t;
      if (!config.workers) return; // an API node: the processor and the DLQ monitor run on worker nodes
      const broker = (this as unknown as { broker: { broadcast(event: string, payload: unknown): Promise<void> } }).broker;
      monitor = new DlqMonitor({
        nats: ctx.nats,
        names,
        dlqStream: ctx.topology.dlq.stream,
        nodeId: config.nodeId,
        metrics: ctx.metrics,
        intervalMs: ec.alarmCheckMs,
        owns: (tenant) => processor.owns(tenant),
        raise: (alarm: DlqAlarm) => void broker.broadcast("alarm.dlq", alarm).catch(() => undefined),
        logger: log.child({ part: "dlq-monitor" }),
      });
      await monitor.start();
      await processor.start();
      ctx.health.register("events", () => ({ ok: processor.isReady(), detail: { partitions: processor.ownedPartitions().length } }));
    },

    async stopped() {
      if (partitionTimer) clearInterval(partitionTimer);
      monitor?.stop();
      await processor.stop();
      types?.stop();
    },
  };
  return [service];
}

/** The events domain (see the module doc). */
export const eventsDomain = defineDomain({
  name: "events",
  config: eventsConfig,
  summary: "multi-tenant event intake: envelope and per-type schema validation, an event store per (client, event id), DLQ, per-client fairness, a sender feed",
  declare: (config, topo) => ({ migrations: eventMigrations, streams: eventDeclarations(topo, config), routes: eventRoutes }),
  start: (ctx) => ({ services: createEventServices(ctx) }),
});
