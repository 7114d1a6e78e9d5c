/**
 * The intake payload, defined once as JSON Schema (draft 2020-12, for ajv, the gateway's route
 * validation and the OpenAPI document) with its TypeScript type derived from the same
 * declaration. Two sections: the identity (personal data) and the events.
 *
 *   { "source": "giftaid", "messageId": "gA-123",
 *     "identity": { "email": "Jo@Example.org", "phone": "07700 900123", "firstName": "Jo", ... },
 *     "events": [ { "type": "giftaid.declared", "occurredAt": "2025-03-01T10:00:00Z", "data": {...} } ] }
 *
 * `source` is required over HTTP; on NATS it comes from the subject (and must match if given).
 * `messageId` (optional) makes a resend idempotent; without it every send is a new message.
 */
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import { createAjv } from "../../lib/ajv";
import { schemaErrorDetails } from "../../lib/schema-errors";
import { arr, obj, oneOf, str, type Infer, type Schema } from "../../lib/json-schema";
import type { ErrorDetail } from "../../lib/errors";
import { SOURCES, isSource } from "./model";

/** A free-form JSON object of at most `maxProperties` keys (nesting is checked in code). */
function freeObject(description: string, maxProperties = 100): Schema<Record<string, unknown>> {
  return { schema: { type: "object", description, maxProperties } };
}

/** Message ids and event ids: one idempotency token. */
export const MESSAGE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$";

/** An email address, possibly with surrounding whitespace. */
export const EMAIL_PATTERN =
  '^\\s*[^\\s@<>()\\[\\],;:"\\\\]+@[^\\s@<>()\\[\\],;:"\\\\.]+(\\.[^\\s@<>()\\[\\],;:"\\\\.]+)+\\s*$';

const address = obj(
  {
    line1: str({ minLength: 1, maxLength: 200 }),
    town: str({ minLength: 1, maxLength: 100 }),
    postcode: str({ minLength: 1, maxLength: 16 }),
  },
  {
    line2: str({ maxLength: 200 }),
    line3: str({ maxLength: 200 }),
    county: str({ maxLength: 100 }),
    country: str({ pattern: "^[A-Z]{2}$", maxLength: 2, description: "ISO 3166-1 alpha-2" }),
  },
);

/** The identity section: who the supporter is. An email or a phone number is required. */
export const identitySchema = obj(
  {},
  {
    // A pattern, not format "email": surrounding spaces are normalised away, not refused.
    email: str({
      pattern: EMAIL_PATTERN,
      maxLength: 254,
      description: "An email address; trimmed and lower-cased before hashing",
    }),
    phone: str({
      pattern: "^[+0-9 ()./-]{4,32}$",
      maxLength: 32,
      description: "E.164 (+447700900123) or a national number (07700 900123)",
    }),
    title: str({ maxLength: 20 }),
    firstName: str({ maxLength: 100 }),
    lastName: str({ maxLength: 100 }),
    dateOfBirth: str({ format: "date" }),
    address,
  },
  {
    description:
      "The supporter's identity (personal data). The identity hash is taken from the email, or from the phone number when there is no email.",
  },
);
export type Identity = Infer<typeof identitySchema>;

/** One supporter event. */
export const eventSchema = obj(
  {
    type: str({
      pattern: "^[a-z][a-z0-9]*([._-][a-z0-9]+)*$",
      maxLength: 64,
      description: "e.g. giftaid.declared, payment.received",
    }),
    occurredAt: str({ format: "date-time" }),
  },
  {
    id: str({ pattern: MESSAGE_ID_PATTERN, maxLength: 100, description: "The producer's event id" }),
    data: freeObject("Event details (at most 100 keys, nested at most 8 deep)"),
  },
);
export type SupporterEvent = Infer<typeof eventSchema>;

/** The events section: zero events is an identity update only (no ERP step). */
export const eventsSchema = arr(eventSchema, { minItems: 0, maxItems: 50 });

const payloadOptional = {
  messageId: str({
    pattern: MESSAGE_ID_PATTERN,
    maxLength: 100,
    description: "Makes resends idempotent (within the producer's source)",
  }),
};

/** The payload on NATS: the source comes from the subject. */
export const natsPayloadSchema = obj(
  { identity: identitySchema, events: eventsSchema },
  { source: oneOf(SOURCES), ...payloadOptional },
);
export type NatsPayload = Infer<typeof natsPayloadSchema>;

/** The payload over HTTP: the source is in the body. */
export const httpPayloadSchema = obj(
  { source: oneOf(SOURCES), identity: identitySchema, events: eventsSchema },
  payloadOptional,
);
export type SupporterPayload = Infer<typeof httpPayloadSchema>;

/** Deepest nesting allowed inside an event's `data`. */
export const MAX_DATA_DEPTH = 8;

function depthOf(v: unknown, limit: number): number {
  if (typeof v !== "object" || v === null) return 0;
  if (limit <= 0) return 1;
  let max = 0;
  for (const child of Array.isArray(v) ? v : Object.values(v)) {
    const d = depthOf(child, limit - 1);
    if (d > max) max = d;
    if (max >= limit) break;
  }
  return 1 + max;
}

// Both check a NatsPayload at least (the HTTP payload is one whose source is required).
let compiled: { http: ValidateFunction<NatsPayload>; nats: ValidateFunction<NatsPayload> } | null = null;

function validators(): { http: ValidateFunction<NatsPayload>; nats: ValidateFunction<NatsPayload> } {
  if (!compiled) {
    // The payload schemas are written here: "trusted" (EMAIL_PATTERN runs on the native engine).
    const ajv = createAjv({ trust: "trusted", allErrors: true, strict: false });
    compiled = {
      http: ajv.compile<NatsPayload>(httpPayloadSchema.schema),
      nats: ajv.compile<NatsPayload>(natsPayloadSchema.schema),
    };
  }
  return compiled;
}

/**
 * Up to 20 schema errors as details with JSON pointers (values are never echoed: they may be
 * personal data; an enum lists its allowed values, e.g. every source).
 */
function details(errors: readonly ErrorObject[] | null | undefined): ErrorDetail[] {
  return schemaErrorDetails(errors, "", 20);
}

/** The outcome of checking a payload. */
export type CheckedPayload =
  | { readonly ok: true; readonly payload: SupporterPayload }
  | { readonly ok: false; readonly errors: readonly ErrorDetail[] };

/**
 * Checks a parsed payload against the schema and the rules a schema cannot say (an email or a
 * phone is required; event data nesting). `source` is the NATS subject's source (the payload
 * may repeat it); without it the payload must name its source (HTTP).
 */
export function checkPayload(value: unknown, source?: string): CheckedPayload {
  const v = validators();
  const validate = source === undefined ? v.http : v.nats;
  if (!validate(value)) return { ok: false, errors: details(validate.errors) };
  const p = value;
  const errors: ErrorDetail[] = [];
  if (source !== undefined) {
    if (!isSource(source))
      errors.push({ path: "/source", message: `unknown source; expected one of ${SOURCES.join(", ")}` });
    else if (p.source !== undefined && p.source !== source)
      errors.push({ path: "/source", message: "must match the subject's source" });
  }
  if (p.identity.email === undefined && p.identity.phone === undefined)
    errors.push({ path: "/identity", message: "an email or a phone number is required" });
  p.events.forEach((e, i) => {
    if (e.data !== undefined && depthOf(e.data, MAX_DATA_DEPTH + 1) > MAX_DATA_DEPTH)
      errors.push({ path: `/events/${i}/data`, message: `must not be nested more than ${MAX_DATA_DEPTH} deep` });
  });
  if (errors.length > 0) return { ok: false, errors };
  const from = source ?? p.source;
  // Over HTTP the schema requires the source; on NATS it is the subject's, checked above.
  if (!isSource(from)) return { ok: false, errors: [{ path: "/source", message: "a source is required" }] };
  return { ok: true, payload: { ...p, source: from } };
}
