/**
 * Operator commands for the Moleculer REPL (`npm run repl`): partitions, actors, streams,
 * dlq list, dlq replay. Each command is a plain function over a broker joined to the cluster,
 * so tests call exactly what the REPL runs.
 */
import { readFileSync } from "node:fs";
import { DOMAINS } from "../services";
import type { ReplCommand } from "./domain";
import type { ServiceBroker } from "moleculer";
import type { ConsumerStats, DlqEntry, PartitionOwnership } from "../actors/types";

/** Node ids that run the `runtime` service. */
function runtimeNodes(broker: ServiceBroker): string[] {
  const nodes = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false }) as Array<{ name: string; nodeID: string }>;
  return [...new Set(nodes.filter((s) => s.name === "runtime").map((s) => s.nodeID))].sort();
}

/** Who owns which partition: one row per (kind, partition). */
export async function partitionsCommand(broker: ServiceBroker): Promise<PartitionOwnership[]> {
  const r = (await broker.call("runtime.partitions")) as { partitions: PartitionOwnership[] };
  return r.partitions;
}

/** Resident actors per kind on every node. */
export async function actorsCommand(broker: ServiceBroker): Promise<Array<{ node: string; actors: Record<string, number>; heapUsed: number }>> {
  return Promise.all(runtimeNodes(broker).map((nodeID) => broker.call("runtime.actors", {}, { nodeID }) as Promise<{ node: string; actors: Record<string, number>; heapUsed: number }>));
}

/** Pending, ack-pending and redelivered counts of every consumer. */
export async function streamsCommand(broker: ServiceBroker): Promise<ConsumerStats[]> {
  return (await broker.call("runtime.streams")) as ConsumerStats[];
}

/** Dead letters (optionally filtered by subject pattern). */
export async function dlqListCommand(broker: ServiceBroker, opts: { filter?: string; limit?: number; afterSeq?: number }): Promise<DlqEntry[]> {
  return (await broker.call("runtime.dlqList", opts)) as DlqEntry[];
}

/** Replays dead letters by DLQ sequence. */
export async function dlqReplayCommand(broker: ServiceBroker, opts: { seqs: number[] }): Promise<{ replayed: number[]; missing: number[] }> {
  return (await broker.call("runtime.dlqReplay", opts)) as { replayed: number[]; missing: number[] };
}

/** Client administration through the `clients` service (the same code as the admin routes and CLI). */
export const clientCommands = {
  create: (broker: ServiceBroker, input: { name: string; scopes: string[]; webhookUrl?: string }) =>
    broker.call("clients.create", { params: {}, query: {}, body: input }) as Promise<Record<string, unknown>>,
  list: (broker: ServiceBroker, query: { limit?: number; after?: string; status?: string } = {}) =>
    broker.call("clients.list", { params: {}, query }) as Promise<{ items: Array<Record<string, unknown>>; nextCursor?: string | null }>,
  suspend: (broker: ServiceBroker, id: string) => broker.call("clients.suspend", { params: { id }, query: {} }) as Promise<Record<string, unknown>>,
  activate: (broker: ServiceBroker, id: string) => broker.call("clients.activate", { params: { id }, query: {} }) as Promise<Record<string, unknown>>,
  rotate: (broker: ServiceBroker, id: string, overlapSeconds?: number) =>
    broker.call("clients.rotate", { params: { id }, query: {}, body: overlapSeconds !== undefined ? { overlapSeconds } : {} }) as Promise<Record<string, unknown>>,
};

/** Events domain operations through the `events` service (the same code as its admin routes). */
export const eventCommands = {
  /** Every event type with its versions. */
  types: (broker: ServiceBroker) =>
    broker.call("events.types") as Promise<{ items: Array<{ name: string; latest: number; versions: Array<{ version: number; description: string; createdAt: string; schema: unknown }> }> }>,
  /** Registers the next version of a type (its schema is a JSON Schema object). */
  define: (broker: ServiceBroker, name: string, schema: Record<string, unknown>, description?: string) =>
    broker.call("events.defineType", { name, schema, ...(description ? { description } : {}) }) as Promise<{ name: string; version: number }>,
  /** Dead-lettered events (optionally of one tenant) and the DLQ depth per tenant. */
  dlq: (broker: ServiceBroker, opts: { tenant?: string; after?: number; limit?: number } = {}) =>
    broker.call("events.dlqList", opts) as Promise<{ items: Array<{ seq: number; tenant: string; code: string | null; reason: string; failedAt: string }>; depths: Record<string, number> }>,
  /** Replays dead-lettered events by DLQ sequence. */
  replay: (broker: ServiceBroker, seqs: number[]) => broker.call("events.dlqReplay", { seqs }) as Promise<{ replayed: number[]; missing: number[] }>,
  /** Processor counters of every node hosting the events service. */
  stats: async (broker: ServiceBroker) => {
    const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false }) as Array<{ name: string; nodeID: string }>;
    const nodes = [...new Set(services.filter((s) => s.name === "events").map((s) => s.nodeID))].sort();
    return Promise.all(nodes.map((nodeID) => broker.call("events.stats", {}, { nodeID }) as Promise<{ node: string; partitions: number[]; workers: number; batches: number; tenants: Record<string, Record<string, number>>; dlq: Record<string, number> }>));
  },
};

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** The REPL's custom command definitions. */
export function replCommands(): ReplCommand[] {
  return [...platformCommands(), ...DOMAINS.flatMap((d) => d.repl ?? [])];
}

/** The runtime's commands (every domain adds its own through its module's `repl`). */
function platformCommands(): ReplCommand[] {
  return [
    {
      command: "partitions",
      description: "Who owns which partition of each actor kind",
      action: async (broker, _args, { table }) => {
        const rows = await partitionsCommand(broker);
        print(table([["kind", "partition", "owner", "desired"], ...rows.map((r) => [r.kind, r.partition, r.owner ?? "-", r.desired ?? "-"])]));
      },
    },
    {
      command: "actors",
      description: "Resident actors per kind on each node",
      action: async (broker, _args, { table }) => {
        const rows = await actorsCommand(broker);
        print(table([["node", "actors", "heap MB"], ...rows.map((r) => [r.node, JSON.stringify(r.actors), (r.heapUsed / 1048576).toFixed(1)])]));
      },
    },
    {
      command: "streams",
      description: "Pending, ack-pending and redelivered messages per consumer",
      action: async (broker, _args, { table }) => {
        const rows = await streamsCommand(broker);
        print(table([["stream", "consumer", "pending", "ack pending", "redelivered", "waiting"], ...rows.map((r) => [r.stream, r.consumer, r.pending, r.ackPending, r.redelivered, r.waiting])]));
      },
    },
    {
      command: "dlq-list",
      description: "List dead letters: dlq-list [--filter subject.pattern] [--limit N] [--after SEQ]",
      options: [
        { option: "-f, --filter <filter>", description: "subject filter, e.g. sy.dlq.actor.receipt.>" },
        { option: "-l, --limit <limit>", description: "at most this many (default 100)" },
        { option: "-a, --after <after>", description: "entries after this DLQ sequence" },
      ],
      action: async (broker, args, { table }) => {
        const o = args.options;
        const rows = await dlqListCommand(broker, {
          ...(typeof o["filter"] === "string" ? { filter: o["filter"] } : {}),
          ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
          ...(o["after"] !== undefined ? { afterSeq: Number(o["after"]) } : {}),
        });
        print(table([["seq", "original subject", "attempts", "deliveries", "failed at", "error"], ...rows.map((r) => [r.seq, r.originalSubject, r.attempts, r.deliveryCount, r.failedAt, r.error.slice(0, 80)])]));
      },
    },
    {
      command: "dlq-replay <seqs...>",
      description: "Replay dead letters by sequence: dlq-replay 12 13 14",
      action: async (broker, args) => {
        const raw = args["seqs"];
        const seqs = (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/)).map(Number).filter((n) => Number.isInteger(n) && n > 0);
        const r = await dlqReplayCommand(broker, { seqs });
        print(`replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}`);
      },
    },
    {
      command: "clients-create",
      description: "Create a client: clients-create --name acme --scopes receipts:read,receipts:write [--webhook-url URL] (prints its API key once)",
      options: [
        { option: "-n, --name <name>", description: "client name" },
        { option: "-s, --scopes <scopes>", description: "comma-separated scopes" },
        { option: "-w, --webhook-url <url>", description: "webhook URL" },
      ],
      action: async (broker, args) => {
        const o = args.options;
        const scopes = String(o["scopes"] ?? "").split(",").map((x) => x.trim()).filter(Boolean);
        const webhookUrl = typeof o["webhookUrl"] === "string" ? o["webhookUrl"] : undefined;
        print(JSON.stringify(await clientCommands.create(broker, { name: String(o["name"] ?? ""), scopes, ...(webhookUrl ? { webhookUrl } : {}) }), null, 2));
      },
    },
    {
      command: "clients-list",
      description: "List clients: clients-list [--status active|suspended] [--limit N]",
      options: [
        { option: "--status <status>", description: "active or suspended" },
        { option: "-l, --limit <limit>", description: "page size" },
      ],
      action: async (broker, args, { table }) => {
        const o = args.options;
        const page = await clientCommands.list(broker, {
          ...(typeof o["status"] === "string" ? { status: o["status"] } : {}),
          ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
        });
        print(table([["id", "name", "status", "scopes"], ...page.items.map((c) => [String(c["id"]), String(c["name"]), String(c["status"]), JSON.stringify(c["scopes"])])]));
      },
    },
    {
      command: "clients-suspend <id>",
      description: "Suspend a client (refused on every node within seconds)",
      action: async (broker, args) => print(JSON.stringify(await clientCommands.suspend(broker, String(args["id"])))),
    },
    {
      command: "clients-activate <id>",
      description: "Re-activate a suspended client",
      action: async (broker, args) => print(JSON.stringify(await clientCommands.activate(broker, String(args["id"])))),
    },
    {
      command: "clients-rotate <id>",
      description: "Issue a new API key: clients-rotate <id> [--overlap SECONDS] (old keys keep working for the overlap)",
      options: [{ option: "--overlap <seconds>", description: "how long old keys keep working" }],
      action: async (broker, args) => {
        const overlap = args.options["overlap"];
        print(JSON.stringify(await clientCommands.rotate(broker, String(args["id"]), overlap !== undefined ? Number(overlap) : undefined), null, 2));
      },
    },
    {
      command: "event-types",
      description: "Event types with their versions",
      action: async (broker, _args, { table }) => {
        const r = await eventCommands.types(broker);
        print(table([["type", "latest", "versions", "description"], ...r.items.map((t) => [t.name, t.latest, t.versions.map((v) => v.version).join(","), (t.versions.at(-1)?.description ?? "").slice(0, 60)])]));
      },
    },
    {
      command: "event-type-define <name> <schema>",
      description: "Register the next version of an event type: event-type-define order.created '{\"type\":\"object\"}' (or @file.json) [--description TEXT]",
      options: [{ option: "-d, --description <text>", description: "what the type means" }],
      action: async (broker, args) => {
        const raw = String(args["schema"] ?? "");
        const text = raw.startsWith("@") ? readFileSync(raw.slice(1), "utf8") : raw;
        const d = args.options["description"];
        const v = await eventCommands.define(broker, String(args["name"]), JSON.parse(text) as Record<string, unknown>, typeof d === "string" ? d : undefined);
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
        print(table([["seq", "tenant", "code", "failed at", "reason"], ...r.items.map((e) => [e.seq, e.tenant, e.code ?? "-", e.failedAt, e.reason.slice(0, 80)])]));
        print(`depth per tenant: ${JSON.stringify(r.depths)}`);
      },
    },
    {
      command: "events-replay <seqs...>",
      description: "Replay dead-lettered events by DLQ sequence: events-replay 12 13",
      action: async (broker, args) => {
        const raw = args["seqs"];
        const seqs = (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/)).map(Number).filter((n) => Number.isInteger(n) && n > 0);
        const r = await eventCommands.replay(broker, seqs);
        print(`replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}`);
      },
    },
    {
      command: "events-stats",
      description: "Event processor counters per node: partitions, tenants, stored, duplicates, dead letters, latency",
      action: async (broker, _args, { table }) => {
        const rows: unknown[][] = [["node", "tenant", "received", "stored", "duplicates", "dead", "queued", "p50 ms", "p99 ms"]];
        for (const s of await eventCommands.stats(broker)) {
          rows.push([s.node, `(partitions ${s.partitions.join(",")})`, "", "", "", "", "", "", ""]);
          for (const [t, c] of Object.entries(s.tenants)) rows.push([s.node, t, c["received"], c["stored"], c["duplicates"], c["deadLettered"], c["queued"], c["latencyP50"], c["latencyP99"]]);
        }
        print(table(rows));
      },
    },
  ];
}
