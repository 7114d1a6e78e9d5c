/**
 * Operator commands for the Moleculer REPL (`npm run repl`): partitions, actors, streams,
 * dlq list, dlq replay. Each command is a plain function over a broker joined to the cluster,
 * so tests call exactly what the REPL runs.
 */
import { DOMAINS } from "../services";
import type { ReplCommand } from "./domain";
import type { ServiceBroker } from "moleculer";
import type { ConsumerStats, DlqEntry, PartitionOwnership } from "../actors/types";
import type { SupporterView } from "../services/supporters/view";
import type { Backlog as SupportersBacklog, SupporterDlqView } from "../services/supporters/api";

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


/** Supporters domain operations through the `supporters` service (the same code as its admin routes). */
export const supporterCommands = {
  /** One supporter's queue: pending per lane, in flight, parked, last error (no personal data). */
  show: (broker: ServiceBroker, hash: string) => broker.call("supporters.inspect", { hash }) as Promise<SupporterView>,
  /** The backlog per stage and downstream, with breaker states per node. */
  backlog: (broker: ServiceBroker) => broker.call("supporters.backlog", { params: {}, query: {} }) as Promise<SupportersBacklog>,
  /** The supporters' dead letters (optionally of one supporter). */
  dlq: (broker: ServiceBroker, opts: { hash?: string; limit?: number; afterSeq?: number } = {}) => broker.call("supporters.dlqList", opts) as Promise<SupporterDlqView[]>,
  /** Replays supporters' dead letters by DLQ sequence (others are refused). */
  replay: (broker: ServiceBroker, seqs: number[]) => broker.call("supporters.replay", { params: {}, query: {}, body: { seqs } }) as Promise<{ replayed: number[]; missing: number[]; refused: number[] }>,
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
      command: "supporter <hash>",
      description: "A supporter's delivery queue: pending per lane, in flight, attempts, last error, parked",
      action: async (broker, args, { table }) => {
        const v = await supporterCommands.show(broker, String(args["hash"] ?? ""));
        if (!v.known) return print(`supporter ${v.hash}: never seen`);
        print(`supporter ${v.hash}: pending user ${v.pending.user}, erp ${v.pending.erp}; received ${v.counts.received}, delivered user ${v.counts.userDelivered} / erp ${v.counts.erpDelivered}, parked ${v.counts.parked}, duplicates ${v.counts.duplicates}${v.forgottenAt ? `; forgotten at ${v.forgottenAt}` : ""}`);
        print(table([["lane", "in flight", "since", "attempts", "last error"], ...(["user", "erp"] as const).map((l) => [l, v.lanes[l].inFlight ?? "-", v.lanes[l].since ?? "-", v.lanes[l].attempts, (v.lanes[l].lastError ?? "-").slice(0, 80)])]));
        if (v.queue.length > 0) print(table([["id", "kind", "received", "types", "user", "erp"], ...v.queue.map((q) => [q.id, q.kind, q.receivedAt, q.types.join(","), q.user, q.erp])]));
        if (v.parked.length > 0) print(table([["parked", "step", "at", "reason"], ...v.parked.map((p) => [p.id, p.step, new Date(p.at).toISOString(), p.reason.slice(0, 80)])]));
      },
    },
    {
      command: "supporters-backlog",
      description: "Supporters backlog per stage and downstream (intake, mailboxes, user, ERP, event log, DLQ) and breakers",
      action: async (broker, _args, { table }) => {
        const b = await supporterCommands.backlog(broker);
        print(`intake pending ${b.intake.pending} (pump on ${b.intake.holder ?? "-"}), mailboxes ${b.mailboxes.pending}, event log ${b.eventLog.pending}, dead letters ${b.dlq.entries}`);
        print(table([["downstream", "messages pending", "oldest pending", "jobs waiting", "breakers"], ...(["user", "erp"] as const).map((d) => [d, b.downstreams[d].messagesPending, b.downstreams[d].oldestPending ?? "-", b.downstreams[d].jobsWaiting, JSON.stringify(b.downstreams[d].breakers)])]));
      },
    },
    {
      command: "supporters-dlq",
      description: "Supporters' dead letters: supporters-dlq [--hash H] [--limit N] [--after SEQ]; replay with supporters-replay",
      options: [
        { option: "-h, --hash <hash>", description: "one supporter's identity hash" },
        { option: "-l, --limit <limit>", description: "at most this many (default 100)" },
        { option: "-a, --after <after>", description: "entries after this DLQ sequence" },
      ],
      action: async (broker, args, { table }) => {
        const o = args.options;
        const rows = await supporterCommands.dlq(broker, {
          ...(typeof o["hash"] === "string" ? { hash: o["hash"] } : {}),
          ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
          ...(o["after"] !== undefined ? { afterSeq: Number(o["after"]) } : {}),
        });
        print(table([["seq", "supporter", "message", "from", "attempts", "failed at", "error"], ...rows.map((r) => [r.seq, r.hash, r.messageId ?? "-", r.from ?? "-", r.attempts, r.failedAt, r.error.slice(0, 80)])]));
      },
    },
    {
      command: "supporters-replay <seqs...>",
      description: "Replay supporters' dead letters by DLQ sequence: supporters-replay 12 13",
      action: async (broker, args) => {
        const raw = args["seqs"];
        const seqs = (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/)).map(Number).filter((n) => Number.isInteger(n) && n > 0);
        const r = await supporterCommands.replay(broker, seqs);
        print(`replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}; refused (not a supporters dead letter): ${r.refused.join(", ") || "none"}`);
      },
    },
  ];
}
