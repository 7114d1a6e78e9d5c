/**
 * From request body to a schema-valid receipt document: media type, size, UTF-8, safe JSON or
 * XML parsing, type lookup (JSON `type` field or XML root element), XML mapping and JSON Schema
 * validation, then what storage could not hold as sent (NUL, lone surrogates, numbers that do not
 * round-trip). Everything a client could get wrong here is an AppError: 400 when the body cannot
 * be read, 413 too large, 415 unsupported media type, 422 unknown type, schema violations or an
 * unstorable document.
 */
import { AppError, type ErrorDetail } from "../../lib/errors";
import { roundTripProblems } from "../../lib/storable-json";
import type { ReceiptDocument, ReceiptFormat, ReceiptSummary, ReceiptType } from "./model";
import type { ReceiptTypeRegistry } from "./registry";
import { DEFAULT_XML_LIMITS, mapXml, parseXml, type XmlLimits } from "./xml";

/** Limits on a submitted body. */
export interface BodyLimits extends XmlLimits {
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { ...DEFAULT_XML_LIMITS, maxBytes: 512 * 1024 };

/** A submitted receipt that passed every check before business rules. */
export interface ReadReceipt {
  readonly type: ReceiptType;
  readonly format: ReceiptFormat;
  /** The Content-Type as submitted, stored with the original bytes. */
  readonly contentType: string;
  readonly document: ReceiptDocument;
  readonly summary: ReceiptSummary;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The format of a Content-Type header value, or a 415 AppError. */
export function formatOf(contentType: string | undefined): ReceiptFormat {
  const [media = "", ...params] = (contentType ?? "").split(";").map((s) => s.trim().toLowerCase());
  for (const p of params) {
    const [k, v] = p.split("=").map((s) => s.trim());
    if (k === "charset" && v !== undefined && !["utf-8", "utf8", '"utf-8"'].includes(v)) {
      throw new AppError("UNSUPPORTED_MEDIA_TYPE", `charset ${v} is not supported: send UTF-8`);
    }
  }
  if (media === "application/json" || media.endsWith("+json")) return "json";
  if (media === "application/xml" || media === "text/xml" || media.endsWith("+xml")) return "xml";
  throw new AppError(
    "UNSUPPORTED_MEDIA_TYPE",
    `Content-Type ${JSON.stringify(contentType ?? "")} is not supported: send application/json or application/xml`,
  );
}

/**
 * Checks JSON nesting depth in one pass (strings skipped) before JSON.parse sees the text, so
 * that a 10,000-deep document is refused cheaply with a clear message.
 */
export function checkJsonDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) throw new AppError("INVALID_JSON", `JSON nesting is deeper than ${maxDepth} levels`);
    } else if (c === 125 || c === 93) depth--;
  }
}

function decode(body: Uint8Array): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new AppError("BAD_REQUEST", "the body is not valid UTF-8");
  }
}

function unknownType(message: string, path = "/type"): AppError {
  return new AppError("UNKNOWN_TYPE", message, [{ path, message }]);
}

/**
 * Reads a submitted body into a schema-valid document of a registered type (see module doc).
 * Business rules are not checked here: a receipt that breaks them is stored and ends INVALID.
 */
export function readReceipt(
  registry: ReceiptTypeRegistry,
  body: Uint8Array,
  contentType: string | undefined,
  limits: BodyLimits = DEFAULT_BODY_LIMITS,
): ReadReceipt {
  const format = formatOf(contentType);
  if (body.byteLength > limits.maxBytes)
    throw new AppError("PAYLOAD_TOO_LARGE", `the body is larger than ${limits.maxBytes} bytes`);
  if (body.byteLength === 0) throw new AppError("BAD_REQUEST", "the body is empty");
  const text = decode(body);
  let type: ReceiptType | undefined;
  let candidate: unknown;
  if (format === "json") {
    checkJsonDepth(text, limits.maxDepth);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new AppError("INVALID_JSON", `the body is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw unknownType('a receipt must be a JSON object with a "type" field', "/");
    const name = (value as Record<string, unknown>)["type"];
    if (typeof name !== "string")
      throw unknownType('the "type" field must name a receipt type (see GET /api/v1/receipt-types)');
    type = registry.byName(name);
    if (!type)
      throw unknownType(`unknown receipt type ${JSON.stringify(name.slice(0, 64))} (see GET /api/v1/receipt-types)`);
    candidate = value;
  } else {
    const { root, node } = parseXml(text, limits);
    type = registry.byXmlRoot(root);
    if (!type)
      throw unknownType(`unknown XML root element <${root.slice(0, 64)}> (see GET /api/v1/receipt-types)`, "/");
    candidate = { type: type.name, ...(mapXml(type.schema.schema, node, ["type"]) as object) };
  }
  const errors: ErrorDetail[] = registry.schemaErrors(type, candidate);
  if (errors.length > 0) {
    throw new AppError(
      "VALIDATION_ERROR",
      `the ${type.name} receipt does not match its schema (${errors.length} problem${errors.length === 1 ? "" : "s"})`,
      errors,
    );
  }
  // what Postgres jsonb cannot hold (NUL, lone surrogates: from JSON escapes or XML text alike)
  // is refused now, never accepted and then stuck in the writer. Depth was bounded while
  // parsing: this bound only keeps the walk finite and never refuses first.
  const unstorable = roundTripProblems(candidate, "", { maxDepth: limits.maxDepth + 1, refuseNul: true });
  if (unstorable.length > 0) {
    throw new AppError(
      "VALIDATION_ERROR",
      `the ${type.name} receipt cannot be stored as sent (${unstorable.length} problem${unstorable.length === 1 ? "" : "s"})`,
      unstorable,
    );
  }
  const document = candidate as ReceiptDocument;
  return {
    type,
    format,
    contentType: (contentType ?? "").trim().slice(0, 200),
    document,
    summary: type.summary(document),
  };
}

/** Business-rule violations of a schema-valid document (empty when all hold). */
export function ruleErrors(type: ReceiptType, document: ReceiptDocument): ErrorDetail[] {
  return type.rules(document);
}
