/**
 * Envelope validation, pure: bytes (NATS intake) or a parsed value (HTTP intake) to a
 * {@link ValidEvent} or a {@link Rejection} with JSON pointers. One JSON Schema describes the
 * envelope (used here, in the OpenAPI document and in the README); what a schema cannot say is
 * checked in code: JSON that would not round-trip (non-finite numbers such as 1e400, integers
 * beyond 2^53, lone UTF-16 surrogates: the platform's lib/storable-json.ts), nesting depth,
 * size, and a plausible timestamp.
 */
import { createAjv } from "../../lib/ajv";
import { roundTripProblems } from "../../lib/storable-json";
import { errorMessage } from "../../lib/errors";
import type { EventEnvelope, EventRejectCode, Problem, Rejection, ValidEvent } from "./model";

/** Event type names: dot-separated lower-case words, e.g. "order.created". */
export const TYPE_NAME_PATTERN = "^(?=.{1,64}$)[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$";
/** Event ids: 1-128 of letters, digits, '.', '_', ':', '-', starting with a letter or digit, no "..". */
export const EVENT_ID_PATTERN = "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";
/** Client (tenant) ids: one subject token of letters, digits, '_', '-'. */
export const CLIENT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";

/** Earliest accepted event time (2000-01-01T00:00:00Z). */
export const MIN_TIMESTAMP_MS = 946_684_800_000;
/** Accepted clock skew into the future. */
export const MAX_FUTURE_MS = 24 * 3600_000;
/** Deepest nesting of `data` (objects and arrays). */
export const MAX_DATA_DEPTH = 32;
/** Most events in one HTTP request. */
export const MAX_BATCH_EVENTS = 1000;

/** JSON Schema (draft 2020-12) of the envelope. */
export const ENVELOPE_SCHEMA = {
  type: "object",
  required: ["clientId", "eventId", "type", "timestamp", "data"],
  additionalProperties: false,
  properties: {
    clientId: { type: "string", pattern: CLIENT_ID_PATTERN, description: "The tenant: your client id" },
    eventId: {
      type: "string",
      pattern: EVENT_ID_PATTERN,
      description: "Unique per tenant; a repeated id is stored once",
    },
    type: {
      type: "string",
      pattern: TYPE_NAME_PATTERN,
      description: "A registered event type (GET /api/v1/event-types)",
    },
    timestamp: {
      description: "When the event happened: RFC 3339 with offset, or epoch milliseconds",
      anyOf: [
        { type: "string", format: "date-time", maxLength: 40 },
        { type: "integer", minimum: MIN_TIMESTAMP_MS, maximum: 4_102_444_800_000 },
      ],
    },
    data: { type: "object", description: "The payload, validated against the type's JSON Schema" },
  },
} as const;

// The envelope schema is this module's own (its patterns use lookahead): the trusted kind.
// Its validator is the guard of the EventEnvelope type (model.ts) that the schema describes.
const validateShape = createAjv({
  trust: "trusted",
  allErrors: true,
  strict: true,
  formats: ["date-time"],
}).compile<EventEnvelope>(ENVELOPE_SCHEMA);

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function reject(code: EventRejectCode, message: string, details: Problem[] = []): { ok: false; rejection: Rejection } {
  return { ok: false, rejection: { code, message, details } };
}

/** Options of envelope validation. */
export interface EnvelopeOptions {
  /** Largest serialized envelope, in bytes. */
  readonly maxBytes: number;
  /** The tenant the event must belong to (subject token or HTTP caller). */
  readonly tenant?: string;
  /** The clock (ms since the epoch), to refuse timestamps far in the future. */
  readonly now: number;
  /** Prefix of every JSON pointer (e.g. "/3" for the fourth event of a batch). */
  readonly base?: string;
}

/** A valid event, or why not. */
export type EnvelopeResult = { ok: true; event: ValidEvent } | { ok: false; rejection: Rejection };

/** Validates a parsed envelope (see the module doc). */
export function validateEnvelope(value: unknown, opts: EnvelopeOptions): EnvelopeResult {
  const base = opts.base ?? "";
  if (!validateShape(value)) {
    const details: Problem[] = [];
    for (const e of validateShape.errors ?? []) {
      if (details.length >= 20) break;
      let path = `${base}${e.instancePath}`;
      let message = e.message ?? "is invalid";
      if (e.keyword === "required") {
        path += `/${String(e.params["missingProperty"])}`;
        message = "is required";
      } else if (e.keyword === "additionalProperties") {
        const extra = String(e.params["additionalProperty"]);
        path += `/${extra.slice(0, 64).replace(/~/g, "~0").replace(/\//g, "~1")}`;
        message = "is not an envelope field";
      }
      if (!details.some((d) => d.path === path && d.message === message)) details.push({ path: path || "/", message });
    }
    return reject("INVALID_ENVELOPE", "the envelope is not valid", details);
  }
  const env = value;
  const problems = roundTripProblems(env.data, `${base}/data`, { maxDepth: MAX_DATA_DEPTH });
  if (problems.length > 0) return reject("INVALID_JSON", "data would not be stored as sent", problems);
  const ts = typeof env.timestamp === "number" ? env.timestamp : Date.parse(env.timestamp);
  if (!Number.isFinite(ts) || ts < MIN_TIMESTAMP_MS)
    return reject("INVALID_ENVELOPE", "the envelope is not valid", [
      { path: `${base}/timestamp`, message: "must be on or after 2000-01-01T00:00:00Z" },
    ]);
  if (ts > opts.now + MAX_FUTURE_MS)
    return reject("INVALID_ENVELOPE", "the envelope is not valid", [
      { path: `${base}/timestamp`, message: "is more than 24 hours in the future" },
    ]);
  if (opts.tenant !== undefined && env.clientId !== opts.tenant) {
    return reject("TENANT_MISMATCH", "clientId is not the tenant this event was sent for", [
      { path: `${base}/clientId`, message: "must equal the tenant of the subject or the authenticated client" },
    ]);
  }
  const size = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (size > opts.maxBytes)
    return reject("TOO_LARGE", `the event is ${size} bytes; at most ${opts.maxBytes} are accepted`, [
      { path: base || "/", message: "too large" },
    ]);
  return {
    ok: true,
    event: { clientId: env.clientId, eventId: env.eventId, type: env.type, timestampMs: ts, data: env.data },
  };
}

/**
 * Decodes and validates an envelope from message bytes: size first (nothing big is parsed),
 * then strict UTF-8, JSON, and {@link validateEnvelope}.
 */
export function decodeEnvelope(bytes: Uint8Array, opts: EnvelopeOptions): EnvelopeResult {
  if (bytes.length > opts.maxBytes)
    return reject("TOO_LARGE", `the event is ${bytes.length} bytes; at most ${opts.maxBytes} are accepted`);
  if (bytes.length === 0) return reject("INVALID_JSON", "the message is empty");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return reject("INVALID_ENCODING", "the message is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject("INVALID_JSON", `the message is not JSON: ${errorMessage(err).slice(0, 120)}`);
  }
  return validateEnvelope(value, opts);
}
