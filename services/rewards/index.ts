/**
 * The rewards domain: accounts (one single-writer actor per user), a double-entry ledger in
 * Postgres equal to the hot balances in KV, business rules applied on every node at once,
 * scoring of encounters, donations, giveaways and exchanges, and QR encounters (README.md here).
 *
 * Declared on every node: the ledger and rule tables, the ledger and transactions streams, the
 * rule, directory and QR buckets, the account kind and the HTTP routes. Started where SERVICES
 * names it: the rules watch, the Moleculer service "rewards", the NATS scoring entry
 * `{ns}.rewards.score` (queue group), the periodic ledger check and, on worker nodes, the
 * ledger writer.
 */
import { Gauge } from "prom-client";
import type { Config } from "../../config";
import type { NodeContext } from "../../node/context";
import { defineDomain, type DomainStarted } from "../../node/domain";
import { createAjv } from "../../lib/ajv";
import { AppError, errorMessage } from "../../lib/errors";
import type { Subscription } from "../../nats";
import type { Topology } from "../../streams/subjects";
import { accountKind } from "./account.actor";
import { createRewardsApi } from "./api";
import { rewardsConfig } from "./config";
import { txRequestSchema, type TxRequest } from "./model";
import { rewardRepl } from "./repl";
import { rewardRoutes } from "./routes";
import { rewardsService } from "./service";
import { createRewardStore, rewardMigrations } from "./store";
import { rewardDeclarations, rewardNames } from "./streams";
import { startLedgerWriter, type LedgerWriter } from "./writer";
import { signupKind } from "./signup.actor";
import { rewardJobs, type RewardJobDeps } from "./jobs";
import { catalogMigrations, startCatalogPoller, type CatalogPoller } from "./catalog";
import { rewardSimulators } from "./simulators";
import { contentMigrations, createContentManager } from "./content";
import { Objm, type ObjectStore } from "../../nats";

const validateTx = createAjv({ allErrors: true }).compile<TxRequest>(txRequestSchema.schema);

/** `v` as a transaction request, or 422 VALIDATION_ERROR with every problem. */
export function validTx(v: unknown): TxRequest {
  if (validateTx(v)) return v;
  throw new AppError(
    "VALIDATION_ERROR",
    "invalid transaction",
    (validateTx.errors ?? []).map((e) => ({ path: e.instancePath || "/", message: e.message ?? "invalid" })),
  );
}

function kinds(config: Config, topo: Topology) {
  const names = rewardNames(topo.ns);
  return [
    accountKind({
      names: { ledgerSubject: names.ledgerSubject, txSubject: names.txSubject, outcomeEvent: names.outcomeEvent },
      recentMax: config.rewards.recentMax,
    }),
    signupKind({
      names: { usersCreatedSubject: names.usersCreatedSubject, dirPutSubject: names.dirPutSubject },
      deadlineMs: config.rewards.signupDeadlineMs,
    }),
  ];
}

async function startRewards(ctx: NodeContext): Promise<DomainStarted<RewardJobDeps>> {
  const { config } = ctx;
  const rc = config.rewards;
  const log = ctx.logger.child({ domain: "rewards" });
  if (rc.devSecrets)
    log.warn("rewards: using the well-known development QR secret (set REWARDS_QR_SECRET in production)");
  const names = rewardNames(config.namespace);
  const store = createRewardStore({ pg: ctx.pg });
  const gauges = {
    mismatches: new Gauge({
      name: "switchyard_rewards_ledger_mismatches",
      help: "Accounts whose KV balance differs from their ledger sum at the last settled check (plus 1 if transit differs from held)",
      registers: [ctx.metrics],
    }),
    unbalanced: new Gauge({
      name: "switchyard_rewards_ledger_unbalanced_legs",
      help: "Ledger legs whose postings do not sum to zero at the last settled check",
      registers: [ctx.metrics],
    }),
  };
  let poller: CatalogPoller | null = null;
  const api = await createRewardsApi({
    pg: ctx.pg,
    poller: () => poller,
    nats: ctx.nats,
    runtime: ctx.runtime,
    topology: ctx.topology,
    names,
    store,
    config: rc,
    logger: log,
    nodeId: config.nodeId,
    gauges,
  });
  let writer: LedgerWriter | null = null;
  let sub: Subscription | null = null;
  let timer: NodeJS.Timeout | null = null;
  const stop = async (): Promise<void> => {
    if (timer) clearInterval(timer);
    timer = null;
    sub?.unsubscribe();
    sub = null;
    api.stop();
    await writer?.stop();
    writer = null;
    await poller?.stop();
    poller = null;
  };
  try {
    // Plain NATS scoring entry for other domains: request a TxRequest, get the outcome.
    sub = ctx.nats.nc.subscribe(names.scoreSubject, {
      queue: names.scoreQueue,
      callback: (err, msg) => {
        if (err) return;
        void (async () => {
          try {
            const r = await api.submit(validTx(msg.json<unknown>()));
            msg.respond(JSON.stringify({ ok: true, outcome: r.outcome ?? { id: r.id, status: "accepted" } }));
          } catch (e) {
            const code = e instanceof AppError ? e.code : "INTERNAL";
            if (!(e instanceof AppError)) log.error({ err: errorMessage(e) }, "scoring request failed");
            msg.respond(
              JSON.stringify({
                ok: false,
                error: {
                  code,
                  message: errorMessage(e),
                  ...(e instanceof AppError && e.details ? { details: e.details } : {}),
                },
              }),
            );
          }
        })();
      },
    });
    if (config.workers) {
      writer = await startLedgerWriter({
        nats: ctx.nats,
        names,
        store,
        logger: log.child({ part: "ledger" }),
        batchRows: rc.batchRows,
        batchMs: rc.batchMs,
      });
      poller = await startCatalogPoller({
        nats: ctx.nats,
        names,
        pg: ctx.pg,
        nodeId: config.nodeId,
        baseUrl: rc.catalogsUrl,
        intervalMs: rc.catalogPollMs,
        leaseMs: rc.catalogLeaseMs,
        logger: log.child({ part: "catalogs" }),
      });
      ctx.health.register("rewards", () => ({ ok: writer?.running() ?? false }));
    }
    if (rc.checkIntervalMs > 0) {
      timer = setInterval(() => {
        void api.check().catch((e: unknown) => log.warn({ err: errorMessage(e) }, "ledger check failed"));
      }, rc.checkIntervalMs);
      timer.unref();
    }
    let images: Promise<ObjectStore> | null = null;
    const content = createContentManager({
      pg: ctx.pg,
      images: () => (images ??= new Objm(ctx.nats.nc).open(names.imagesBucket)),
      submit: (req) => api.submit(req),
      settle: (from, id, action) => api.settle(from, id, action),
      kindOf: async (id) => (await api.account(id)).kind,
    });
    return { services: [rewardsService(api, content, validTx)], deps: { pg: ctx.pg }, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** The rewards domain module (services/index.ts lists it). */
export const rewardsDomain = defineDomain<RewardJobDeps>({
  name: "rewards",
  config: rewardsConfig,
  summary:
    "points accounts (one actor per user), a double-entry ledger equal to the KV balances, business rules, scoring, QR encounters",
  declare: (config, topo) => ({
    migrations: [...rewardMigrations, ...catalogMigrations, ...contentMigrations],
    streams: rewardDeclarations(topo, config),
    kinds: kinds(config, topo),
    jobs: rewardJobs(config.rewards),
    routes: rewardRoutes,
  }),
  start: startRewards,
  repl: rewardRepl,
  simulators: rewardSimulators,
});
