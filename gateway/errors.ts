/**
 * One JSON shape for every 4xx/5xx the gateway sends:
 *   {"error":{"code":"NOT_FOUND","message":"...","details":[...],"requestId":"..."}}
 * `toHttpError` maps anything thrown (AppError, Moleculer and moleculer-web errors, errors
 * restored from another node, plain errors) to a status and a stable code from lib/errors.ts.
 */
import { AppError, ErrorCodes, type ErrorCode, type ErrorDetail } from "../lib/errors";

/** What the gateway answers for a failure. */
export interface HttpError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: readonly ErrorDetail[];
  readonly headers?: Readonly<Record<string, string>>;
  /** The original error, for the log (never sent). */
  readonly cause?: unknown;
}

/** The body of every error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: readonly ErrorDetail[];
    readonly requestId: string;
  };
}

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === "string" && Object.prototype.hasOwnProperty.call(ErrorCodes, v);
}

const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  408: "REQUEST_TIMEOUT",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "VALIDATION_ERROR",
  429: "RATE_LIMITED",
  431: "HEADERS_TOO_LARGE",
  502: "BAD_GATEWAY",
  503: "UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

/** Moleculer / moleculer-web error types that mean something specific at the edge. */
const MOLECULER_TYPES: Readonly<Record<string, ErrorCode>> = {
  SERVICE_NOT_FOUND: "UNAVAILABLE",
  SERVICE_NOT_AVAILABLE: "UNAVAILABLE",
  REQUEST_TIMEOUT: "GATEWAY_TIMEOUT",
  REQUEST_REJECTED: "UNAVAILABLE",
  REQUEST_SKIPPED: "GATEWAY_TIMEOUT",
  QUEUE_FULL: "UNAVAILABLE",
  BAD_GATEWAY: "BAD_GATEWAY",
  MAX_CALL_LEVEL: "INTERNAL",
  VALIDATION_ERROR: "VALIDATION_ERROR",
  NOT_FOUND: "NOT_FOUND",
  UNAUTHORIZED: "UNAUTHORIZED",
  NO_TOKEN: "UNAUTHORIZED",
  INVALID_TOKEN: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  ORIGIN_NOT_ALLOWED: "FORBIDDEN",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  RATE_LIMIT: "RATE_LIMITED",
  UNABLE_DECODE_PARAM: "BAD_REQUEST",
  INVALID_REQUEST_BODY: "INVALID_JSON",
};

/** Messages of 5xx answers that are safe to show; anything else says "internal error". */
const SAFE_5XX: ReadonlySet<ErrorCode> = new Set(["NOT_READY", "UNAVAILABLE", "GATEWAY_TIMEOUT", "BAD_GATEWAY"]);

function detailsOf(err: Record<string, unknown>): ErrorDetail[] | undefined {
  const candidates = [err["details"], (err["data"] as Record<string, unknown> | undefined)?.["details"], err["data"]];
  for (const c of candidates) {
    if (!Array.isArray(c)) continue;
    const out: ErrorDetail[] = [];
    for (const d of c.slice(0, 100)) {
      if (typeof d !== "object" || d === null) continue;
      const o = d as Record<string, unknown>;
      const path = typeof o["path"] === "string" ? o["path"] : typeof o["field"] === "string" ? o["field"] : "";
      const message = typeof o["message"] === "string" ? o["message"] : "";
      if (message) out.push({ path, message });
    }
    if (out.length > 0) return out;
  }
  return undefined;
}

/** Maps anything thrown to the answer the gateway gives; a 503 always says when to retry. */
export function toHttpError(err: unknown): HttpError {
  const e = mapError(err);
  if (e.status !== 503 || e.headers?.["Retry-After"] !== undefined) return e;
  return { ...e, headers: { ...e.headers, "Retry-After": "1" } };
}

function mapError(err: unknown): HttpError {
  if (err instanceof AppError) {
    return {
      status: err.status,
      code: err.code,
      message: err.message,
      ...(err.details ? { details: err.details } : {}),
      ...(err.headers ? { headers: err.headers } : {}),
      cause: err,
    };
  }
  if (typeof err === "object" && err !== null) {
    const e = err as Record<string, unknown>;
    const message = typeof e["message"] === "string" ? e["message"] : "error";
    let code: ErrorCode | undefined;
    // An AppError thrown on another node arrives as a plain error with its string code.
    if (isErrorCode(e["code"])) code = e["code"];
    // Moleculer's own types first: its REQUEST_TIMEOUT is the gateway's 504, not a client's 408.
    else if (typeof e["type"] === "string")
      code = MOLECULER_TYPES[e["type"]] ?? (isErrorCode(e["type"]) ? e["type"] : undefined);
    if (!code && typeof e["code"] === "number")
      code = STATUS_CODES[e["code"]] ?? (e["code"] >= 400 && e["code"] < 500 ? "BAD_REQUEST" : undefined);
    if (!code && typeof e["status"] === "number") code = STATUS_CODES[e["status"]];
    if (code) {
      const status = ErrorCodes[code];
      const details = detailsOf(e);
      const safe = status < 500 || SAFE_5XX.has(code);
      return {
        status,
        code,
        message: safe ? message : "internal error",
        ...(details && status < 500 ? { details } : {}),
        ...(typeof e["headers"] === "object" && e["headers"] !== null && !Array.isArray(e["headers"])
          ? { headers: e["headers"] as Record<string, string> }
          : {}),
        cause: err,
      };
    }
  }
  return { status: 500, code: "INTERNAL", message: "internal error", cause: err };
}

/** The uniform body for `e`. */
export function errorBody(e: HttpError, requestId: string): ErrorBody {
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(e.details && e.details.length > 0 ? { details: e.details } : {}),
      requestId,
    },
  };
}

/** The JSON Schema of {@link ErrorBody}, for the OpenAPI document. */
export const ERROR_BODY_SCHEMA = {
  type: "object",
  required: ["error"],
  additionalProperties: false,
  properties: {
    error: {
      type: "object",
      required: ["code", "message", "requestId"],
      additionalProperties: false,
      properties: {
        code: { type: "string", enum: Object.keys(ErrorCodes), description: "Stable machine-readable code." },
        message: { type: "string" },
        details: {
          type: "array",
          items: {
            type: "object",
            required: ["path", "message"],
            properties: { path: { type: "string" }, message: { type: "string" } },
          },
        },
        requestId: { type: "string", description: "Also in the X-Request-Id response header." },
      },
    },
  },
} as const;

/** Standard reason phrases for the statuses written on raw sockets. */
export const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};
