/**
 * The runtime's operator surface as a Moleculer service, one instance per node: who owns
 * which partition, resident actors, consumer counters, and the DLQ (list, replay). The REPL
 * commands call these actions on every node. Every action admits operators and nodes only (or
 * an admin client, should a route ever point here): gateway/access.ts `requireOperator`.
 */
import type { ServiceSchema, Context } from "moleculer";
import { requireOperator } from "../../gateway/access";
import type { NodeContext } from "../../node/context";
import type { ConsumerStats, DlqEntry, PartitionOwnership } from "../../actors/types";

/** The contract of the `runtime` service, for typed callers. */
export interface RuntimeApi {
  "runtime.partitions": { params: Record<string, never>; result: { node: string; partitions: PartitionOwnership[] } };
  "runtime.actors": {
    params: Record<string, never>;
    result: {
      node: string;
      actors: Record<string, number>;
      heapUsed: number;
      stats: Record<string, unknown>;
      jobs: Record<string, unknown>;
    };
  };
  "runtime.streams": { params: Record<string, never>; result: ConsumerStats[] };
  "runtime.dlqList": { params: { filter?: string; limit?: number; afterSeq?: number }; result: DlqEntry[] };
  "runtime.dlqReplay": { params: { seqs: number[] }; result: { replayed: number[]; missing: number[] } };
  "runtime.state": { params: { kind: string; key: string }; result: unknown };
}

/** `handler` behind the operator gate. */
function operatorOnly<P, R>(handler: (c: Context<P>) => R): (c: Context<P>) => R {
  return (c) => {
    requireOperator(c);
    return handler(c);
  };
}

/** The `runtime` service of one node (see {@link RuntimeApi}). */
export function runtimeService(ctx: NodeContext): ServiceSchema {
  const rt = ctx.runtime;
  return {
    name: "runtime",
    actions: {
      partitions: {
        handler: operatorOnly(() => ({ node: ctx.config.nodeId, partitions: rt.partitions() })),
      },
      actors: {
        handler: operatorOnly(() => ({
          node: ctx.config.nodeId,
          actors: rt.actorCounts(),
          heapUsed: process.memoryUsage().heapUsed,
          stats: rt.hostStats(),
          jobs: rt.jobStats(),
        })),
      },
      streams: {
        handler: operatorOnly(() => rt.consumerStats()),
      },
      resetLatency: {
        handler: operatorOnly(() => {
          rt.resetLatency();
          return true;
        }),
      },
      dlqList: {
        params: {
          filter: { type: "string", optional: true, max: 256 },
          limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true },
          afterSeq: { type: "number", integer: true, min: 0, optional: true, convert: true },
        },
        handler: operatorOnly((c: Context<{ filter?: string; limit?: number; afterSeq?: number }>) =>
          rt.dlqList(c.params),
        ),
      },
      dlqReplay: {
        params: {
          seqs: { type: "array", items: { type: "number", integer: true, min: 1, convert: true }, min: 1, max: 10000 },
        },
        handler: operatorOnly((c: Context<{ seqs: number[] }>) => rt.dlqReplay(c.params.seqs)),
      },
      state: {
        params: { kind: { type: "string", max: 32 }, key: { type: "string", max: 200 } },
        handler: operatorOnly((c: Context<{ kind: string; key: string }>) => rt.getState(c.params.kind, c.params.key)),
      },
    },
  };
}
