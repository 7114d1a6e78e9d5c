/**
 * Error codes, listed once. Each code has the HTTP status the gateway answers with.
 * Codes are stable, machine-readable contracts: add new ones, never rename.
 */
export const ErrorCodes = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  INVALID_XML: 400,
  INVALID_PARAMETER: 400,
  UNAUTHORIZED: 401,
  INVALID_SIGNATURE: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_ERROR: 422,
  UNKNOWN_TYPE: 422,
  QUERY_TIMEOUT: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_READY: 503,
  UNAVAILABLE: 503,
  // Gateway and access control (issue 3).
  INVALID_ENCODING: 400,
  INVALID_SCOPE: 400,
  UNSUPPORTED_GRANT_TYPE: 400,
  INVALID_CLIENT: 401,
  CLIENT_SUSPENDED: 403,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  BAD_GATEWAY: 502,
  GATEWAY_TIMEOUT: 504,
  // Batches (issue 19): an item whose dependency failed is not run.
  FAILED_DEPENDENCY: 424,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** One problem in a request, e.g. a schema violation at a JSON pointer. */
export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

/** An error that maps to one HTTP status and one stable code. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly ErrorDetail[],
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ErrorCodes[code];
    // Moleculer carries `data` (not other fields) when an error crosses nodes.
    this.data = { ...(details ? { details } : {}), ...(headers ? { headers } : {}) };
  }
  /** Details and headers in the field Moleculer serialises between nodes. */
  readonly data: { readonly details?: readonly ErrorDetail[]; readonly headers?: Readonly<Record<string, string>> };
}

/** A failure that will not go away by retrying (bad input, business refusal): DLQ or terminate. */
export class TerminalError extends Error {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = "TerminalError";
  }
}

/** A failure that may go away: retry after `retryAfterMs` (or the caller's backoff). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "RetryableError";
  }
}

/** Normalises anything thrown into an Error (catch variables are `unknown`). */
export function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === "string") return new Error(err);
  try {
    return new Error(JSON.stringify(err));
  } catch {
    return new Error(String(err));
  }
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return toError(err).message;
}
