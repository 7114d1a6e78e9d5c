/**
 * The receipt actor: one per receipt, keyed by receipt id. A pure state machine
 * `(state, message) -> { state, effects }`:
 *
 *   submit ──rules fail──▶ INVALID
 *      └──rules pass──▶ REGISTERING: tax and warehouse registration jobs, in parallel
 *   job result / signed callback per service: registered | rejected | pending (202: wait for
 *   the callback; a `recheck` after `callbackWaitMs` asks again with the same idempotency key) | failed
 *   (the job's deadline passed)
 *   both registered ──▶ ACCEPTED; any rejected ──▶ REJECTED (with the service's reason);
 *   none in flight and one failed ──▶ FAILED; operator retry of FAILED ──▶ REGISTERING again
 *   (new job ids, new deadline).
 *
 * Late, duplicate and out-of-order inputs are ignored when they change nothing: a final step
 * (registered, rejected) never changes, a result of an older job only counts when it carries
 * a registration. Every status change publishes a status update (for the Postgres store, with
 * the references known by then; a reference alone publishes nothing) and
 * every terminal status a client webhook job (no replyTo: the runtime DLQs it after its
 * deadline).
 */
import type { ActorKind, ActorMessage, Effect, HandlerContext, HandlerResult, JobResult } from "../../actors/types";
import { isJobResult } from "../../actors/types";
import { defineJob, defineKind, type JobRef } from "../../actors/refs";
import { TerminalError, type ErrorDetail } from "../../lib/errors";
import type { ReceiptDocument, ReceiptFormat, ReceiptStatus, ReceiptSummary } from "./model";
import { isTerminal } from "./model";
import type { ReceiptTypeRegistry } from "./registry";

/** The external services a receipt is registered with. */
export const REGISTRATION_SERVICES = ["tax", "warehouse"] as const;
/** One of {@link REGISTRATION_SERVICES}. */
export type RegistrationService = (typeof REGISTRATION_SERVICES)[number];

const SHORT: Record<RegistrationService, string> = { tax: "tax", warehouse: "wh" };

/** Where one registration stands. */
export type RegistrationState = "pending" | "registering" | "awaiting-callback" | "registered" | "rejected" | "failed";

/** One external registration of a receipt. */
export interface RegistrationStep {
  readonly state: RegistrationState;
  /** The service's registration id once registered. */
  readonly reference: string | null;
  /** HTTP attempts made so far, over every job. */
  readonly attempts: number;
  readonly lastError: string | null;
  /** The job whose result is awaited (ids are `{receipt}-{tax|wh}-{generation}`). */
  readonly jobId: string | null;
  /** Jobs issued so far. */
  readonly generation: number;
  /** Since when (ms) a callback is awaited (a 202 was answered); null otherwise. */
  readonly pendingSince: number | null;
  /** Past this moment (ms) the registration counts as failed. */
  readonly deadlineAt: number | null;
}

/** The validation step. */
export interface ValidationStep {
  readonly state: "pending" | "passed" | "failed";
  readonly errors: readonly ErrorDetail[];
}

/**
 * A client webhook the actor asked for. Its delivery attempts are logged by the webhook job
 * (receipts/deliveries.ts), not here: they change nothing in the receipt's state.
 */
export interface WebhookRecord {
  /** The job id, also the `webhook-id` header (stable across delivery retries). */
  readonly id: string;
  readonly event: WebhookEvent;
  readonly createdAt: number;
  /** Past this moment (ms) delivery stops and the webhook goes to the DLQ. */
  readonly deadline: number;
}

/** Webhook notices sent to clients on terminal statuses. */
export type WebhookEvent = "receipt.accepted" | "receipt.rejected" | "receipt.invalid" | "receipt.failed";

/** The actor's state (stored in KV; the hot status of a receipt). */
export interface ReceiptState {
  readonly id: string;
  /** Incremented on every change; 0 before the receipt was submitted. */
  readonly version: number;
  /** null until the submit message has been handled. */
  readonly status: ReceiptStatus | null;
  readonly clientId: string;
  readonly type: string;
  readonly format: ReceiptFormat;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly callbackUrl: string | null;
  readonly summary: ReceiptSummary | null;
  /** Kept while it may still be needed for (re-)registration; dropped at final statuses. */
  readonly document: ReceiptDocument | null;
  /** Why the receipt is REJECTED, INVALID or FAILED. */
  readonly reason: string | null;
  readonly steps: {
    readonly validation: ValidationStep;
    readonly tax: RegistrationStep;
    readonly warehouse: RegistrationStep;
  };
  readonly webhooks: readonly WebhookRecord[];
  readonly operatorRetries: number;
}

/** A receipt as the intake hands it to its actor (already stored and schema-valid). */
export interface SubmittedReceipt {
  readonly id: string;
  readonly clientId: string;
  readonly type: string;
  readonly format: ReceiptFormat;
  /** When the receipt was received (ms since the epoch). */
  readonly createdAt: number;
  readonly callbackUrl: string | null;
  readonly summary: ReceiptSummary;
  readonly document: ReceiptDocument;
}

/** Messages a receipt actor understands (besides job results). */
export type ReceiptCommand =
  | { readonly type: "submit"; readonly receipt: SubmittedReceipt }
  | {
      readonly type: "callback";
      readonly service: RegistrationService;
      readonly status: "registered";
      readonly registrationId: string;
    }
  | {
      readonly type: "callback";
      readonly service: RegistrationService;
      readonly status: "rejected";
      readonly reason: string;
    }
  | { readonly type: "retry"; readonly requestedBy?: string }
  /** From the sweeper: re-ask services whose callback is overdue, fail those past the deadline. */
  | { readonly type: "recheck" };

/** Everything a receipt actor's mailbox takes: commands and the results of its registration jobs. */
export type ReceiptMessage = ReceiptCommand | JobResult<RegistrationJobResult>;

/** The data of a registration job (tax or warehouse). */
export interface RegistrationJobData {
  readonly receiptId: string;
  readonly service: RegistrationService;
  readonly type: string;
  readonly issuedAt: string;
  readonly total: number;
  readonly currency: string;
  readonly document: ReceiptDocument;
}

/** A registration job's successful result. */
export type RegistrationJobResult = { readonly registrationId: string } | { readonly pending: true };

/** The data of a client webhook job (the `webhook-id` is the job id). */
export interface WebhookJobData {
  readonly receiptId: string;
  readonly clientId: string;
  readonly url: string;
  /** The body to send, as sent (signed byte for byte). */
  readonly body: string;
  readonly event: WebhookEvent;
}

/** A delivered webhook: the HTTP status the client's endpoint answered (2xx). */
export interface WebhookJobResult {
  readonly status: number;
}

/**
 * The receipt kind's typed reference: `receipt.on(runtime).send(id, command)` from the API and
 * the sweeper, `receipt.on(runtime).state(id)` for the hot status.
 */
export const receipt = defineKind<ReceiptState, ReceiptMessage>("receipt");

/** The tax registration job (subject token `taxreg`: stored job streams keep this name). */
export const taxRegistration = defineJob<RegistrationJobData, RegistrationJobResult>("taxreg");
/** The warehouse (logistics) registration job (subject token `whreg`). */
export const warehouseRegistration = defineJob<RegistrationJobData, RegistrationJobResult>("whreg");
/** The client webhook delivery job (subject token `rcpthook`); its result goes nowhere (no replyTo). */
export const clientWebhook = defineJob<WebhookJobData, WebhookJobResult>("rcpthook");

/** The registration job of each service. */
export const REGISTRATION_JOBS: Readonly<
  Record<RegistrationService, JobRef<RegistrationJobData, RegistrationJobResult>>
> = {
  tax: taxRegistration,
  warehouse: warehouseRegistration,
};

/** The status update published on every status change (consumed by the Postgres writer). */
export interface ReceiptStatusUpdate {
  readonly id: string;
  readonly createdAt: number;
  readonly version: number;
  readonly status: ReceiptStatus;
  readonly updatedAt: number;
  readonly taxReference: string | null;
  readonly warehouseReference: string | null;
  readonly reason: string | null;
}

/** What the receipt kind needs from its node. */
export interface ReceiptActorOptions {
  /** Receipt types, for business rules. */
  readonly registry: ReceiptTypeRegistry;
  /** The subject status updates are published to. */
  statusSubject(id: string): string;
  /** Time allowed for each registration (from its start or an operator retry). */
  readonly deadlineMs: number;
  /** After a 202, how long to wait for the callback before a recheck asks the service again. */
  readonly callbackWaitMs: number;
  /** Time allowed to deliver a client webhook before it goes to the DLQ. */
  readonly webhookDeadlineMs: number;
  /** Public base URL for status links in webhooks (e.g. https://api.example.com). */
  readonly publicUrl: string;
  readonly partitions?: number;
}

function emptyStep(): RegistrationStep {
  return {
    state: "pending",
    reference: null,
    attempts: 0,
    lastError: null,
    jobId: null,
    generation: 0,
    pendingSince: null,
    deadlineAt: null,
  };
}

/** The state of a receipt actor that has handled nothing. */
export function initialReceiptState(id: string): ReceiptState {
  return {
    id,
    version: 0,
    status: null,
    clientId: "",
    type: "",
    format: "json",
    createdAt: 0,
    updatedAt: 0,
    callbackUrl: null,
    summary: null,
    document: null,
    reason: null,
    steps: { validation: { state: "pending", errors: [] }, tax: emptyStep(), warehouse: emptyStep() },
    webhooks: [],
    operatorRetries: 0,
  };
}

const FINAL_STEP: readonly RegistrationState[] = ["registered", "rejected"];
const IN_FLIGHT: readonly RegistrationState[] = ["pending", "registering", "awaiting-callback"];

/** Working copy: a state and the effects collected while handling one message. */
interface Draft {
  s: ReceiptState;
  effects: Effect[];
}

/** The service whose registration job `data` is the result of, if it is one. */
function registrationResultOf(
  data: unknown,
): { svc: RegistrationService; result: JobResult<RegistrationJobResult> } | undefined {
  for (const svc of REGISTRATION_SERVICES) {
    if (REGISTRATION_JOBS[svc].isResult(data)) return { svc, result: data };
  }
  return undefined;
}

function setStep(d: Draft, svc: RegistrationService, step: RegistrationStep): void {
  d.s = { ...d.s, steps: { ...d.s.steps, [svc]: step } };
}

/** Issues the next registration job of `svc` (a new generation, the same idempotency key). */
function startRegistration(d: Draft, svc: RegistrationService, now: number, deadlineAt: number): void {
  const step = d.s.steps[svc];
  const generation = step.generation + 1;
  const jobId = `${d.s.id}-${SHORT[svc]}-${generation}`;
  setStep(d, svc, { ...step, state: "registering", jobId, generation, pendingSince: null, deadlineAt });
  const summary = d.s.summary;
  const document = d.s.document;
  if (!summary || !document) throw new TerminalError(`receipt ${d.s.id} has no document to register`);
  const data: RegistrationJobData = {
    receiptId: d.s.id,
    service: svc,
    type: d.s.type,
    issuedAt: summary.issuedAt,
    total: summary.total,
    currency: summary.currency,
    document,
  };
  // a local job: the call runs on this node right after this state write, its outcome is
  // journaled in the next one; retries and breaker waits go to the job's stream
  d.effects.push(
    REGISTRATION_JOBS[svc].effect(data, { id: jobId, deadlineMs: Math.max(1, deadlineAt - now), local: true }),
  );
}

function webhookEvent(status: ReceiptStatus): WebhookEvent | undefined {
  switch (status) {
    case "ACCEPTED":
      return "receipt.accepted";
    case "REJECTED":
      return "receipt.rejected";
    case "INVALID":
      return "receipt.invalid";
    case "FAILED":
      return "receipt.failed";
    default:
      return undefined;
  }
}

/** The body of a client webhook (Standard Webhooks payload shape: type, timestamp, data). */
export function webhookBody(s: ReceiptState, event: WebhookEvent, now: number, publicUrl: string): string {
  return JSON.stringify({
    type: event,
    timestamp: new Date(now).toISOString(),
    data: {
      id: s.id,
      status: s.status,
      type: s.type,
      references: { tax: s.steps.tax.reference, warehouse: s.steps.warehouse.reference },
      reason: s.reason,
      ...(s.steps.validation.state === "failed" ? { errors: s.steps.validation.errors } : {}),
      statusUrl: `${publicUrl}/api/v1/receipts/${s.id}/status`,
    },
  });
}

function reasonOf(s: ReceiptState, status: ReceiptStatus): string | null {
  const { tax } = s.steps;
  switch (status) {
    case "REJECTED": {
      const svc = tax.state === "rejected" ? "tax" : "warehouse";
      return `${svc} service rejected the receipt: ${s.steps[svc].lastError ?? "no reason given"}`;
    }
    case "FAILED": {
      const failed = REGISTRATION_SERVICES.filter((svc) => s.steps[svc].state === "failed");
      return failed.map((svc) => `${svc} service: ${s.steps[svc].lastError ?? "unreachable"}`).join("; ");
    }
    case "INVALID":
      return `business rules failed (${s.steps.validation.errors.length} problem${s.steps.validation.errors.length === 1 ? "" : "s"})`;
    default:
      return null;
  }
}

/** The status the steps call for. */
function derivedStatus(s: ReceiptState): ReceiptStatus {
  if (s.status === "INVALID") return "INVALID";
  const steps = REGISTRATION_SERVICES.map((svc) => s.steps[svc]);
  if (steps.some((st) => st.state === "rejected")) return "REJECTED";
  if (steps.every((st) => st.state === "registered")) return "ACCEPTED";
  if (steps.some((st) => st.state === "failed") && !steps.some((st) => IN_FLIGHT.includes(st.state))) return "FAILED";
  return "REGISTERING";
}

/**
 * Settles the status after a change of steps. A REJECTED receipt stays REJECTED; FAILED may
 * still become ACCEPTED or REJECTED when a late callback or result brings the truth.
 */
function settle(d: Draft, opts: ReceiptActorOptions, now: number, before: ReceiptState): void {
  const next: ReceiptStatus = before.status === "REJECTED" ? "REJECTED" : derivedStatus(d.s);
  if (next !== before.status) {
    d.s = { ...d.s, status: next, reason: reasonOf(d.s, next) };
    const event = webhookEvent(next);
    if (event) {
      // the document is only needed again for an operator retry of a FAILED receipt
      if (next !== "FAILED") d.s = { ...d.s, document: null };
      const url = d.s.callbackUrl;
      if (url) {
        const id = `${d.s.id}-hook-${d.s.webhooks.length + 1}`;
        const hook: WebhookRecord = { id, event, createdAt: now, deadline: now + opts.webhookDeadlineMs };
        d.s = { ...d.s, webhooks: [...d.s.webhooks, hook] };
        const data: WebhookJobData = {
          receiptId: d.s.id,
          clientId: d.s.clientId,
          url,
          body: webhookBody(d.s, event, now, opts.publicUrl),
          event,
        };
        d.effects.push(clientWebhook.effect(data, { id, deadlineMs: opts.webhookDeadlineMs, replyTo: null }));
      }
    }
  } else if (d.s.status !== next) {
    d.s = { ...d.s, status: next };
  }
  if (d.s === before) return;
  const statusChanged = d.s.status !== before.status;
  d.s = { ...d.s, version: before.version + 1, updatedAt: now };
  // Postgres gets every status (the sweeper reads them); a reference alone waits for the next
  // status (reads of a live receipt come from the actor's state, which has it at once)
  if (statusChanged && d.s.status !== null) {
    const update: ReceiptStatusUpdate = {
      id: d.s.id,
      createdAt: d.s.createdAt,
      version: d.s.version,
      status: d.s.status,
      updatedAt: now,
      taxReference: d.s.steps.tax.reference,
      warehouseReference: d.s.steps.warehouse.reference,
      reason: d.s.reason,
    };
    d.effects.push({
      type: "publish",
      subject: opts.statusSubject(d.s.id),
      id: `${d.s.id}-st-${d.s.version}`,
      data: update,
    });
  }
}

function onSubmit(d: Draft, r: SubmittedReceipt, opts: ReceiptActorOptions, now: number): void {
  // a redelivered or repeated submit changes nothing
  if (d.s.status !== null) return;
  if (r.id !== d.s.id) throw new TerminalError(`submit for ${r.id} reached actor ${d.s.id}`);
  const type = opts.registry.byName(r.type);
  const errors: ErrorDetail[] = type
    ? type.rules(r.document)
    : [{ path: "/type", message: `unknown receipt type ${r.type}` }];
  d.s = {
    ...d.s,
    status: "RECEIVED",
    clientId: r.clientId,
    type: r.type,
    format: r.format,
    createdAt: r.createdAt,
    callbackUrl: r.callbackUrl,
    summary: r.summary,
    document: r.document,
    steps: { ...d.s.steps, validation: { state: errors.length > 0 ? "failed" : "passed", errors } },
  };
  if (errors.length > 0) {
    d.s = { ...d.s, status: "INVALID" };
    return;
  }
  // VALIDATED, then at once REGISTERING: both registrations start in parallel
  d.s = { ...d.s, status: "VALIDATED" };
  const deadlineAt = now + opts.deadlineMs;
  for (const svc of REGISTRATION_SERVICES) startRegistration(d, svc, now, deadlineAt);
}

/** The registration id a job result brings, if any (results come off the wire: checked, not trusted). */
function registrationIdOf(result: RegistrationJobResult | undefined): string | undefined {
  if (typeof result !== "object" || result === null || !("registrationId" in result)) return undefined;
  const id: unknown = result.registrationId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** True when a job result says the service answered 202 (a callback will follow). */
function isPending(result: RegistrationJobResult | undefined): boolean {
  return typeof result === "object" && result !== null && "pending" in result && result.pending === true;
}

function onRegistrationResult(
  d: Draft,
  svc: RegistrationService,
  r: JobResult<RegistrationJobResult>["$job"],
  now: number,
): void {
  const step = d.s.steps[svc];
  if (FINAL_STEP.includes(step.state)) return;
  const result = r.ok ? r.result : undefined;
  const registrationId = registrationIdOf(result);
  const current = r.id === step.jobId;
  // an older job's outcome only matters when it brings a registration
  if (!current && registrationId === undefined) return;
  const attempts = step.attempts + r.attempts;
  if (registrationId !== undefined) {
    setStep(d, svc, {
      ...step,
      state: "registered",
      reference: registrationId,
      attempts,
      lastError: null,
      pendingSince: null,
    });
  } else if (r.ok && isPending(result)) {
    if (step.state === "awaiting-callback") return;
    setStep(d, svc, { ...step, state: "awaiting-callback", attempts, pendingSince: now });
  } else if (r.ok) {
    setStep(d, svc, {
      ...step,
      state: "failed",
      attempts,
      lastError: "the service answered without a registration id",
    });
  } else if (r.terminal) {
    setStep(d, svc, { ...step, state: "rejected", attempts, lastError: r.error ?? "rejected" });
  } else {
    setStep(d, svc, { ...step, state: "failed", attempts, lastError: r.error ?? "deadline passed" });
  }
}

/**
 * A periodic check (sent by the sweeper for receipts registering for long): a callback awaited
 * for `callbackWaitMs` or more is presumed lost, so the service is asked again (same
 * idempotency key: a registered receipt answers 201 with its id); past the deadline the
 * registration fails.
 */
function onRecheck(d: Draft, opts: ReceiptActorOptions, now: number): void {
  for (const svc of REGISTRATION_SERVICES) {
    const step = d.s.steps[svc];
    if (
      step.state !== "awaiting-callback" ||
      step.pendingSince === null ||
      now - step.pendingSince < opts.callbackWaitMs
    )
      continue;
    if (step.deadlineAt !== null && now >= step.deadlineAt) {
      setStep(d, svc, { ...step, state: "failed", pendingSince: null, lastError: "no callback before the deadline" });
    } else {
      startRegistration(d, svc, now, step.deadlineAt ?? now + opts.deadlineMs);
    }
  }
}

function onCallback(d: Draft, c: Extract<ReceiptCommand, { type: "callback" }>): void {
  if (d.s.status === null || d.s.status === "INVALID") return;
  const step = d.s.steps[c.service];
  if (!step || FINAL_STEP.includes(step.state)) return;
  if (c.status === "registered") {
    setStep(d, c.service, {
      ...step,
      state: "registered",
      reference: c.registrationId,
      lastError: null,
      pendingSince: null,
    });
  } else {
    setStep(d, c.service, { ...step, state: "rejected", lastError: c.reason, pendingSince: null });
  }
}

function onRetry(d: Draft, opts: ReceiptActorOptions, now: number): void {
  if (d.s.status !== "FAILED") return;
  d.s = { ...d.s, status: "REGISTERING", reason: null, operatorRetries: d.s.operatorRetries + 1 };
  const deadlineAt = now + opts.deadlineMs;
  for (const svc of REGISTRATION_SERVICES) {
    if (d.s.steps[svc].state === "failed") startRegistration(d, svc, now, deadlineAt);
  }
}

/** True when `data` has the shape of a command (an object with a string `type`; which one is checked by the switch). */
function isCommand(data: unknown): data is ReceiptCommand {
  return typeof data === "object" && data !== null && "type" in data && typeof data.type === "string";
}

/**
 * Handles one message (pure). Unknown messages are a TerminalError (they go to the DLQ for an
 * operator to see); everything else either changes the state or is ignored.
 */
export function handleReceipt(
  state: ReceiptState,
  msg: ActorMessage<ReceiptMessage>,
  ctx: HandlerContext,
  opts: ReceiptActorOptions,
): HandlerResult<ReceiptState> {
  const now = ctx.now;
  const d: Draft = { s: state, effects: [] };
  const data: unknown = msg.data;
  if (isJobResult(data)) {
    // results for a receipt that was never submitted cannot be ours
    if (state.status === null || state.status === "INVALID") return { state };
    const registration = registrationResultOf(data);
    if (registration) onRegistrationResult(d, registration.svc, registration.result.$job, now);
    // webhook jobs carry no replyTo; anything else is not ours and changes nothing
  } else if (isCommand(data)) {
    const type: string = data.type;
    switch (data.type) {
      case "submit":
        onSubmit(d, data.receipt, opts, now);
        break;
      case "callback":
        onCallback(d, data);
        break;
      case "retry":
        onRetry(d, opts, now);
        break;
      case "recheck":
        if (d.s.status === "REGISTERING") onRecheck(d, opts, now);
        break;
      default:
        throw new TerminalError(`unknown receipt message type ${JSON.stringify(type)}`);
    }
  } else {
    throw new TerminalError("a receipt message must be an object with a type or a job result");
  }
  if (d.s !== state) settle(d, opts, now, state);
  return d.effects.length > 0 ? { state: d.s, effects: d.effects } : { state: d.s };
}

/** The receipt actor kind (the {@link receipt} reference implemented with `opts`). */
export function receiptKind(opts: ReceiptActorOptions): ActorKind<ReceiptState, ReceiptMessage> {
  return receipt.implement({
    ...(opts.partitions !== undefined ? { partitions: opts.partitions } : {}),
    initialState: initialReceiptState,
    handle: (state, msg, ctx) => handleReceipt(state, msg, ctx, opts),
  });
}

/** True when a receipt in `state` can be retried by an operator. */
export function canRetry(state: ReceiptState): boolean {
  return state.status === "FAILED";
}

/** True when the receipt reached a status after which only operators or late news act. */
export function isSettled(state: ReceiptState): boolean {
  return state.status !== null && isTerminal(state.status);
}
