/**
 * Request ids: taken from the caller's `X-Request-Id` when it is sane (1-128 characters of
 * [A-Za-z0-9._:-]), otherwise generated. Returned on every response and put in every log line.
 */
import { randomUUID } from "node:crypto";

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id for a request whose `X-Request-Id` header is `header`. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const v = Array.isArray(header) ? header[0] : header;
  return v !== undefined && SANE.test(v) ? v : randomUUID();
}
