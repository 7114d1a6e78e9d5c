/**
 * Starting and stopping one Switchyard node: check that NATS, Postgres and Redis answer (fail
 * fast with one line naming the URL and how to start the server), run migrations, provision
 * streams, start the Moleculer broker with the hosted domains' services, then the actor runtime.
 */
import { ServiceBroker } from "moleculer";
import { Redis } from "ioredis";
import { Registry, collectDefaultMetrics } from "prom-client";
import type { Config } from "../config";
import { createLogger, type Logger } from "../lib/logger";
import { connectNats, type NatsHandles } from "../nats";
import { createPool, migrate, type Pool } from "../db";
import { topology } from "../streams/subjects";
import { provision } from "../streams/provision";
import { declName } from "../streams/declarations";
import type { Runtime } from "../actors/runtime";
import { HealthRegistry } from "../lib/health";
import { AdmissionRegistry } from "../lib/admission";
import { errorMessage } from "../lib/errors";
import { brokerOptions } from "../moleculer.config";
import type { NodeContext } from "./context";
import {
  allDeclarations,
  allMigrations,
  allRoutes,
  allConsolePages,
  assembleRuntime,
  declareDomains,
} from "./assemble";
import { registerRuntimeMetrics } from "./metrics";
import { startLivenessCheck } from "../lib/liveness";

/** A dependency that did not answer at start-up. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** A running node. */
export interface RunningNode {
  readonly ctx: NodeContext;
  readonly broker: ServiceBroker;
  readonly runtime: Runtime;
  /** Drains and stops everything; safe to call twice. */
  stop(): Promise<void>;
  /** Logs this node's partitions per kind now (one "partitions owned" line). */
  reportOwnership(): void;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function connectAll(config: Config): Promise<{ nats: NatsHandles; pg: Pool; redis: Redis }> {
  let nats: NatsHandles;
  try {
    nats = await withTimeout(connectNats(config.natsUrl, `switchyard-${config.nodeId}`, 3000), 4000, "NATS connect");
  } catch (err) {
    throw new StartupError(
      `cannot reach NATS at ${redactUrl(config.natsUrl)} (${errorMessage(err)}): start it with \`nats-server -js\` (or \`docker compose up -d nats1 nats2 nats3\`), or set NATS_URL`,
    );
  }
  const pg = createPool(config.databaseUrl, config.namespace);
  try {
    await withTimeout(pg.query("SELECT 1"), 4000, "Postgres connect");
  } catch (err) {
    await nats.nc.close().catch(() => undefined);
    await pg.end().catch(() => undefined);
    throw new StartupError(
      `cannot reach PostgreSQL at ${redactUrl(config.databaseUrl)} (${errorMessage(err)}): start it with \`pg_ctlcluster 15 main start\` (or \`docker compose up -d postgres\`), or set DATABASE_URL`,
    );
  }
  // auto-pipelining: commands issued in one event-loop turn leave in one write (fewer syscalls at load)
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
  });
  redis.on("error", () => undefined); // reconnects on its own; callers see command errors
  try {
    await withTimeout(redis.connect(), 4000, "Redis connect");
  } catch (err) {
    await nats.nc.close().catch(() => undefined);
    await pg.end().catch(() => undefined);
    redis.disconnect();
    throw new StartupError(
      `cannot reach Redis at ${redactUrl(config.redisUrl)} (${errorMessage(err)}): start it with \`redis-server --daemonize yes\` (or \`docker compose up -d redis\`), or set REDIS_URL`,
    );
  }
  return { nats, pg, redis };
}

/**
 * This node's partitions per kind, e.g. `{ orders: 32, carts: 32 }` (the per-partition
 * "partition acquired" lines are at debug level; operators get this one summary).
 */
export function ownedByKind(runtime: Runtime, nodeId: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of runtime.partitions()) if (p.owner === nodeId) out[p.kind] = (out[p.kind] ?? 0) + 1;
  return out;
}

/**
 * Logs one "partitions owned" line whenever this node's partitions changed and then held still
 * for one check (so a start-up or a rebalance is one line, not one per partition).
 */
function watchOwnership(
  runtime: Runtime,
  nodeId: string,
  log: Logger,
  everyMs = 1000,
): { stop(): void; report(): void } {
  let logged = "";
  let seen = "";
  const report = (owned = ownedByKind(runtime, nodeId)): void => {
    logged = JSON.stringify(owned);
    const total = Object.values(owned).reduce((a, b) => a + b, 0);
    log.info({ owned, total, of: runtime.partitions().length }, "partitions owned");
  };
  const timer = setInterval(() => {
    const owned = ownedByKind(runtime, nodeId);
    const now = JSON.stringify(owned);
    if (now === seen && now !== logged) report(owned);
    seen = now;
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer), report: () => report() };
}

/** Starts a node with `config`; rejects with StartupError when a dependency is unreachable. */
export async function startNode(config: Config, logger?: Logger): Promise<RunningNode> {
  const log = logger ?? createLogger({ level: config.logLevel, nodeId: config.nodeId });
  const topo = topology(config.namespace);
  const { nats, pg, redis } = await connectAll(config);

  const domains = declareDomains(config, topo);
  const hosted = domains.filter((d) => d.hosted);
  const runtime = assembleRuntime(config, nats, log, domains);
  const applied = await migrate(pg, config.namespace, allMigrations(hosted));
  if (applied.length > 0) log.info({ applied }, "migrations applied");

  const decls = allDeclarations(runtime, domains);
  const counts = await provision(nats, decls, (d, action, i, total) => {
    if (action !== "unchanged") log.debug({ progress: `${i}/${total}`, action }, `provisioned ${declName(d)}`);
  });
  log.info({ ...counts, total: decls.length }, "streams provisioned");

  const health = new HealthRegistry();
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const ctx: NodeContext = {
    config,
    logger: log,
    nats,
    pg,
    redis,
    topology: topo,
    runtime,
    health,
    metrics,
    routes: allRoutes(domains),
    consolePages: allConsolePages(domains),
    admission: new AdmissionRegistry(),
  };
  health.register("nats", () => !nats.nc.isClosed());
  // every domain keeps its long-term data in Postgres: without it the node is not ready
  const pgLiveness = startLivenessCheck(() => pg.query("SELECT 1"));
  health.register("postgres", () => pgLiveness.check());
  health.register("partitions", () => ({ ok: runtime.isReady(), detail: { owned: runtime.ownedPartitions() } }));
  registerRuntimeMetrics(metrics, runtime);

  if (config.cluster.devSecret)
    log.warn(
      "cluster: calls are signed with the well-known development CLUSTER_SECRET (dev mode); anyone on NATS can sign as an operator: set CLUSTER_SECRET for anything real",
    );
  const broker = new ServiceBroker(brokerOptions(config));
  for (const d of hosted) {
    d.started = await d.module.start(ctx);
    for (const schema of d.started.services) broker.createService(schema);
  }
  runtime.setEmitter((event, payload) => void broker.broadcast(event, payload).catch(() => undefined));

  await broker.start();
  await runtime.start();
  const ownership = watchOwnership(runtime, config.nodeId, log);
  log.info({ services: config.services, namespace: config.namespace }, "node started");

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ownership.stop();
      log.info("draining");
      await runtime.stop().catch((err: unknown) => log.error({ err: errorMessage(err) }, "runtime stop failed"));
      for (const d of [...hosted].reverse()) {
        await d.started
          ?.stop?.()
          .catch((err: unknown) => log.error({ err: errorMessage(err), domain: d.module.name }, "domain stop failed"));
      }
      await broker.stop().catch((err: unknown) => log.error({ err: errorMessage(err) }, "broker stop failed"));
      await nats.nc.drain().catch(() => undefined);
      pgLiveness.stop();
      await pg.end().catch(() => undefined);
      redis.disconnect();
      log.info("stopped");
    })());

  return { ctx, broker, runtime, stop, reportOwnership: ownership.report };
}
