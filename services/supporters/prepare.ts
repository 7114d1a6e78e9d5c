/**
 * From raw bytes to a checked, normalised, hashed message: the one path every intake takes
 * (HTTP, NATS request, JetStream capture through the pump). Pure: no I/O.
 */
import type { ErrorDetail } from "../../lib/errors";
import { checkPayload, type SupporterEvent, type SupporterPayload } from "./schema";
import { identityHash, normaliseIdentity, type NormalisedIdentity } from "./identity";
import type { Source } from "./model";

/** A message ready to be sealed and forwarded. */
export interface PreparedMessage {
  readonly source: Source;
  readonly hash: string;
  readonly messageId: string | undefined;
  readonly identity: NormalisedIdentity;
  readonly events: readonly SupporterEvent[];
}

/** Why a payload was refused: a stable code and one detail per violation. */
export interface Refusal {
  readonly code: "INVALID_JSON" | "PAYLOAD_TOO_LARGE" | "VALIDATION_ERROR";
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}

/** What preparing needs to know. */
export interface PrepareOptions {
  readonly pepper: string;
  readonly defaultCountryCode: string;
  readonly maxBytes: number;
}

/** Parses JSON bytes (or takes an already parsed value) and prepares it; see {@link prepareValue}. */
export function prepareBytes(bytes: Uint8Array, source: string, o: PrepareOptions): PreparedMessage | Refusal {
  if (bytes.length > o.maxBytes)
    return { code: "PAYLOAD_TOO_LARGE", message: `a message may have at most ${o.maxBytes} bytes`, details: [] };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { code: "INVALID_JSON", message: "the payload is not UTF-8 JSON", details: [] };
  }
  return prepareValue(value, source, o);
}

/**
 * Checks `value` against the schema (`source` from a NATS subject, or undefined when the
 * payload names it), normalises the identity and computes the identity hash.
 */
export function prepareValue(value: unknown, source: string | undefined, o: PrepareOptions): PreparedMessage | Refusal {
  const checked = checkPayload(value, source);
  if (!checked.ok)
    return { code: "VALIDATION_ERROR", message: "the payload does not match the schema", details: checked.errors };
  const p: SupporterPayload = checked.payload;
  const n = normaliseIdentity(p.identity, o.defaultCountryCode);
  if ("errors" in n)
    return { code: "VALIDATION_ERROR", message: "the identity cannot be normalised", details: n.errors };
  return {
    source: p.source,
    hash: identityHash(n.identity, o.pepper),
    messageId: p.messageId,
    identity: n.identity,
    events: p.events,
  };
}

/** True when `r` is a refusal. */
export function isRefusal(r: PreparedMessage | Refusal): r is Refusal {
  return "code" in r;
}
