/**
 * Operator commands for the Moleculer REPL (`npm run repl`): partitions, actors, streams,
 * dlq list, dlq replay. Each command is a plain function over a broker joined to the cluster,
 * so tests call exactly what the REPL runs.
 */
import { DOMAINS } from "../services";
import type { ReplCommand } from "./domain";
import type { ServiceBroker } from "moleculer";
import type { ConsumerStats, DlqEntry, PartitionOwnership } from "../actors/types";

/** Node ids that run the `runtime` service. */
function runtimeNodes(broker: ServiceBroker): string[] {
  const nodes = broker.registry.getServiceList({
    onlyAvailable: true,
    skipInternal: true,
    withActions: false,
  }) as Array<{ name: string; nodeID: string }>;
  return [...new Set(nodes.filter((s) => s.name === "runtime").map((s) => s.nodeID))].sort();
}

/** Who owns which partition: one row per (kind, partition). */
export async function partitionsCommand(broker: ServiceBroker): Promise<PartitionOwnership[]> {
  const r = (await broker.call("runtime.partitions")) as { partitions: PartitionOwnership[] };
  return r.partitions;
}

/** Resident actors per kind on every node. */
export async function actorsCommand(
  broker: ServiceBroker,
): Promise<Array<{ node: string; actors: Record<string, number>; heapUsed: number }>> {
  return Promise.all(
    runtimeNodes(broker).map(
      (nodeID) =>
        broker.call("runtime.actors", {}, { nodeID }) as Promise<{
          node: string;
          actors: Record<string, number>;
          heapUsed: number;
        }>,
    ),
  );
}

/** Pending, ack-pending and redelivered counts of every consumer. */
export async function streamsCommand(broker: ServiceBroker): Promise<ConsumerStats[]> {
  return (await broker.call("runtime.streams")) as ConsumerStats[];
}

/** Dead letters (optionally filtered by subject pattern). */
export async function dlqListCommand(
  broker: ServiceBroker,
  opts: { filter?: string; limit?: number; afterSeq?: number },
): Promise<DlqEntry[]> {
  return (await broker.call("runtime.dlqList", opts)) as DlqEntry[];
}

/** Replays dead letters by DLQ sequence. */
export async function dlqReplayCommand(
  broker: ServiceBroker,
  opts: { seqs: number[] },
): Promise<{ replayed: number[]; missing: number[] }> {
  return (await broker.call("runtime.dlqReplay", opts)) as { replayed: number[]; missing: number[] };
}

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
        print(
          table([
            ["kind", "partition", "owner", "desired"],
            ...rows.map((r) => [r.kind, r.partition, r.owner ?? "-", r.desired ?? "-"]),
          ]),
        );
      },
    },
    {
      command: "actors",
      description: "Resident actors per kind on each node",
      action: async (broker, _args, { table }) => {
        const rows = await actorsCommand(broker);
        print(
          table([
            ["node", "actors", "heap MB"],
            ...rows.map((r) => [r.node, JSON.stringify(r.actors), (r.heapUsed / 1048576).toFixed(1)]),
          ]),
        );
      },
    },
    {
      command: "streams",
      description: "Pending, ack-pending and redelivered messages per consumer",
      action: async (broker, _args, { table }) => {
        const rows = await streamsCommand(broker);
        print(
          table([
            ["stream", "consumer", "pending", "ack pending", "redelivered", "waiting"],
            ...rows.map((r) => [r.stream, r.consumer, r.pending, r.ackPending, r.redelivered, r.waiting]),
          ]),
        );
      },
    },
    {
      command: "dlq-list",
      description: "List dead letters: dlq-list [--filter subject.pattern] [--limit N] [--after SEQ]",
      options: [
        { option: "-f, --filter <filter>", description: "subject filter, e.g. sy.dlq.actor.foo.>" },
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
        print(
          table([
            ["seq", "original subject", "attempts", "deliveries", "failed at", "error"],
            ...rows.map((r) => [
              r.seq,
              r.originalSubject,
              r.attempts,
              r.deliveryCount,
              r.failedAt,
              r.error.slice(0, 80),
            ]),
          ]),
        );
      },
    },
    {
      command: "dlq-replay <seqs...>",
      description: "Replay dead letters by sequence: dlq-replay 12 13 14",
      action: async (broker, args) => {
        const raw = args["seqs"];
        const seqs = (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/))
          .map(Number)
          .filter((n) => Number.isInteger(n) && n > 0);
        const r = await dlqReplayCommand(broker, { seqs });
        print(`replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}`);
      },
    },
  ];
}
