/**
 * The events service, the thin Moleculer layer of the domain: each action checks its caller,
 * parses its input (params.ts), calls the domain's operations (api.ts) or this node's processor
 * and shapes the answer. The parts it calls are built and started by the domain module
 * (index.ts); this file opens nothing and starts nothing itself.
 */
import type { Context, Service, ServiceBroker, ServiceSchema } from "moleculer";
import { clientOf, requireOperator, requireScope, type GatewayMeta } from "../../gateway";
import type { Logger } from "../../lib/logger";
import type { EventsApi } from "./api";
import type { ProcessorStats } from "./processor";
import { defineTypeInput, dlqListInput, dlqReplayInput, feedInput, tenantsInput, typeNameOf } from "./params";

type Ctx = Context<unknown, GatewayMeta>;

/** What `events.stats` answers: this node's processor counters, the DLQ depths and alarms it raised. */
export type EventsStats = ProcessorStats & { readonly dlq: Record<string, number>; readonly alarms: number };

/** Intake-to-stored latency of a group of tenants (`events.latency`). */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The contract of the `events` service for broker callers (REPL, benchmarks, tests), by action. */
export interface EventsServiceApi {
  "events.types": { params: Record<string, never>; result: { items: ReturnType<EventsApi["types"]> } };
  "events.defineType": {
    params: { name: string; schema: Record<string, unknown>; description?: string };
    result: Awaited<ReturnType<EventsApi["defineType"]>>;
  };
  "events.dlqList": {
    params: { tenant?: string; after?: number; limit?: number };
    result: { items: Awaited<ReturnType<EventsApi["deadLetters"]>>; depths: Record<string, number> };
  };
  "events.dlqReplay": { params: { seqs: number[] }; result: Awaited<ReturnType<EventsApi["replay"]>> };
  "events.stats": { params: Record<string, never>; result: EventsStats };
  "events.latency": { params: { tenants: string[] }; result: LatencySummary };
  "events.resetStats": { params: Record<string, never>; result: true };
}

/** What the service's actions call: built by the domain module for this node. */
export interface EventsServiceDeps {
  readonly api: EventsApi;
  readonly logger: Logger;
  /** This node's counters (`events.stats`). */
  stats(): EventsStats;
  /** The DLQ depth per tenant, counted now where this node can. */
  dlqDepths(): Promise<Record<string, number>>;
  latencyOf(tenants: readonly string[]): LatencySummary;
  resetStats(): void;
  /** Starts the domain's loops once the broker runs (the DLQ alarm is a broker event). */
  started(broker: ServiceBroker): Promise<void>;
}

/** The `events` service over `deps`. */
export function createEventsService(deps: EventsServiceDeps): ServiceSchema {
  const { api, logger: log } = deps;
  return {
    name: "events",
    actions: {
      async ingest(c: Ctx) {
        const client = requireScope(c, "events:write");
        const body =
          typeof c.params === "object" && c.params !== null && "body" in c.params ? c.params.body : undefined;
        const r = await api.ingest(client.id, body);
        c.meta.$statusCode = 202;
        return r;
      },

      feed(c: Ctx) {
        const client = requireScope(c, "events:read");
        const { after, limit } = feedInput(c.params);
        return api.feed(client.id, after, limit);
      },

      types: () => ({ items: api.types() }),

      type: (c: Ctx) => api.type(typeNameOf(c.params)),

      /** HTTP: POST /api/v1/admin/event-types/{name}/versions; REPL: `event-type-define`. */
      async defineType(c: Ctx) {
        requireOperator(c);
        const { name, def } = defineTypeInput(c.params);
        const v = await api.defineType(name, def);
        if (clientOf(c)) {
          c.meta.$statusCode = 201;
          c.meta.$location = `/api/v1/event-types/${encodeURIComponent(name)}`;
        }
        log.info({ type: v.name, version: v.version, by: clientOf(c)?.id ?? "operator" }, "event type version defined");
        return v;
      },

      async dlqList(c: Ctx) {
        requireOperator(c);
        const items = await api.deadLetters(dlqListInput(c.params));
        return { items, depths: await deps.dlqDepths() };
      },

      async dlqReplay(c: Ctx) {
        requireOperator(c);
        const r = await api.replay(dlqReplayInput(c.params));
        log.info(
          { replayed: r.replayed.length, missing: r.missing.length, by: clientOf(c)?.id ?? "operator" },
          "event dead letters replayed",
        );
        return r;
      },

      stats(c: Ctx) {
        requireOperator(c);
        return deps.stats();
      },

      /** Operators and benchmarks: merged intake-to-stored latency of some tenants on this node. */
      latency: {
        params: { tenants: { type: "array", items: { type: "string", max: 200 }, max: 100_000 } },
        handler(c: Ctx) {
          requireOperator(c);
          return deps.latencyOf(tenantsInput(c.params));
        },
      },

      resetStats(c: Ctx) {
        requireOperator(c);
        deps.resetStats();
        return true;
      },
    },

    async started(this: Service) {
      await deps.started(this.broker);
    },
  };
}
