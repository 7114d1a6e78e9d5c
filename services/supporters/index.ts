/**
 * The supporters domain: supporter identities and events from many producers, a pseudonymous
 * identity hash answered at once, and ordered propagation per supporter to the user service
 * (step 1) and the ERP service (step 2), with the right to be forgotten (README.md here).
 *
 * Declared on every node: the event-log table, the streams and buckets (streams.ts), the
 * supporter actor kind (supporter.actor.ts), the delivery jobs (jobs.ts) and the HTTP routes
 * (routes.ts). Started where SERVICES names it: the data keys, the NATS request/reply intake,
 * the Moleculer service "supporters" (service.ts) and, on worker nodes, the intake pump and the
 * event-log writer; `stop` ends them. The jobs get the data keys and the runtime from `start`.
 */
import type { Config } from "../../config";
import type { NodeContext } from "../../node/context";
import { defineDomain, type DomainStarted } from "../../node/domain";
import { errorMessage } from "../../lib/errors";
import type { Subscription } from "../../nats";
import { partitionOf, type Topology } from "../../streams/subjects";
import { supportersConfig } from "./config";
import { supporterDeclarations, supporterNames } from "./streams";
import { supporter, supporterKind } from "./supporter.actor";
import { supporterJobs, type SupporterJobDeps } from "./jobs";
import { createSupporterStore, supporterMigrations } from "./store";
import { cachingKeyStore, createKeyStore, type CachingKeyStore } from "./keys";
import { answerRequest, createIntake } from "./intake";
import { startPump, type Pump } from "./pump";
import { startSupporterWriter, type WriterLoop } from "./writer";
import { createSupportersApi } from "./api";
import { supporterRoutes } from "./routes";
import { supportersService } from "./service";
import { supporterRepl } from "./repl";
import { supporterSimulators } from "./simulators";

/** The supporter kind, addressed in this namespace. */
function supporterKinds(config: Config, topo: Topology) {
  const names = supporterNames(config.namespace);
  const partitions = config.actors.partitions;
  return [
    supporterKind({
      mailboxSubject: (hash) => topo.actors.subject(supporter.name, partitionOf(hash, partitions), hash),
      mailboxStream: topo.actors.stream(supporter.name),
      dlqSubject: names.dlqSubject,
      logSubject: names.logSubject,
      maxQueue: config.supporters.maxQueue,
      maxQueueBytes: config.supporters.maxQueueBytes,
      jobDeadlineMs: config.supporters.jobDeadlineMs,
    }),
  ];
}

/** Starts the domain on a node: what the jobs need, the service, and (worker nodes) the loops. */
async function startSupporters(ctx: NodeContext): Promise<DomainStarted<SupporterJobDeps>> {
  const { config } = ctx;
  const sc = config.supporters;
  const log = ctx.logger.child({ domain: "supporters" });
  const names = supporterNames(config.namespace);
  const store = createSupporterStore({ pg: ctx.pg });
  const prepare = { pepper: sc.pepper, defaultCountryCode: sc.defaultCountryCode, maxBytes: sc.maxMessageBytes };
  const intake = createIntake({ nats: ctx.nats, names, prepare, logger: log.child({ part: "intake" }) });
  if (sc.devSecrets)
    log.warn(
      "supporters: using the well-known development pepper and data key (set SUPPORTERS_PEPPER and SUPPORTERS_DATA_KEY in production)",
    );

  const keysKv = await ctx.nats.kvm.open(names.keysBucket);
  const keys = createKeyStore({ kv: keysKv, kek: sc.dataKey });
  let cachedKeys: CachingKeyStore | null = null;
  let sub: Subscription | null = null;
  let pump: Pump | null = null;
  let writer: WriterLoop | null = null;
  const stop = async (): Promise<void> => {
    sub?.unsubscribe();
    sub = null;
    await pump?.stop();
    await writer?.stop();
    pump = null;
    writer = null;
    cachedKeys?.close();
    cachedKeys = null;
  };

  try {
    // Delivery jobs read a supporter's key for every call: cached, dropped as soon as it changes.
    cachedKeys = await cachingKeyStore(keys, keysKv);
    const api = createSupportersApi({
      nats: ctx.nats,
      names,
      runtime: ctx.runtime,
      intake,
      keys,
      store,
      topology: ctx.topology,
      logger: log,
    });
    const requests = { answered: 0 };
    sub = ctx.nats.nc.subscribe(names.reqFilter, {
      queue: names.reqQueue,
      callback: (err, msg) => {
        if (err) return;
        requests.answered++;
        void answerRequest(intake, msg, log).catch((e: unknown) =>
          log.error({ err: errorMessage(e) }, "supporter request not answered"),
        );
      },
    });
    // An API node (WORKERS=off) answers and accepts; the writer and the intake pump run on worker nodes.
    if (config.workers) {
      writer = await startSupporterWriter({
        nats: ctx.nats,
        names,
        store,
        logger: log.child({ part: "writer" }),
        batchRows: sc.batchRows,
        batchMs: sc.batchMs,
      });
      pump = await startPump({
        nats: ctx.nats,
        names,
        runtime: ctx.runtime,
        keys,
        prepare,
        nodeId: config.nodeId,
        batch: sc.pumpBatch,
        leaseMs: sc.pumpLeaseMs,
        logger: log.child({ part: "pump" }),
      });
      ctx.health.register("supporters", () => ({ ok: (pump?.running() ?? false) && (writer?.running() ?? false) }));
    }
    const pipeline = () => ({
      node: config.nodeId,
      pump: { holding: pump?.holding() ?? false, ...pump?.stats },
      writer: writer?.stats ?? null,
      requests,
    });
    return { services: [supportersService(api, pipeline)], deps: { keys: cachedKeys, runtime: ctx.runtime }, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** The supporters domain module (services/index.ts lists it). */
export const supportersDomain = defineDomain<SupporterJobDeps>({
  name: "supporters",
  config: supportersConfig,
  summary:
    "supporter identities and events from many producers, a pseudonymous identity hash, ordered forwarding to the user and ERP services",
  declare: (config, topo) => ({
    migrations: supporterMigrations,
    streams: supporterDeclarations(topo, config),
    kinds: supporterKinds(config, topo),
    jobs: supporterJobs(config),
    routes: supporterRoutes,
    // operator console pages over the routes above (no personal data: identities stay sealed)
    consolePages: [
      {
        id: "queue",
        title: "Supporter delivery queue",
        description: "Pending, in flight and parked deliveries of one supporter (GET /api/v1/supporters/{hash})",
        inputs: [{ name: "hash", label: "identity hash", pattern: "^[A-Za-z0-9_-]{43}$" }],
        path: "/api/v1/supporters/{hash}",
        table: "/queue",
      },
      {
        id: "log",
        title: "Supporter event log",
        description: "Message ids, sources, event types and delivery status per step, in arrival order",
        inputs: [{ name: "hash", label: "identity hash", pattern: "^[A-Za-z0-9_-]{43}$" }],
        path: "/api/v1/supporters/{hash}/events",
        table: "/items",
      },
    ],
  }),
  start: startSupporters,
  repl: supporterRepl,
  simulators: supporterSimulators,
});
