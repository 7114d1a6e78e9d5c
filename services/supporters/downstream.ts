/**
 * The user service and ERP service protocols as the delivery jobs speak them:
 *
 *   PUT    {user}/users/{hash}              Idempotency-Key; {hash, messageId, source, receivedAt, identity}
 *   DELETE {user}/users/{hash}              Idempotency-Key; erase a forgotten supporter (404 is fine)
 *   POST   {erp}/supporters/{hash}/events   Idempotency-Key; {hash, messageId, source, receivedAt, events}
 *
 * 2xx: done. 400/404/409/410/413/415/422 (and other 4xx): refused for good (TerminalError, the
 * message is parked in the DLQ). 401/403/408/425/429, 5xx, timeouts and network errors: retried
 * (a credentials problem is fixed by an operator, not by the message).
 */
import { httpRequest, jsonOf, reasonOf, retryAfterMs, type HttpResponse } from "../../lib/http-client";
import { RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import { isRecord } from "./model";

const RETRYABLE_4XX = new Set([401, 403, 408, 425, 429]);

/** One call; resolves with the parsed 2xx body (or {}), throws Terminal/Retryable errors. */
export async function callDownstream(
  service: "user" | "erp",
  method: string,
  url: string,
  key: string,
  body: unknown,
  signal: AbortSignal,
  okStatuses: readonly number[] = [],
): Promise<Record<string, unknown>> {
  let res: HttpResponse;
  try {
    res = await httpRequest(url, {
      method,
      headers: { "Content-Type": "application/json", "Idempotency-Key": key },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
    });
  } catch (err) {
    throw new RetryableError(`${service} service unreachable: ${signal.aborted ? "timeout" : errorMessage(err)}`);
  }
  if ((res.status >= 200 && res.status < 300) || okStatuses.includes(res.status)) {
    const v = jsonOf(res);
    return isRecord(v) ? v : {};
  }
  const reason = reasonOf(res);
  if (res.status >= 400 && res.status < 500 && !RETRYABLE_4XX.has(res.status)) {
    throw new TerminalError(`${service} service refused (${res.status}): ${reason}`, `${res.status} ${reason}`);
  }
  throw new RetryableError(
    `${service} service answered ${res.status}: ${reason}`,
    res.status === 429 ? retryAfterMs(res) : undefined,
  );
}

/** Step 1: the identity to the user service. */
export function putUser(
  baseUrl: string,
  d: { hash: string; key: string; messageId: string; source: string; receivedAt: number; identity: unknown },
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  return callDownstream(
    "user",
    "PUT",
    `${baseUrl}/users/${d.hash}`,
    d.key,
    {
      hash: d.hash,
      messageId: d.messageId,
      source: d.source,
      receivedAt: new Date(d.receivedAt).toISOString(),
      identity: d.identity,
    },
    signal,
  );
}

/** Step 2: the events to the ERP service. */
export function postEvents(
  baseUrl: string,
  d: { hash: string; key: string; messageId: string; source: string; receivedAt: number; events: unknown },
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  return callDownstream(
    "erp",
    "POST",
    `${baseUrl}/supporters/${d.hash}/events`,
    d.key,
    {
      hash: d.hash,
      messageId: d.messageId,
      source: d.source,
      receivedAt: new Date(d.receivedAt).toISOString(),
      events: d.events,
    },
    signal,
  );
}

/** Right to be forgotten: the user service erases the supporter (404: nothing to erase). */
export function eraseUser(
  baseUrl: string,
  d: { hash: string; key: string },
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  return callDownstream("user", "DELETE", `${baseUrl}/users/${d.hash}`, d.key, undefined, signal, [404]);
}
