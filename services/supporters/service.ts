/**
 * The supporters domain: supporter identities and events from many producers, a pseudonymous
 * identity hash answered at once, and ordered propagation per supporter to the user service
 * (step 1) and the ERP service (step 2), with the right to be forgotten. Tables (the event
 * log), streams (intake, event log, data keys, the pump's lease), the supporter actor kind, the
 * delivery jobs, the HTTP routes, the NATS request/reply intake, the intake pump, the event-log
 * writer and the Moleculer service "supporters" whose actions only check access, call the API
 * and shape the answer.
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import type { Config } from "../../config";
import type { NodeContext } from "../../node/context";
import { defineDomain } from "../../node/domain";
import { supportersConfig } from "./config";
import { clientOf, requireCaller, type GatewayMeta, type HttpCallParams, type Scope } from "../../gateway";
import { AppError, errorMessage } from "../../lib/errors";
import type { Subscription } from "../../nats";
import { partitionOf, type Topology } from "../../streams/subjects";
import { supporterDeclarations, supporterNames } from "./streams";
import { supporterKind } from "./supporter.actor";
import { SUPPORTER_KIND } from "./model";
import { supporterJobs, type SupporterJobDeps } from "./jobs";
import { supporterMigrations, createSupporterStore } from "./store";
import { cachingKeyStore, createKeyStore, type CachingKeyStore } from "./keys";
import { createIntake, answerRequest } from "./intake";
import { startPump, type Pump } from "./pump";
import { startSupporterWriter, type WriterLoop } from "./writer";
import { createSupportersApi, readerOf, type NodeJobStats, type SupportersApi } from "./api";
import { supporterRoutes } from "./routes";
import { supporterSimulators } from "./simulators";

/** Job dependencies per node (jobs are declared from config alone; a node's services bind them). */
const boundDeps = new Map<string, SupporterJobDeps>();
const depsKey = (c: Config): string => `${c.namespace}/${c.nodeId}`;

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type HashCall = HttpCallParams<{ hash: string }>;

/**
 * A client holding one of `scopes` (its id), or a verified operator or node ("operator");
 * 401/403 otherwise (see gateway/access.ts `requireCaller`).
 */
function callerWith(c: Ctx<unknown>, scopes: readonly Scope[]): string {
  return requireCaller(c, scopes);
}

/** Node ids that run the `runtime` service. */
function runtimeNodes(broker: ServiceBroker): string[] {
  const list = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false }) as Array<{ name: string; nodeID: string }>;
  return [...new Set(list.filter((s) => s.name === "runtime").map((s) => s.nodeID))].sort();
}

/** The Moleculer service "supporters" over `api()` (bound once the service started). */
export function supportersService(api: () => SupportersApi, pipeline: () => Record<string, unknown>): ServiceSchema {
  return {
    name: "supporters",
    actions: {
      async submit(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, unknown>>) {
        const who = callerWith(c, ["supporters:write"]);
        const r = await api().submit(c.params.body, readerOf(clientOf(c), who));
        c.meta.$statusCode = 202;
        return r;
      },

      async forget(c: Ctx<HashCall>) {
        // Tenancy: forgetting erases every tenant's data on the identity, so it is admin only.
        const who = callerWith(c, ["admin"]);
        const r = await api().forget(c.params.params.hash, who);
        c.meta.$statusCode = 202;
        return r;
      },

      supporter(c: Ctx<HashCall>) {
        const who = callerWith(c, ["admin", "supporters:read"]);
        return api().supporter(c.params.params.hash, readerOf(clientOf(c), who));
      },

      events(c: Ctx<HttpCallParams<{ hash: string }, { limit?: number; after?: number }>>) {
        const who = callerWith(c, ["admin", "supporters:read"]);
        return api().events(c.params.params.hash, { limit: c.params.query.limit ?? 100, afterSeq: c.params.query.after ?? 0 }, readerOf(clientOf(c), who));
      },

      data(c: Ctx<HashCall>) {
        callerWith(c, ["admin"]);
        return api().data(c.params.params.hash);
      },

      backlog(c: Ctx<unknown>) {
        callerWith(c, ["admin"]);
        return api().backlog();
      },

      async dlq(c: Ctx<HttpCallParams<Record<string, string>, { hash?: string; limit?: number; after?: number }>>) {
        callerWith(c, ["admin"]);
        const q = c.params.query;
        return { items: await api().dlq({ ...(q.hash ? { hash: q.hash } : {}), limit: q.limit ?? 100, afterSeq: q.after ?? 0 }) };
      },

      replay(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { seqs: number[] }>>) {
        callerWith(c, ["admin"]);
        return api().replay(c.params.body?.seqs ?? []);
      },

      /** Operators (REPL `supporter <hash>`): `call supporters.inspect --hash <hash>`. */
      inspect: {
        params: { hash: { type: "string", max: 64 } },
        handler(c: Ctx<{ hash: string }>) {
          callerWith(c, ["admin"]);
          return api().supporter(c.params.hash, { all: true, id: "operator" });
        },
      },

      /** Operators (REPL `supporters-dlq`). */
      dlqList: {
        params: { hash: { type: "string", max: 64, optional: true }, limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true }, afterSeq: { type: "number", integer: true, min: 0, optional: true, convert: true } },
        handler(c: Ctx<{ hash?: string; limit?: number; afterSeq?: number }>) {
          callerWith(c, ["admin"]);
          return api().dlq(c.params);
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

/** Builds the node's supporters service; intake, pump and writer start with it. */
function createSupporterServices(ctx: NodeContext): ServiceSchema[] {
  const { config } = ctx;
  const sc = config.supporters;
  const log = ctx.logger.child({ domain: "supporters" });
  const names = supporterNames(config.namespace);
  const store = createSupporterStore({ pg: ctx.pg });
  const prepare = { pepper: sc.pepper, defaultCountryCode: sc.defaultCountryCode, maxBytes: sc.maxMessageBytes };
  const intake = createIntake({ nats: ctx.nats, names, prepare, logger: log.child({ part: "intake" }) });
  let api: SupportersApi | null = null;
  let pump: Pump | null = null;
  let writer: WriterLoop | null = null;
  let sub: Subscription | null = null;
  let cachedKeys: CachingKeyStore | null = null;
  const requests = { answered: 0 };
  const service = supportersService(
    () => {
      if (!api) throw new AppError("NOT_READY", "the supporters service is starting");
      return api;
    },
    () => ({ node: config.nodeId, pump: { holding: pump?.holding() ?? false, ...pump?.stats }, writer: writer?.stats ?? null, requests }),
  );
  return [
    {
      ...service,
      async started(this: { broker: ServiceBroker }) {
        const broker = this.broker;
        if (sc.devSecrets) log.warn("supporters: using the well-known development pepper and data key (set SUPPORTERS_PEPPER and SUPPORTERS_DATA_KEY in production)");
        const keysKv = await ctx.nats.kvm.open(names.keysBucket);
        const keys = createKeyStore({ kv: keysKv, kek: sc.dataKey });
        // Delivery jobs read a supporter's key for every call: cached, dropped as soon as it changes.
        cachedKeys = await cachingKeyStore(keys, keysKv);
        boundDeps.set(depsKey(config), { keys: cachedKeys, runtime: ctx.runtime });
        api = createSupportersApi({
          nats: ctx.nats,
          names,
          runtime: ctx.runtime,
          intake,
          keys,
          store,
          topology: ctx.topology,
          logger: log,
          nodeJobStats: () =>
            Promise.all(
              runtimeNodes(broker).map(async (nodeID): Promise<NodeJobStats> => {
                const r = (await broker.call("runtime.actors", {}, { nodeID })) as { jobs: NodeJobStats["jobs"] };
                return { node: nodeID, jobs: r.jobs };
              }),
            ),
        });
        sub = ctx.nats.nc.subscribe(names.reqFilter, {
          queue: names.reqQueue,
          callback: (err, msg) => {
            if (err) return;
            requests.answered++;
            void answerRequest(intake, msg, log).catch((e: unknown) => log.error({ err: errorMessage(e) }, "supporter request not answered"));
          },
        });
        if (!config.workers) return; // an API node: the writer and the intake pump run on worker nodes
        writer = await startSupporterWriter({ nats: ctx.nats, names, store, logger: log.child({ part: "writer" }), batchRows: sc.batchRows, batchMs: sc.batchMs });
        pump = await startPump({ nats: ctx.nats, names, runtime: ctx.runtime, keys, prepare, nodeId: config.nodeId, batch: sc.pumpBatch, leaseMs: sc.pumpLeaseMs, logger: log.child({ part: "pump" }) });
        ctx.health.register("supporters", () => ({ ok: (pump?.running() ?? false) && (writer?.running() ?? false) }));
      },
      async stopped() {
        sub?.unsubscribe();
        sub = null;
        await pump?.stop();
        await writer?.stop();
        pump = null;
        writer = null;
        boundDeps.delete(depsKey(config));
        cachedKeys?.close();
        cachedKeys = null;
      },
    },
  ];
}

/** The supporters domain (see module doc). */
export const supportersDomain = defineDomain({
  name: "supporters",
  config: supportersConfig,
  summary: "supporter identities and events from many producers, a pseudonymous identity hash, ordered forwarding to the user and ERP services",
  declare: (config, topo) => ({
  migrations: supporterMigrations,
  streams: supporterDeclarations(topo, config),
  kinds: supporterKinds(config, topo),
  jobs: supporterJobs(config, () => boundDeps.get(depsKey(config))),
  routes: supporterRoutes,
  }),
  start: (ctx) => ({ services: createSupporterServices(ctx) }),
  simulators: supporterSimulators,
});

/** The supporter kind, addressed in this namespace. */
function supporterKinds(config: Config, topo: Topology) {
    const names = supporterNames(config.namespace);
    const partitions = config.actors.partitions;
    return [
      supporterKind({
        mailboxSubject: (hash) => topo.actors.subject(SUPPORTER_KIND, partitionOf(hash, partitions), hash),
        mailboxStream: topo.actors.stream(SUPPORTER_KIND),
        dlqSubject: names.dlqSubject,
        logSubject: names.logSubject,
        maxQueue: config.supporters.maxQueue,
        maxQueueBytes: config.supporters.maxQueueBytes,
        jobDeadlineMs: config.supporters.jobDeadlineMs,
      }),
    ];
}
