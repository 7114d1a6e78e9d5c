/**
 * The events domain's contracts: the envelope producers send, the reasons an event is refused
 * (stable codes, listed once), and the records stored and fed to senders.
 */

/** Why an event was refused; the DLQ error starts with the code ("SCHEMA_VIOLATION: ..."). */
export const EventRejectCodes = {
  /** Not valid UTF-8. */
  INVALID_ENCODING: "INVALID_ENCODING",
  /** Not JSON, or JSON that cannot round-trip (non-finite or unsafe numbers, lone surrogates). */
  INVALID_JSON: "INVALID_JSON",
  /** Larger than EVENTS_MAX_EVENT_BYTES. */
  TOO_LARGE: "TOO_LARGE",
  /** A missing, empty or malformed envelope field. */
  INVALID_ENVELOPE: "INVALID_ENVELOPE",
  /** The envelope's clientId is not the tenant of the subject (or of the HTTP caller). */
  TENANT_MISMATCH: "TENANT_MISMATCH",
  /** The type is not in the registry. */
  UNKNOWN_TYPE: "UNKNOWN_TYPE",
  /** `data` does not match the type's JSON Schema. */
  SCHEMA_VIOLATION: "SCHEMA_VIOLATION",
  /** The store refused the event EVENTS_MAX_ATTEMPTS times. */
  STORE_FAILED: "STORE_FAILED",
} as const;

export type EventRejectCode = keyof typeof EventRejectCodes;

/** One problem at a JSON pointer. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/** Why one event was refused. */
export interface Rejection {
  readonly code: EventRejectCode;
  readonly message: string;
  readonly details: readonly Problem[];
}

/** An envelope as a producer sends it (`timestamp`: RFC 3339 with offset, or epoch milliseconds). */
export interface EventEnvelope {
  readonly clientId: string;
  readonly eventId: string;
  readonly type: string;
  readonly timestamp: string | number;
  readonly data: Record<string, unknown>;
}

/** A valid envelope, normalised: timestamp in epoch milliseconds. */
export interface ValidEvent {
  readonly clientId: string;
  readonly eventId: string;
  readonly type: string;
  readonly timestampMs: number;
  readonly data: Record<string, unknown>;
}

/** A stored event as senders receive it (push feed message and polling item). */
export interface FeedEvent {
  /** Store sequence: increases with every stored event; per tenant, the feed order. */
  readonly seq: number;
  readonly clientId: string;
  readonly eventId: string;
  readonly type: string;
  readonly typeVersion: number;
  /** The envelope's timestamp (RFC 3339, UTC). */
  readonly timestamp: string;
  /** When the store committed it (RFC 3339, UTC). */
  readonly storedAt: string;
  readonly data: Record<string, unknown>;
}

/** Formats a rejection as one DLQ error line: "CODE: message (path: msg; ...)". */
export function rejectionLine(r: Rejection): string {
  const details = r.details
    .slice(0, 10)
    .map((d) => `${d.path}: ${d.message}`)
    .join("; ");
  return `${r.code}: ${r.message}${details ? ` (${details})` : ""}`;
}

/** True when `s` is one of the {@link EventRejectCodes}. */
export function isRejectCode(s: string): s is EventRejectCode {
  return Object.hasOwn(EventRejectCodes, s);
}

/** The code a DLQ error line starts with, if it is one of ours. */
export function codeOfLine(line: string): EventRejectCode | undefined {
  const code = /^([A-Z_]+):/.exec(line)?.[1];
  return code !== undefined && isRejectCode(code) ? code : undefined;
}

/** A plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
