/**
 * The archive domain module (services/index.ts lists it): datasets of other domains moved month
 * by month from Postgres to Parquet in object storage, read back by their owners' listings, and
 * analytics with DuckDB. Declared on every node: its tables (months, exports), its lease bucket
 * and routes. Started where hosted: the parts (object store, DuckDB, sealer, reader), the
 * "archive" service, and on worker nodes the job: one node at a time holds the singleton lease
 * (the platform LeaseManager, sticky placement) and seals what is due every ARCHIVE_INTERVAL_MS.
 */
import type { ServiceBroker } from "moleculer";
import { Counter, Gauge } from "prom-client";
import { defineDomain, type DomainStarted } from "../../node/domain";
import type { NodeContext } from "../../node/context";
import { LeaseManager, type LeaseKeys, type PartitionRef } from "../../actors/leases";
import { errorMessage } from "../../lib/errors";
import { archiveConfig } from "./config";
import { archiveMigrations } from "./manifest";
import { archiveRoutes } from "./routes";
import { archiveService, datasetDirectory } from "./service";
import { openArchiveParts, type ArchiveParts } from "./parts";
import { archiveRepl } from "./repl";
import type { SealOutcome } from "./sealer";

const JOB_LEASE: PartitionRef = { kind: "archive", partition: 0 };
const jobLeaseKeys: LeaseKeys = {
  partitionKey: () => "job",
  nodeKey: (nodeId) => `node.${nodeId.replace(/[^A-Za-z0-9_=-]/g, "_")}`,
};

/** The archive job's lease bucket in namespace `ns`. */
export const archiveLeaseBucket = (ns: string): string => `${ns}_archive_lease`;

/** Progress of the job on this node (REPL, logs, metrics). */
interface JobProgress {
  holding: boolean;
  running: boolean;
  dataset: string | null;
  month: string | null;
  step: string | null;
  rowsStaged: number;
  lastRound: { at: string; sealed: readonly SealOutcome[]; error: string | null } | null;
}

function startArchive(ctx: NodeContext): DomainStarted<never> {
  const { config } = ctx;
  const ac = config.archive;
  const log = ctx.logger.child({ domain: "archive" });
  let broker: ServiceBroker | undefined;
  let parts: ArchiveParts | undefined;
  const datasets = datasetDirectory(() => broker, log);
  const progress: JobProgress = {
    holding: false,
    running: false,
    dataset: null,
    month: null,
    step: null,
    rowsStaged: 0,
    lastRound: null,
  };
  for (const n of [
    "switchyard_archive_months_sealed_total",
    "switchyard_archive_rows_total",
    "switchyard_archive_bytes_total",
    "switchyard_archive_job_holding",
    "switchyard_archive_rows_staged",
  ])
    ctx.metrics.removeSingleMetric(n);
  const mSealed = new Counter({
    name: "switchyard_archive_months_sealed_total",
    help: "Months sealed by this node",
    labelNames: ["dataset"],
    registers: [ctx.metrics],
  });
  const mRows = new Counter({
    name: "switchyard_archive_rows_total",
    help: "Rows archived by this node",
    labelNames: ["dataset"],
    registers: [ctx.metrics],
  });
  const mBytes = new Counter({
    name: "switchyard_archive_bytes_total",
    help: "Parquet bytes written by this node",
    labelNames: ["dataset"],
    registers: [ctx.metrics],
  });
  const mHolding = new Gauge({
    name: "switchyard_archive_job_holding",
    help: "1 while this node holds the archive job's lease",
    registers: [ctx.metrics],
  });
  const mStaged = new Gauge({
    name: "switchyard_archive_rows_staged",
    help: "Rows staged of the month being sealed",
    registers: [ctx.metrics],
  });

  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> = Promise.resolve();
  let leases: LeaseManager | undefined;

  async function sealRound(): Promise<{ sealed: SealOutcome[]; error: string | null }> {
    if (!parts || progress.running)
      return { sealed: [], error: progress.running ? "a round is running" : "not started" };
    progress.running = true;
    const sealed: SealOutcome[] = [];
    let error: string | null = null;
    try {
      for (const d of await datasets.all()) {
        if (!progress.holding) break;
        const done = await parts.sealer.sealDue(d, Date.now(), () => !progress.holding);
        for (const o of done) {
          mSealed.inc({ dataset: d.name });
          mRows.inc({ dataset: d.name }, o.rows);
          mBytes.inc({ dataset: d.name }, o.bytes);
        }
        sealed.push(...done);
      }
    } catch (err) {
      error = errorMessage(err);
      log.error({ err: error }, "archive round failed; it resumes at the next round");
    } finally {
      progress.running = false;
      progress.dataset = progress.month = progress.step = null;
      progress.lastRound = { at: new Date().toISOString(), sealed, error };
    }
    return { sealed, error };
  }

  async function started(b: ServiceBroker): Promise<void> {
    parts = await openArchiveParts(ac, ctx.pg, ctx.nats.nc, config.jetstream.replicas, log.child({ part: "sealer" }), {
      afterStep: (dataset, month, step) => {
        progress.dataset = dataset;
        progress.month = month;
        progress.step = step;
      },
      onRows: (dataset, month, n) => {
        progress.dataset = dataset;
        progress.month = month;
        progress.step = "staging";
        progress.rowsStaged = n;
        mStaged.set(n);
      },
    });
    log.info({ store: parts.store.backend, dir: ac.dir }, "archive ready");
    void b;
    if (!config.workers || !ac.job) return;
    const kv = await ctx.nats.kvm.open(archiveLeaseBucket(config.namespace));
    leases = new LeaseManager({
      kv,
      keys: jobLeaseKeys,
      nodeId: config.nodeId,
      refs: [JOB_LEASE],
      ttlMs: ac.leaseMs,
      placement: "sticky",
      log: log.child({ part: "archive-lease" }),
      callbacks: {
        acquired: () => {
          progress.holding = true;
          mHolding.set(1);
          log.info({ node: config.nodeId }, "archive job lease taken: this node seals");
          const tick = (): void => {
            round = sealRound();
            timer = setTimeout(tick, ac.intervalMs);
            timer.unref();
          };
          tick();
          return Promise.resolve();
        },
        released: async () => {
          progress.holding = false;
          mHolding.set(0);
          if (timer) clearTimeout(timer);
          await round;
          log.info({ node: config.nodeId }, "archive job lease released");
        },
      },
    });
    await leases.start();
  }

  return {
    services: [
      archiveService({
        parts: () => {
          if (!parts) throw new Error("archive not started on this node yet");
          return parts;
        },
        datasets,
        publicUrl: ac.publicUrl,
        urlSecret: ac.urlSecret,
        urlTtlSec: ac.exportUrlTtlSec,
        sqlTimeoutMs: ac.sqlTimeoutMs,
        sqlMaxRows: ac.sqlMaxRows,
        queryTimeoutMs: ac.queryTimeoutMs,
        log,
        status: () => ({ node: config.nodeId, ...progress }),
        sealNow: () =>
          progress.holding
            ? sealRound()
            : Promise.resolve({ sealed: [], error: "this node does not hold the archive job's lease" }),
        created: (b) => void (broker = b),
        started,
        stopped: async () => {
          await leases?.stop();
          await round;
          await parts?.close();
          parts = undefined;
        },
      }),
    ],
  };
}

/** The archive domain (see module doc). */
export const archiveDomain = defineDomain({
  name: "archive",
  config: archiveConfig,
  summary:
    "archive and analytics: monthly Parquet files of other domains' datasets in object storage, DuckDB queries, exports",
  declare: (config) => ({
    migrations: archiveMigrations,
    streams: [
      {
        type: "kv",
        bucket: archiveLeaseBucket(config.namespace),
        history: 1,
        ttlMs: config.archive.leaseMs,
        replicas: config.jetstream.replicas,
      },
    ],
    routes: archiveRoutes,
  }),
  start: startArchive,
  repl: archiveRepl,
});
