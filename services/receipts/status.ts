/**
 * The status document of GET /receipts/{id}/status, built from whichever copy of the receipt
 * is freshest: the actor's state (KV), the stored record before the actor handled it
 * (RECEIVED), or the Postgres row (after the hot state expired).
 */
import type { ErrorDetail } from "../../lib/errors";
import type { ReceiptState, RegistrationState, RegistrationStep, WebhookRecord } from "./receipt.actor";
import type { ReceiptStatus } from "./model";
import type { DeliveryInfo } from "./deliveries";

/**
 * The only error text clients see of a failed webhook attempt (with the HTTP status when the
 * endpoint answered); receipts/jobs.ts records it. Causes (connection refused, timeouts, refused
 * destinations) stay in the logs and the DLQ: shown to clients they would map the platform's network.
 */
export const WEBHOOK_DELIVERY_FAILED = "webhook delivery failed";

/** One registration step as clients see it. */
export interface RegistrationStepView {
  readonly state: RegistrationState;
  readonly reference: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

/** A client webhook and its delivery, as clients see it. */
export interface WebhookView {
  readonly id: string;
  readonly event: string;
  /** pending: being delivered (retried with backoff); failed: gave up (dead-lettered) at the deadline or at once (refused destination). */
  readonly state: "pending" | "delivered" | "failed";
  readonly attempts: number;
  readonly lastAttemptAt: string | null;
  /** HTTP status of the last attempt when the endpoint answered. */
  readonly lastStatus: number | null;
  /** Null, or "webhook delivery failed": the cause is in the platform's logs only. */
  readonly lastError: string | null;
  readonly deliveredAt: string | null;
  readonly createdAt: string;
}

/** The status document. */
export interface ReceiptStatusView {
  readonly id: string;
  readonly status: ReceiptStatus;
  readonly reason: string | null;
  readonly steps: {
    readonly validation: { readonly state: "pending" | "passed" | "failed"; readonly errors?: readonly ErrorDetail[] };
    readonly tax: RegistrationStepView;
    readonly warehouse: RegistrationStepView;
  };
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Client webhooks sent for this receipt (terminal statuses), with their delivery attempts. */
  readonly webhooks: readonly WebhookView[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function webhookView(w: WebhookRecord, d: DeliveryInfo | undefined, now: number): WebhookView {
  const deliveredAt = d?.deliveredAt ?? null;
  const state =
    deliveredAt !== null ? "delivered" : (d?.failedAt ?? null) !== null || now >= w.deadline ? "failed" : "pending";
  return {
    id: w.id,
    event: w.event,
    state,
    attempts: d?.attempts ?? 0,
    lastAttemptAt: iso(d?.lastAttemptAt ?? null),
    lastStatus: d?.lastStatus ?? null,
    // whatever an older entry recorded, clients see no cause
    lastError: d?.lastError == null ? null : WEBHOOK_DELIVERY_FAILED,
    deliveredAt: iso(deliveredAt),
    createdAt: new Date(w.createdAt).toISOString(),
  };
}

function stepView(s: RegistrationStep): RegistrationStepView {
  return { state: s.state, reference: s.reference, attempts: s.attempts, lastError: s.lastError };
}

const pending: RegistrationStepView = { state: "pending", reference: null, attempts: 0, lastError: null };

/**
 * The status of a receipt whose actor has handled it, with the delivery log of its webhooks
 * (`now` decides whether an undelivered webhook gave up).
 */
export function statusFromState(
  s: ReceiptState & { status: ReceiptStatus },
  now: number,
  deliveries: Readonly<Record<string, DeliveryInfo>> = {},
): ReceiptStatusView {
  const v = s.steps.validation;
  return {
    id: s.id,
    status: s.status,
    reason: s.reason,
    steps: {
      validation: v.state === "failed" ? { state: v.state, errors: v.errors } : { state: v.state },
      tax: stepView(s.steps.tax),
      warehouse: stepView(s.steps.warehouse),
    },
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
    webhooks: s.webhooks.map((w) => webhookView(w, deliveries[w.id], now)),
  };
}

/** The status of a stored receipt its actor has not handled yet. */
export function statusReceived(id: string, createdAt: number): ReceiptStatusView {
  const at = new Date(createdAt).toISOString();
  return {
    id,
    status: "RECEIVED",
    reason: null,
    steps: { validation: { state: "pending" }, tax: pending, warehouse: pending },
    createdAt: at,
    updatedAt: at,
    webhooks: [],
  };
}

/** A status rebuilt from the long-term store (step details other than references are gone). */
export function statusFromRow(row: {
  id: string;
  status: ReceiptStatus;
  reason: string | null;
  taxReference: string | null;
  warehouseReference: string | null;
  createdAt: string;
  updatedAt: string;
}): ReceiptStatusView {
  const step = (ref: string | null): RegistrationStepView => ({
    state: ref ? "registered" : row.status === "REJECTED" ? "rejected" : row.status === "FAILED" ? "failed" : "pending",
    reference: ref,
    attempts: ref ? 1 : 0,
    lastError: null,
  });
  const validation =
    row.status === "INVALID"
      ? { state: "failed" as const }
      : row.status === "RECEIVED"
        ? { state: "pending" as const }
        : { state: "passed" as const };
  return {
    id: row.id,
    status: row.status,
    reason: row.reason,
    steps: { validation, tax: step(row.taxReference), warehouse: step(row.warehouseReference) },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    webhooks: [],
  };
}
