/**
 * The receipt domain's jobs (run by the runtime's workers, retried with backoff and jitter
 * until their deadline, behind a circuit breaker per job name on each node):
 *
 *   taxreg / whreg   register a receipt with the tax / warehouse service (the registration
 *                    protocol: POST {base}/registrations, Idempotency-Key = receipt id)
 *   rcpthook         delivers a client webhook, signed per Standard Webhooks with the client's
 *                    secret, through the egress check (lib/egress-http.ts: a destination that
 *                    is or resolves to a non-public address is refused, final, dead-lettered at
 *                    once); logs every attempt (receipts/deliveries.ts, shown in the status
 *                    document, without the cause); dead-lettered by the runtime after its deadline
 *
 * The registration calls go to TAX_API_URL and WAREHOUSE_API_URL, operator configuration, and
 * are not egress-checked (the simulators and many real deployments are on private addresses).
 */
import { httpRequest, jsonOf, reasonOf, retryAfterMs, type HttpResponse } from "../../lib/http-client";
import type { Config } from "../../config";
import type { JobContext } from "../../actors/types";
import type { DomainJob } from "../../node/domain";
import {
  REGISTRATION_JOBS,
  clientWebhook,
  type RegistrationJobData,
  type RegistrationJobResult,
  type RegistrationService,
  type WebhookJobData,
  type WebhookJobResult,
} from "./receipt.actor";
import { RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import { EgressRefusedError, type Egress } from "../../lib/egress-http";
import type { Logger } from "../../lib/logger";
import { signWebhook } from "./webhooks";
import type { DeliveryLog } from "./deliveries";
import { WEBHOOK_DELIVERY_FAILED } from "./status";
import type { ReceiptMetrics } from "./metrics";

/** Where to sign client webhooks (the gateway domain's `clients.webhook` action, see service.ts). */
export interface ClientLookup {
  /** The client's registered webhook URL and secret, or undefined for an unknown client. */
  webhookOf(clientId: string): Promise<{ url: string | null; secret: string } | undefined>;
}

/** What the receipts jobs need from the node that runs them (what the domain's `start` returns as `deps`). */
export interface ReceiptJobDeps {
  readonly clients: ClientLookup;
  readonly deliveries: DeliveryLog;
  /** Calls to webhook URLs, checked against the egress policy where they connect. */
  readonly egress: Egress;
  readonly logger: Logger;
  /** Calls and deliveries counted (metrics.ts). */
  readonly metrics?: ReceiptMetrics;
}

/** The callback URL the external `service` is given for its results. */
export function callbackUrlFor(publicUrl: string, service: RegistrationService): string {
  return `${publicUrl}/api/v1/callbacks/${service}`;
}

const NEVER_OPEN = { failures: Number.MAX_SAFE_INTEGER, openMs: 1 } as const;

/**
 * One registration call. 201 → `{registrationId}`; 202 → `{pending: true}`; 400/422 →
 * TerminalError with the service's reason (REJECTED); 429, 5xx, other answers, network
 * errors and timeouts → RetryableError (retried until the deadline, then FAILED).
 */
export async function register(
  baseUrl: string,
  callbackUrl: string,
  data: RegistrationJobData,
  signal: AbortSignal,
): Promise<RegistrationJobResult> {
  let res: HttpResponse;
  try {
    res = await httpRequest(`${baseUrl}/registrations`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": data.receiptId },
      body: JSON.stringify({
        receiptId: data.receiptId,
        type: data.type,
        issuedAt: data.issuedAt,
        total: data.total,
        currency: data.currency,
        callbackUrl,
        document: data.document,
      }),
      signal,
    });
  } catch (err) {
    throw new RetryableError(`${data.service} service unreachable: ${signal.aborted ? "timeout" : errorMessage(err)}`);
  }
  if (res.status === 201 || res.status === 200) {
    const body = jsonOf(res);
    if (body === undefined || body === null)
      throw new RetryableError(`${data.service} service answered ${res.status} without JSON`);
    const registrationId = typeof body === "object" && "registrationId" in body ? body.registrationId : undefined;
    if (typeof registrationId !== "string" || registrationId === "")
      throw new RetryableError(`${data.service} service answered ${res.status} without a registrationId`);
    return { registrationId };
  }
  if (res.status === 202) return { pending: true };
  if (res.status === 422 || res.status === 400) {
    const reason = reasonOf(res);
    throw new TerminalError(`${data.service} service refused the receipt: ${reason}`, reason);
  }
  const reason = reasonOf(res);
  // 429 asks us to slow down; a 503's Retry-After is left to our own backoff and breaker
  const after = res.status === 429 ? retryAfterMs(res) : undefined;
  throw new RetryableError(`${data.service} service answered ${res.status}: ${reason}`, after);
}

/** A registration job for `service` at `baseUrl` (it needs no deps: the registration APIs are operator configuration). */
export function registrationJob(
  service: RegistrationService,
  baseUrl: string,
  config: Config,
): DomainJob<RegistrationJobData, RegistrationJobResult, ReceiptJobDeps> {
  const rc = config.receipts;
  const callbackUrl = callbackUrlFor(rc.publicUrl, service);
  return {
    name: REGISTRATION_JOBS[service].name,
    run: async (data, ctx, deps) => {
      try {
        const r = await register(baseUrl, callbackUrl, data, ctx.signal);
        deps?.metrics?.registration(service, "registrationId" in r ? "registered" : "pending");
        return r;
      } catch (err) {
        deps?.metrics?.registration(service, err instanceof TerminalError ? "rejected" : "error");
        throw err;
      }
    },
    concurrency: rc.jobConcurrency,
    timeoutMs: rc.callTimeoutMs,
    deadlineMs: rc.deadlineMs,
    backoff: { baseMs: 250, maxMs: 15_000 },
    breaker: { failures: 20, openMs: 5_000 },
  };
}

/**
 * Delivers one client webhook (see module doc). A 2xx is delivered; a refused destination is a
 * TerminalError (dead-lettered, no retries); anything else is retried until the deadline. Each
 * attempt is logged (best effort: the log is observability) with the generic error only.
 */
export async function deliverWebhook(
  deps: ReceiptJobDeps,
  data: WebhookJobData,
  ctx: JobContext,
): Promise<WebhookJobResult> {
  const report = async (ok: boolean, status: number | null, final = false): Promise<void> => {
    const at = Date.now();
    const info = {
      attempts: ctx.attempt,
      lastAttemptAt: at,
      lastStatus: status,
      lastError: ok ? null : WEBHOOK_DELIVERY_FAILED,
      deliveredAt: ok ? at : null,
      failedAt: final ? at : null,
    };
    await deps.deliveries.record(data.receiptId, ctx.id, info).catch(() => undefined);
  };
  const client = await deps.clients.webhookOf(data.clientId);
  if (!client) throw new TerminalError(`client ${data.clientId} no longer exists`);
  const headers = signWebhook(client.secret, ctx.id, data.body, Date.now());
  let res: HttpResponse;
  try {
    // Redirects are not followed: a webhook endpoint answers where it is registered.
    res = await deps.egress.request(data.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "switchyard-webhooks/1", ...headers },
      body: data.body,
      signal: ctx.signal,
    });
  } catch (err) {
    if (err instanceof EgressRefusedError) {
      deps.logger.warn(
        {
          receiptId: data.receiptId,
          clientId: data.clientId,
          webhookId: ctx.id,
          url: data.url,
          reason: err.refusal.reason,
        },
        "webhook destination refused",
      );
      await report(false, null, true);
      deps.metrics?.webhook("refused");
      throw new TerminalError(`webhook to ${data.url} refused: ${err.refusal.reason}`);
    }
    await report(false, null);
    deps.metrics?.webhook("failed");
    throw new RetryableError(`webhook to ${data.url} failed: ${ctx.signal.aborted ? "timeout" : errorMessage(err)}`);
  }
  if (res.status >= 200 && res.status < 300) {
    await report(true, res.status);
    deps.metrics?.webhook("delivered");
    return { status: res.status };
  }
  await report(false, res.status);
  deps.metrics?.webhook("failed");
  throw new RetryableError(
    `webhook to ${data.url} answered ${res.status}`,
    res.status === 429 ? retryAfterMs(res) : undefined,
  );
}

/** The client webhook job; its deps are what the receipts domain's `start` returned on this node. */
export function webhookJob(config: Config): DomainJob<WebhookJobData, WebhookJobResult, ReceiptJobDeps> {
  return {
    name: clientWebhook.name,
    run: (data, ctx, deps) => deliverWebhook(deps, data, ctx),
    concurrency: 64,
    timeoutMs: 10_000,
    deadlineMs: config.receipts.webhookDeadlineMs,
    backoff: { baseMs: 1_000, maxMs: 600_000 },
    // one client's dead endpoint must not stop webhooks to every other client
    breaker: NEVER_OPEN,
  };
}

/** Every job of the receipts domain. */
export function receiptJobs(
  config: Config,
): [
  DomainJob<RegistrationJobData, RegistrationJobResult, ReceiptJobDeps>,
  DomainJob<RegistrationJobData, RegistrationJobResult, ReceiptJobDeps>,
  DomainJob<WebhookJobData, WebhookJobResult, ReceiptJobDeps>,
] {
  return [
    registrationJob("tax", config.receipts.taxApiUrl, config),
    registrationJob("warehouse", config.receipts.warehouseApiUrl, config),
    webhookJob(config),
  ];
}
