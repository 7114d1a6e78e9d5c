/**
 * The receipts domain's Prometheus metrics, on the node's registry (GET /metrics):
 *
 *   switchyard_receipts_status_total{status}                      receipts reaching each status (as stored in Postgres)
 *   switchyard_receipts_time_to_terminal_seconds{status}          from receipt to ACCEPTED / REJECTED / INVALID / FAILED
 *   switchyard_receipt_registrations_total{service,outcome}       registration calls: registered | pending (202) | rejected | error
 *   switchyard_receipt_webhook_deliveries_total{outcome}          client webhook attempts: delivered | failed | refused
 *
 * Statuses are counted by the Postgres writer (worker nodes), calls and deliveries where they run.
 */
import { Counter, Histogram, type Registry } from "prom-client";
import { isTerminal } from "./model";
import type { ReceiptStatusUpdate, RegistrationService } from "./receipt.actor";

/** How a registration call ended. */
export type RegistrationOutcome = "registered" | "pending" | "rejected" | "error";
/** How a client webhook attempt ended. */
export type WebhookOutcome = "delivered" | "failed" | "refused";

/** What the receipts code reports. */
export interface ReceiptMetrics {
  registration(service: RegistrationService, outcome: RegistrationOutcome): void;
  webhook(outcome: WebhookOutcome): void;
  /** A status update Postgres stored. */
  statusStored(update: ReceiptStatusUpdate): void;
}

export const RECEIPT_METRIC_NAMES = [
  "switchyard_receipts_status_total",
  "switchyard_receipts_time_to_terminal_seconds",
  "switchyard_receipt_registrations_total",
  "switchyard_receipt_webhook_deliveries_total",
] as const;

/** Registers the receipts metrics on `registry` (again after a restart of the domain). */
export function receiptMetrics(registry: Registry): ReceiptMetrics {
  for (const name of RECEIPT_METRIC_NAMES) registry.removeSingleMetric(name);
  const [statusName, terminalName, registrationsName, webhooksName] = RECEIPT_METRIC_NAMES;
  const status = new Counter({
    name: statusName,
    help: "Receipts that reached each status (counted when Postgres stored the status)",
    labelNames: ["status"],
    registers: [registry],
  });
  const toTerminal = new Histogram({
    name: terminalName,
    help: "Time from a receipt's arrival to its terminal status",
    labelNames: ["status"],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86_400],
    registers: [registry],
  });
  const registrations = new Counter({
    name: registrationsName,
    help: "Registration calls to the tax and warehouse services, by outcome",
    labelNames: ["service", "outcome"],
    registers: [registry],
  });
  const webhooks = new Counter({
    name: webhooksName,
    help: "Client webhook delivery attempts, by outcome",
    labelNames: ["outcome"],
    registers: [registry],
  });
  return {
    registration: (service, outcome) => registrations.inc({ service, outcome }),
    webhook: (outcome) => webhooks.inc({ outcome }),
    statusStored(u) {
      status.inc({ status: u.status });
      if (isTerminal(u.status)) toTerminal.observe({ status: u.status }, Math.max(0, u.updatedAt - u.createdAt) / 1000);
    },
  };
}
