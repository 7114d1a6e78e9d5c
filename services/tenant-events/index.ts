/**
 * The events domain module: multi-tenant event intake (a NATS subject per tenant and POST
 * /api/v1/events), the versioned type registry (KV, watched), the encrypted event store
 * (Postgres, monthly partitions), fair per-tenant processing, the DLQ with its alarm, and both
 * sender feeds (the {ns}.events.out.{tenant} stream and GET /api/v1/events). See README.md.
 *
 * `start` builds this node's parts over the node's connections; the service's `started` hook
 * starts the loops (type watch, partition upkeep, and on worker nodes the DLQ monitor and the
 * processor), and the module's `stop` stops them, before the broker stops.
 */
import type { ServiceBroker } from "moleculer";
import { Counter, Histogram } from "prom-client";
import type { NodeContext } from "../../node/context";
import { defineDomain, type DomainStarted } from "../../node/domain";
import { AppError, errorMessage } from "../../lib/errors";
import { eventsConfig } from "./config";
import { eventDeclarations, eventNames } from "./streams";
import { createEventsApi } from "./api";
import { createEventStore, eventMigrations } from "./store";
import { DataKeyring } from "./crypto";
import { DlqMonitor } from "./alarms";
import { EventProcessor } from "./processor";
import { EventTypeRegistry } from "./registry";
import { eventRoutes } from "./routes";
import { eventReplCommands } from "./repl";
import { createEventsService } from "./service";
import { TypeStore } from "./types-store";

/** Builds this node's events parts and service; the returned `stop` ends the loops the service started. */
function startEvents(ctx: NodeContext): DomainStarted<never> {
  const { config } = ctx;
  const ec = config.tenantEvents;
  const log = ctx.logger.child({ domain: "tenant-events" });
  const names = eventNames(config.namespace);
  const store = createEventStore({ pg: ctx.pg });
  const keyring = new DataKeyring(ec.dataKeys, ec.dataKeyId);
  const registry = new EventTypeRegistry();
  const storedTotal = new Counter({
    name: "switchyard_events_stored_total",
    help: "Events stored by this node",
    registers: [ctx.metrics],
  });
  const deadTotal = new Counter({
    name: "switchyard_events_dead_lettered_total",
    help: "Events dead-lettered by this node, by reason code",
    labelNames: ["code"],
    registers: [ctx.metrics],
  });
  const latency = new Histogram({
    name: "switchyard_events_intake_to_stored_seconds",
    help: "From the intake stream's timestamp to the store commit",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [ctx.metrics],
  });

  let types: TypeStore | null = null;
  let monitor: DlqMonitor | null = null;
  let partitionTimer: NodeJS.Timeout | undefined;
  let stopped = false;

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
    types: {
      define: (name, def) => {
        if (!types) throw new AppError("NOT_READY", "event type registry is loading");
        return types.define(name, def);
      },
    },
    store,
    keyring,
    maxEventBytes: ec.maxEventBytes,
    logger: log,
  });

  /** The service's `started`: the type watch and partition upkeep everywhere, the processor and DLQ monitor on workers. */
  const startLoops = async (broker: ServiceBroker): Promise<void> => {
    if (ec.devKey) {
      log.warn(
        { keyId: ec.dataKeyId },
        "events: event data is encrypted with the well-known DEV key (dev mode, EVENTS_DATA_KEYS unset); configure EVENTS_DATA_KEYS for anything real",
      );
    }
    const ensure = (): void =>
      void store
        .ensurePartitions(new Date(), 3)
        .catch((err: unknown) => log.error({ err: errorMessage(err) }, "event partitions not ensured"));
    ensure();
    partitionTimer = setInterval(ensure, 24 * 3600_000);
    partitionTimer.unref();
    const t = new TypeStore(await ctx.nats.kvm.open(names.typesBucket), registry, log.child({ part: "types" }));
    await t.start();
    types = t;
    if (stopped) return stopLoops();
    if (!config.workers) return; // an API node: the processor and the DLQ monitor run on worker nodes
    monitor = new DlqMonitor({
      nats: ctx.nats,
      names,
      dlqStream: ctx.topology.dlq.stream,
      nodeId: config.nodeId,
      metrics: ctx.metrics,
      intervalMs: ec.alarmCheckMs,
      owns: (tenant) => processor.owns(tenant),
      raise: (alarm) => void broker.broadcast("alarm.dlq", alarm).catch(() => undefined),
      logger: log.child({ part: "dlq-monitor" }),
    });
    await monitor.start();
    await processor.start();
    ctx.health.register("events", () => ({
      ok: processor.isReady(),
      detail: { partitions: processor.ownedPartitions().length },
    }));
    if (stopped) return stopLoops();
  };

  /** The module's `stop`: ends every loop (idempotent; processor.stop drains and releases its partitions). */
  const stopLoops = async (): Promise<void> => {
    stopped = true;
    if (partitionTimer) clearInterval(partitionTimer);
    monitor?.stop();
    await processor.stop();
    types?.stop();
  };

  const service = createEventsService({
    api,
    logger: log,
    stats: () => ({ ...processor.stats(), dlq: monitor?.snapshot() ?? {}, alarms: monitor?.raised ?? 0 }),
    dlqDepths: async () => {
      if (monitor) await monitor.check().catch(() => undefined);
      return monitor?.snapshot() ?? {};
    },
    latencyOf: (tenants) => processor.latencyOf(tenants),
    resetStats: () => processor.resetStats(),
    started: startLoops,
  });
  return { services: [service], stop: stopLoops };
}

/** The events domain (see the module doc); services/index.ts lists it. */
export const eventsDomain = defineDomain({
  name: "tenant-events",
  aliases: ["events"],
  config: eventsConfig,
  summary:
    "multi-tenant event intake: envelope and per-type schema validation, an event store per (client, event id), DLQ, per-client fairness, a sender feed",
  declare: (config, topo) => ({
    migrations: eventMigrations,
    streams: eventDeclarations(topo, config),
    routes: eventRoutes,
    // operator console pages over the admin routes above
    consolePages: [
      {
        id: "stats",
        title: "Tenant event stats",
        description: "The answering node's processor counters and the DLQ depth per tenant",
        inputs: [],
        path: "/api/v1/admin/events/stats",
      },
      {
        id: "dlq",
        title: "A tenant's dead-lettered events",
        description: "Events of one tenant that could not be stored, with their reasons",
        inputs: [{ name: "tenant", label: "tenant (client id)", pattern: "^[A-Za-z0-9_-]{1,64}$" }],
        path: "/api/v1/admin/events/dlq?tenant={tenant}",
        table: "/items",
      },
    ],
  }),
  start: startEvents,
  repl: eventReplCommands,
});
