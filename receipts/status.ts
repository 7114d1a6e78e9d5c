/**
 * The status document of GET /receipts/{id}/status, built from whichever copy of the receipt
 * is freshest: the actor's state (KV), the stored record before the actor handled it
 * (RECEIVED), or the Postgres row (after the hot state expired).
 */
import type { ErrorDetail } from "../lib/errors";
import type { ReceiptState, RegistrationState, RegistrationStep } from "../actors/receipt.actor";
import type { ReceiptStatus } from "./model";

/** One registration step as clients see it. */
export interface RegistrationStepView {
  readonly state: RegistrationState;
  readonly reference: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
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
}

function stepView(s: RegistrationStep): RegistrationStepView {
  return { state: s.state, reference: s.reference, attempts: s.attempts, lastError: s.lastError };
}

const pending: RegistrationStepView = { state: "pending", reference: null, attempts: 0, lastError: null };

/** The status of a receipt whose actor has handled it. */
export function statusFromState(s: ReceiptState & { status: ReceiptStatus }): ReceiptStatusView {
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
  };
}

/** The status of a stored receipt its actor has not handled yet. */
export function statusReceived(id: string, createdAt: number): ReceiptStatusView {
  const at = new Date(createdAt).toISOString();
  return { id, status: "RECEIVED", reason: null, steps: { validation: { state: "pending" }, tax: pending, warehouse: pending }, createdAt: at, updatedAt: at };
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
  const validation = row.status === "INVALID" ? { state: "failed" as const } : row.status === "RECEIVED" ? { state: "pending" as const } : { state: "passed" as const };
  return {
    id: row.id,
    status: row.status,
    reason: row.reason,
    steps: { validation, tax: step(row.taxReference), warehouse: step(row.warehouseReference) },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
