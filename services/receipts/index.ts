/**
 * The receipts domain's public surface. Pure modules (types, parsing, validation, rules,
 * idempotency, signatures, status views) import no I/O clients; the store, writer, jobs and sweeper
 * that do I/O are exported from here too and take their connections as arguments.
 */
/** The receipts domain module (services/index.ts lists it). */
export { receiptsDomain } from "./service";
export * from "./model";
export { ReceiptTypeRegistry, MAX_DETAILS } from "./registry";
export { RECEIPT_TYPES } from "./types";
export { readReceipt, ruleErrors, formatOf, DEFAULT_BODY_LIMITS, type BodyLimits, type ReadReceipt } from "./parse";
export { newReceiptId, isReceiptId, timeOfId } from "./ids";
export { fingerprint, checkIdempotencyKey, idempotencySlot, reuse, type IdempotencyRecord } from "./idempotency";
export { signWebhook, verifyWebhook, newWebhookSecret, type WebhookHeaders, type VerifyFailure } from "./webhooks";
export { statusFromState, statusReceived, statusFromRow, type ReceiptStatusView, type RegistrationStepView } from "./status";
