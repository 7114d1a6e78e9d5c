/**
 * The events domain's REPL commands (`npm run repl`): event types, defining a version, the
 * events' dead letters and their replay, processor counters per node. Each command calls the
 * `events` service through its typed contract ({@link EventsServiceApi}), the same actions as the
 * admin routes; {@link eventCommands} are the functions the commands run, for tests and tools.
 */
import { readFileSync } from "node:fs";
import type { CallingOptions, ServiceBroker } from "moleculer";
import type { ReplCommand } from "../../node/domain";
import { isJsonObject } from "./model";
import type { EventsServiceApi } from "./service";

/** Calls `action` of the events service with its contract's params and result types. */
function callEvents<A extends keyof EventsServiceApi>(
  broker: ServiceBroker,
  action: A,
  params: EventsServiceApi[A]["params"],
  opts?: CallingOptions,
): Promise<EventsServiceApi[A]["result"]> {
  return broker.call<EventsServiceApi[A]["result"], EventsServiceApi[A]["params"]>(action, params, opts);
}

/** Node ids that run the `events` service, sorted. */
function eventsNodes(broker: ServiceBroker): string[] {
  const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false });
  return [
    ...new Set(services.filter((s) => s.name === "events").flatMap((s) => (s.nodeID !== undefined ? [s.nodeID] : []))),
  ].sort();
}

/** Events domain operations through the `events` service (the same code as its admin routes). */
export const eventCommands = {
  /** Every event type with its versions. */
  types: (broker: ServiceBroker) => callEvents(broker, "events.types", {}),
  /** Registers the next version of a type (its schema is a JSON Schema object). */
  define: (broker: ServiceBroker, name: string, schema: Record<string, unknown>, description?: string) =>
    callEvents(broker, "events.defineType", { name, schema, ...(description ? { description } : {}) }),
  /** Dead-lettered events (optionally of one tenant) and the DLQ depth per tenant. */
  dlq: (broker: ServiceBroker, opts: EventsServiceApi["events.dlqList"]["params"] = {}) =>
    callEvents(broker, "events.dlqList", opts),
  /** Replays dead-lettered events by DLQ sequence. */
  replay: (broker: ServiceBroker, seqs: number[]) => callEvents(broker, "events.dlqReplay", { seqs }),
  /** Processor counters of every node hosting the events service. */
  stats: (broker: ServiceBroker) =>
    Promise.all(eventsNodes(broker).map((nodeID) => callEvents(broker, "events.stats", {}, { nodeID }))),
};

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** DLQ sequences from a REPL argument (a list, or one string of numbers separated by spaces or commas). */
function seqsOf(raw: unknown): number[] {
  return (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/))
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** A schema argument: inline JSON or `@file.json`; it must be a JSON object. */
function schemaOf(raw: string): Record<string, unknown> {
  const text = raw.startsWith("@") ? readFileSync(raw.slice(1), "utf8") : raw;
  const schema: unknown = JSON.parse(text);
  if (!isJsonObject(schema)) throw new Error("the schema must be a JSON object");
  return schema;
}

/** The events domain's commands (the module's `repl`). */
export const eventReplCommands: readonly ReplCommand[] = [
  {
    command: "event-types",
    description: "Event types with their versions",
    action: async (broker, _args, { table }) => {
      const r = await eventCommands.types(broker);
      print(
        table([
          ["type", "latest", "versions", "description"],
          ...r.items.map((t) => [
            t.name,
            t.latest,
            t.versions.map((v) => v.version).join(","),
            (t.versions.at(-1)?.description ?? "").slice(0, 60),
          ]),
        ]),
      );
    },
  },
  {
    command: "event-type-define <name> <schema>",
    description:
      'Register the next version of an event type: event-type-define order.created \'{"type":"object"}\' (or @file.json) [--description TEXT]',
    options: [{ option: "-d, --description <text>", description: "what the type means" }],
    action: async (broker, args) => {
      const d = args.options["description"];
      const v = await eventCommands.define(
        broker,
        String(args["name"]),
        schemaOf(String(args["schema"] ?? "")),
        typeof d === "string" ? d : undefined,
      );
      print(`defined ${v.name} v${v.version}`);
    },
  },
  {
    command: "events-dlq",
    description: "Dead-lettered events with their reasons: events-dlq [--tenant T] [--limit N] [--after SEQ]",
    options: [
      { option: "-t, --tenant <tenant>", description: "one tenant only" },
      { option: "-l, --limit <limit>", description: "at most this many (default 100)" },
      { option: "-a, --after <after>", description: "entries after this DLQ sequence" },
    ],
    action: async (broker, args, { table }) => {
      const o = args.options;
      const r = await eventCommands.dlq(broker, {
        ...(typeof o["tenant"] === "string" ? { tenant: o["tenant"] } : {}),
        ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
        ...(o["after"] !== undefined ? { after: Number(o["after"]) } : {}),
      });
      print(
        table([
          ["seq", "tenant", "code", "failed at", "reason"],
          ...r.items.map((e) => [e.seq, e.tenant, e.code ?? "-", e.failedAt, e.reason.slice(0, 80)]),
        ]),
      );
      print(`depth per tenant: ${JSON.stringify(r.depths)}`);
    },
  },
  {
    command: "events-replay <seqs...>",
    description: "Replay dead-lettered events by DLQ sequence: events-replay 12 13",
    action: async (broker, args) => {
      const r = await eventCommands.replay(broker, seqsOf(args["seqs"]));
      print(`replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}`);
    },
  },
  {
    command: "events-stats",
    description: "Event processor counters per node: partitions, tenants, stored, duplicates, dead letters, latency",
    action: async (broker, _args, { table }) => {
      const rows: unknown[][] = [
        ["node", "tenant", "received", "stored", "duplicates", "dead", "queued", "p50 ms", "p99 ms"],
      ];
      for (const s of await eventCommands.stats(broker)) {
        rows.push([s.node, `(partitions ${s.partitions.join(",")})`, "", "", "", "", "", "", ""]);
        for (const [t, c] of Object.entries(s.tenants))
          rows.push([
            s.node,
            t,
            c.received,
            c.stored,
            c.duplicates,
            c.deadLettered,
            c.queued,
            c.latencyP50,
            c.latencyP99,
          ]);
      }
      print(table(rows));
    },
  },
];
