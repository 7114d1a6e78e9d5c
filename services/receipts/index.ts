/**
 * The receipts domain module (services/index.ts lists it): receipt registration end to end.
 * Declared on every node: the tables (monthly-partitioned receipts), the streams (the receipt
 * stream and its Postgres-writer consumer, the idempotency bucket), the receipt actor kind, the
 * registration and webhook jobs, the HTTP routes. Started on the nodes that host it: the store,
 * the API behind the "receipts" service, admission control, and on worker nodes the Postgres
 * writer and the sweeper, which `stop` ends; the jobs get their connections as `deps`.
 */
import type { ServiceBroker } from "moleculer";
import { Counter } from "prom-client";
import type { NodeContext } from "../../node/context";
import { defineDomain, type DomainStarted } from "../../node/domain";
import { BacklogGauge } from "../../actors/backlog";
import { DeadLetters } from "../../actors/dlq";
import { LagGate, eventLoopLag } from "../../lib/event-loop-lag";
import { createEgress } from "../../lib/egress-http";
import { errorMessage, type AppError } from "../../lib/errors";
import { receiptsConfig } from "./config";
import { REGISTRATION_JOBS, receipt, receiptKind } from "./receipt.actor";
import { admissionRefusal } from "./admission";
import { receiptDeclarations, receiptNames } from "./streams";
import { receiptTypes } from "./types";
import { createReceiptApi } from "./api";
import { receiptJobs, type ReceiptJobDeps } from "./jobs";
import { createReceiptStore, receiptMigrations } from "./store";
import { receiptDlqAlarm, startReceiptWriter, type ConsumerLoop } from "./writer";
import { startSweeper } from "./sweeper";
import { redisDeliveryLog } from "./deliveries";
import { SUBMIT_ACTION, receiptRoutes } from "./routes";
import { cachedClientLookup, gatewayClientLookup, receiptsService } from "./service";
import { receiptSimulators } from "./simulators";
import { receiptMetrics } from "./metrics";

/** Metric: receipt messages dead-lettered by this node's writer, by kind (record, status). */
export const RECEIPT_DLQ_METRIC = "switchyard_receipts_dead_lettered_total";

/** Builds the node's receipts parts; the writer and the sweeper start with the service and end with `stop`. */
function startReceipts(ctx: NodeContext): DomainStarted<ReceiptJobDeps> {
  const { config, logger } = ctx;
  const rc = config.receipts;
  const log = logger.child({ domain: "receipts" });
  const names = receiptNames(config.namespace);
  const store = createReceiptStore({ pg: ctx.pg });
  let broker: ServiceBroker | undefined;
  const clients = cachedClientLookup(gatewayClientLookup(() => broker));
  const deliveries = redisDeliveryLog(ctx.redis, config.namespace, Math.ceil(rc.webhookDeadlineMs / 1000) + 7 * 86_400);
  // webhooks go only where the egress policy allows, checked again at connect time
  const egress = createEgress(config.egress.policy, config.egress.resolver);
  if (config.egress.allow.length > 0)
    logger.info({ allow: config.egress.allow }, "webhook destinations allowed although not public (EGRESS_ALLOW)");
  // admission control (admission.ts): refuse new receipts while this process's CPU is
  // saturated, or while the actors' mailboxes hold too much (the receipt mailboxes and the
  // registration jobs not yet done: where receipts wait)
  const lag = rc.maxLagMs > 0 ? new LagGate(eventLoopLag(), rc.maxLagMs) : undefined;
  const jobs = ctx.topology.jobs;
  const backlog =
    rc.maxBacklog > 0
      ? new BacklogGauge(ctx.nats.jsm, [
          { stream: ctx.topology.actors.stream(receipt.name) },
          { stream: jobs.stream, consumer: jobs.consumer(REGISTRATION_JOBS.tax.name) },
          { stream: jobs.stream, consumer: jobs.consumer(REGISTRATION_JOBS.warehouse.name) },
        ])
      : undefined;
  const admission = (): AppError | undefined =>
    admissionRefusal({ overloadedLagMs: lag?.check(), backlog: backlog?.messages ?? 0 }, rc);
  // the gateway of this process sheds with it before it authenticates or reads a body
  ctx.admission?.set(SUBMIT_ACTION, admission);
  const api = createReceiptApi({
    nats: ctx.nats,
    names,
    runtime: ctx.runtime,
    store,
    registry: receiptTypes,
    clients,
    deliveries,
    logger: log,
    publicUrl: rc.publicUrl,
    callbackSecrets: { tax: rc.taxCallbackSecret, warehouse: rc.warehouseCallbackSecret },
    egress: config.egress.policy,
    admission,
  });
  ctx.metrics.removeSingleMetric(RECEIPT_DLQ_METRIC);
  const deadLettered = new Counter({
    name: RECEIPT_DLQ_METRIC,
    help: "Receipt records and status updates this node dead-lettered because Postgres cannot store them",
    labelNames: ["kind"],
    registers: [ctx.metrics],
  });

  const metrics = receiptMetrics(ctx.metrics);

  const loops: ConsumerLoop[] = [];
  let partitionTimer: NodeJS.Timeout | undefined;
  let sweeper: { stop(): void } | undefined;

  /** Once the broker runs: partitions kept ahead, and on worker nodes the writer and the sweeper. */
  async function started(b: ServiceBroker): Promise<void> {
    if (rc.devCallbackSecrets)
      log.warn(
        "receipts: callbacks are verified with the well-known development secrets (set TAX_CALLBACK_SECRET and WAREHOUSE_CALLBACK_SECRET for anything real)",
      );
    // partitions for this month and the next three, then once a day
    const ensure = (): void =>
      void store
        .ensurePartitions(new Date(), 4)
        .catch((err: unknown) => log.error({ err: errorMessage(err) }, "receipt partitions not ensured"));
    ensure();
    partitionTimer = setInterval(ensure, 24 * 3600_000);
    partitionTimer.unref();
    backlog?.start();
    if (!config.workers) return; // an API node: the writer and the sweeper run on worker nodes
    loops.push(
      await startReceiptWriter({
        nats: ctx.nats,
        names,
        store,
        dlq: new DeadLetters(ctx.nats, ctx.topology.dlq.stream),
        logger: log.child({ part: "writer" }),
        batchRows: rc.batchRows,
        batchMs: rc.batchMs,
        // the alarm: a metric, and the alarm.dlq event (the writer logs the error line)
        onStatusStored: (u) => metrics.statusStored(u),
        onDeadLetter: (letter) => {
          deadLettered.inc({ kind: letter.kind });
          void b.broadcast("alarm.dlq", receiptDlqAlarm(letter, config.nodeId, Date.now())).catch(() => undefined);
        },
      }),
    );
    sweeper = startSweeper({
      store,
      runtime: ctx.runtime,
      logger: log.child({ part: "sweeper" }),
      callbackWaitMs: rc.callbackWaitMs,
      orphanAfterMs: Math.min(60_000, rc.callbackWaitMs),
      deadlineMs: rc.deadlineMs,
    });
    ctx.health.register("receipts", () => ({ ok: loops.every((l) => l.running()) }));
  }

  return {
    services: [
      receiptsService(api, rc.publicUrl, () => loops, {
        created: (b) => void (broker = b),
        started,
        hotDays: rc.hotDays,
      }),
    ],
    deps: { clients, deliveries, egress, logger: log.child({ part: "webhooks" }), metrics },
    async stop() {
      ctx.admission?.delete(SUBMIT_ACTION);
      if (partitionTimer) clearInterval(partitionTimer);
      backlog?.stop();
      sweeper?.stop();
      sweeper = undefined;
      await Promise.all(loops.map((l) => l.stop()));
      loops.length = 0;
      egress.close();
    },
  };
}

/** The receipts domain (see module doc). */
export const receiptsDomain = defineDomain<ReceiptJobDeps>({
  name: "receipts",
  config: receiptsConfig,
  summary:
    "receipt registration: JSON and XML receipts validated, registered with the tax and warehouse services, durable status, client webhooks",
  declare: (config, topo) => ({
    migrations: receiptMigrations,
    streams: receiptDeclarations(topo, config),
    kinds: [
      receiptKind({
        registry: receiptTypes,
        statusSubject: receiptNames(config.namespace).statusSubject,
        deadlineMs: config.receipts.deadlineMs,
        callbackWaitMs: config.receipts.callbackWaitMs,
        webhookDeadlineMs: config.receipts.webhookDeadlineMs,
        publicUrl: config.receipts.publicUrl,
      }),
    ],
    jobs: receiptJobs(config),
    routes: receiptRoutes,
  }),
  start: startReceipts,
  simulators: receiptSimulators,
});
