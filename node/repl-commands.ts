/**
 * Operator commands for the Moleculer REPL (`npm run repl`): partitions, actors, streams,
 * state, dlq list, dlq replay. Each command is a plain function over a broker joined to the cluster,
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

/** Orders "p2" before "p10" and 2 before 10. */
const byNumber = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true });

/**
 * Services other than `runtime` whose `<service>.partitions` action answers
 * `{ node, partitions: PartitionOwnership[] }` (a domain that leases partitions of its own,
 * such as an event processor with its own leases), with the nodes that host each.
 */
function partitionSources(broker: ServiceBroker): Map<string, string[]> {
  const actions = broker.registry.getActionList({
    onlyAvailable: true,
    skipInternal: true,
    withEndpoints: true,
  }) as Array<{
    name: string;
    endpoints?: Array<{ nodeID: string }>;
  }>;
  const out = new Map<string, string[]>();
  for (const a of actions) {
    if (!a.name.endsWith(".partitions") || a.name === "runtime.partitions") continue;
    out.set(a.name, [...new Set((a.endpoints ?? []).map((e) => e.nodeID))].sort());
  }
  return out;
}

/**
 * Who owns which partition: one row per (kind, partition), sorted by kind then partition
 * number: the actor runtime's kinds and every domain's own partitions (see partitionSources).
 */
export async function partitionsCommand(broker: ServiceBroker): Promise<PartitionOwnership[]> {
  const r = (await broker.call("runtime.partitions")) as { partitions: PartitionOwnership[] };
  const rows = [...r.partitions];
  for (const [action, nodes] of partitionSources(broker)) {
    // a node that does not run the domain's workers answers an empty list: take the first that knows
    for (const nodeID of nodes) {
      const got = (await broker.call(action, {}, { nodeID }).catch(() => null)) as {
        partitions?: PartitionOwnership[];
      } | null;
      if (got?.partitions && got.partitions.length > 0) {
        rows.push(...got.partitions);
        break;
      }
    }
  }
  return rows.sort((a, b) => byNumber(a.kind, b.kind) || a.partition - b.partition);
}

/** One kind's partitions in a line: how many, per owner, without an owner, moving to another node. */
export interface PartitionSummary {
  readonly kind: string;
  readonly partitions: number;
  readonly owners: Readonly<Record<string, number>>;
  readonly unowned: number;
  /** Owned by a node that is not the desired owner (a hand-over is due or under way). */
  readonly moving: number;
}

/** Summarises partition rows per kind (kinds sorted). */
export function summarisePartitions(rows: readonly PartitionOwnership[]): PartitionSummary[] {
  const byKind = new Map<
    string,
    { partitions: number; owners: Record<string, number>; unowned: number; moving: number }
  >();
  for (const r of rows) {
    const k = byKind.get(r.kind) ?? { partitions: 0, owners: {}, unowned: 0, moving: 0 };
    k.partitions++;
    if (r.owner === null) k.unowned++;
    else {
      k.owners[r.owner] = (k.owners[r.owner] ?? 0) + 1;
      if (r.desired !== null && r.desired !== r.owner) k.moving++;
    }
    byKind.set(r.kind, k);
  }
  return [...byKind.entries()].sort(([a], [b]) => byNumber(a, b)).map(([kind, k]) => ({ kind, ...k }));
}

/** One stream's consumers in a line: how many, and their counters summed. */
export interface StreamSummary {
  readonly stream: string;
  readonly consumers: number;
  readonly pending: number;
  readonly ackPending: number;
  readonly redelivered: number;
  readonly waiting: number;
}

/** Summarises consumer rows per stream (streams sorted). */
export function summariseStreams(rows: readonly ConsumerStats[]): StreamSummary[] {
  const by = new Map<string, StreamSummary>();
  for (const r of rows) {
    const s = by.get(r.stream) ?? {
      stream: r.stream,
      consumers: 0,
      pending: 0,
      ackPending: 0,
      redelivered: 0,
      waiting: 0,
    };
    by.set(r.stream, {
      stream: r.stream,
      consumers: s.consumers + 1,
      pending: s.pending + r.pending,
      ackPending: s.ackPending + r.ackPending,
      redelivered: s.redelivered + r.redelivered,
      waiting: s.waiting + r.waiting,
    });
  }
  return [...by.values()].sort((a, b) => byNumber(a.stream, b.stream));
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

/** Pending, ack-pending and redelivered counts of every consumer, sorted by stream then consumer (p2 before p10). */
export async function streamsCommand(broker: ServiceBroker): Promise<ConsumerStats[]> {
  const rows = (await broker.call("runtime.streams")) as ConsumerStats[];
  return [...rows].sort((a, b) => byNumber(a.stream, b.stream) || byNumber(a.consumer, b.consumer));
}

/** The stored state of actor `key` of `kind` (undefined when it has none yet). */
export async function stateCommand(broker: ServiceBroker, kind: string, key: string): Promise<unknown> {
  return broker.call("runtime.state", { kind, key });
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
      description:
        "Partitions per kind (actor kinds and the partitions domains lease themselves): owners, unowned, moving; --all: every partition",
      options: [
        { option: "-a, --all", description: "one row per partition (sorted by kind, then number)" },
        { option: "-k, --kind <kind>", description: "only this kind" },
      ],
      action: async (broker, args, { table }) => {
        const kind = args.options["kind"];
        const rows = (await partitionsCommand(broker)).filter((r) => typeof kind !== "string" || r.kind === kind);
        print(
          table([
            ["kind", "partitions", "owners (node: count)", "unowned", "moving"],
            ...summarisePartitions(rows).map((k) => [
              k.kind,
              k.partitions,
              Object.entries(k.owners)
                .sort(([a], [b]) => byNumber(a, b))
                .map(([n, c]) => `${n}: ${c}`)
                .join(", ") || "-",
              k.unowned,
              k.moving,
            ]),
          ]),
        );
        if (args.options["all"])
          print(
            table([
              ["kind", "partition", "owner", "desired"],
              ...rows.map((r) => [r.kind, r.partition, r.owner ?? "-", r.desired ?? "-"]),
            ]),
          );
        else print(`${rows.length} partitions; \`partitions --all\` lists each`);
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
      description: "Pending, ack-pending and redelivered messages per stream; --all: per consumer",
      options: [
        { option: "-a, --all", description: "one row per consumer (sorted by stream, then consumer: p2 before p10)" },
        { option: "-s, --stream <stream>", description: "only this stream" },
      ],
      action: async (broker, args, { table }) => {
        const only = args.options["stream"];
        const rows = (await streamsCommand(broker)).filter((r) => typeof only !== "string" || r.stream === only);
        print(
          table([
            ["stream", "consumers", "pending", "ack pending", "redelivered", "waiting"],
            ...summariseStreams(rows).map((s) => [
              s.stream,
              s.consumers,
              s.pending,
              s.ackPending,
              s.redelivered,
              s.waiting,
            ]),
          ]),
        );
        if (args.options["all"])
          print(
            table([
              ["stream", "consumer", "pending", "ack pending", "redelivered", "waiting"],
              ...rows.map((r) => [r.stream, r.consumer, r.pending, r.ackPending, r.redelivered, r.waiting]),
            ]),
          );
        else print(`${rows.length} consumers; \`streams --all\` lists each`);
      },
    },
    {
      command: "state <kind> <key>",
      description: "An actor's stored state (JSON): state <kind> <key>, e.g. the key an actor is addressed by",
      action: async (broker, args) => {
        const kind = String(args["kind"] ?? "");
        const key = String(args["key"] ?? "");
        const state = await stateCommand(broker, kind, key);
        print(state === undefined || state === null ? `no state for ${kind} ${key}` : JSON.stringify(state, null, 2));
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
