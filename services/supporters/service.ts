/**
 * The Moleculer service "supporters": its actions check the caller's access, call the
 * {@link SupportersApi} and shape the answer. Nothing else happens here; the domain module
 * (index.ts) builds the API and starts the intake, the pump and the writer.
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import {
  clientOf,
  nextSeqCursor,
  requireCaller,
  seqCursorOf,
  type GatewayMeta,
  type HttpCallParams,
  type Scope,
} from "../../gateway";
import { readerOf, type NodeJobStats, type SupportersApi } from "./api";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type HashCall = HttpCallParams<{ hash: string }>;
/** A page query: `cursor` (a sequence, as text), or the deprecated integer `after`. */
type PageQuery = { limit?: number; cursor?: string; after?: number };

/**
 * A client holding one of `scopes` (its id), or a verified operator or node ("operator");
 * 401/403 otherwise (see gateway/access.ts `requireCaller`).
 */
function callerWith(c: Ctx<unknown>, scopes: readonly Scope[]): string {
  return requireCaller(c, scopes);
}

/** Node ids that run the `runtime` service. */
function runtimeNodes(broker: ServiceBroker): string[] {
  const list = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false });
  return [...new Set(list.flatMap((s) => (s.name === "runtime" && s.nodeID !== undefined ? [s.nodeID] : [])))].sort();
}

/** Job counters (breaker states) of every node running the runtime, through `runtime.actors`. */
function nodeJobStats(broker: ServiceBroker): Promise<NodeJobStats[]> {
  return Promise.all(
    runtimeNodes(broker).map(async (nodeID): Promise<NodeJobStats> => {
      const r = await broker.call<{ jobs: NodeJobStats["jobs"] }, Record<string, never>>(
        "runtime.actors",
        {},
        { nodeID },
      );
      return { node: nodeID, jobs: r.jobs };
    }),
  );
}

/** The Moleculer service "supporters" over `api`; `pipeline` gives this node's loop counters. */
export function supportersService(api: SupportersApi, pipeline: () => Record<string, unknown>): ServiceSchema {
  return {
    name: "supporters",
    actions: {
      async submit(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, unknown>>) {
        const who = callerWith(c, ["supporters:write"]);
        const r = await api.submit(c.params.body, readerOf(clientOf(c), who));
        c.meta.$statusCode = 202;
        return r;
      },

      async forget(c: Ctx<HashCall>) {
        // Tenancy: forgetting erases every tenant's data on the identity, so it is admin only.
        const who = callerWith(c, ["admin"]);
        const r = await api.forget(c.params.params.hash, who);
        c.meta.$statusCode = 202;
        return r;
      },

      supporter(c: Ctx<HashCall>) {
        const who = callerWith(c, ["admin", "supporters:read"]);
        return api.supporter(c.params.params.hash, readerOf(clientOf(c), who));
      },

      async events(c: Ctx<HttpCallParams<{ hash: string }, PageQuery>>) {
        const who = callerWith(c, ["admin", "supporters:read"]);
        const limit = c.params.query.limit ?? 100;
        const page = await api.events(
          c.params.params.hash,
          { limit, afterSeq: seqCursorOf(c.params.query) },
          readerOf(clientOf(c), who),
        );
        return { ...page, nextCursor: nextSeqCursor(page.items, limit) };
      },

      data(c: Ctx<HashCall>) {
        callerWith(c, ["admin"]);
        return api.data(c.params.params.hash);
      },

      backlog(c: Ctx<unknown>) {
        callerWith(c, ["admin"]);
        return api.backlog(() => nodeJobStats(c.broker));
      },

      async dlq(c: Ctx<HttpCallParams<Record<string, string>, PageQuery & { hash?: string }>>) {
        callerWith(c, ["admin"]);
        const q = c.params.query;
        const limit = q.limit ?? 100;
        const items = await api.dlq({ ...(q.hash ? { hash: q.hash } : {}), limit, afterSeq: seqCursorOf(q) });
        return { items, nextCursor: nextSeqCursor(items, limit) };
      },

      replay(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { seqs: number[] }>>) {
        callerWith(c, ["admin"]);
        return api.replay(c.params.body?.seqs ?? []);
      },

      /** Operators (REPL `supporter <hash>`): `call supporters.inspect --hash <hash>`. */
      inspect: {
        params: { hash: { type: "string", max: 64 } },
        handler(c: Ctx<{ hash: string }>) {
          callerWith(c, ["admin"]);
          return api.supporter(c.params.hash, { all: true, id: "operator" });
        },
      },

      /** Operators (REPL `supporters-dlq`). */
      dlqList: {
        params: {
          hash: { type: "string", max: 64, optional: true },
          limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true },
          afterSeq: { type: "number", integer: true, min: 0, optional: true, convert: true },
        },
        handler(c: Ctx<{ hash?: string; limit?: number; afterSeq?: number }>) {
          callerWith(c, ["admin"]);
          return api.dlq(c.params);
        },
      },

      /** Operators: counters of the pump, the writer and the request intake on this node. */
      pipeline(c: Ctx<unknown>) {
        callerWith(c, ["admin"]);
        return pipeline();
      },
    },
  };
}
