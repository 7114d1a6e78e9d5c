/**
 * The receipt domain's core types: a receipt type (one folder under receipts/types/), the
 * formats a receipt arrives in, the statuses it goes through and the summary that external
 * registrations carry.
 */
import type { ErrorDetail } from "../../lib/errors";
import type { JsonSchema, Schema } from "./schema";

/** How a receipt was submitted. */
export type ReceiptFormat = "json" | "xml";

/** Every format a receipt type accepts. */
export const RECEIPT_FORMATS: readonly ReceiptFormat[] = ["json", "xml"];

/**
 * A receipt's status. RECEIVED: stored, not yet handled; VALIDATED: business rules passed;
 * REGISTERING: tax and warehouse registrations under way; ACCEPTED: registered with both;
 * INVALID: business rules failed; REJECTED: an external service refused it; FAILED: a service
 * stayed unreachable past the deadline (an operator may retry).
 */
export const RECEIPT_STATUSES = [
  "RECEIVED",
  "VALIDATED",
  "REGISTERING",
  "ACCEPTED",
  "INVALID",
  "REJECTED",
  "FAILED",
] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/** Statuses after which nothing happens unless an operator acts (FAILED) or never (others). */
export const TERMINAL_STATUSES: readonly ReceiptStatus[] = ["ACCEPTED", "INVALID", "REJECTED", "FAILED"];

/** True when `s` is a terminal status. */
export function isTerminal(s: ReceiptStatus): boolean {
  return TERMINAL_STATUSES.includes(s);
}

/** What every external registration needs to know about a receipt, whatever its type. */
export interface ReceiptSummary {
  /** When the receipt was issued (ISO 8601). */
  readonly issuedAt: string;
  /** Grand total, in the currency's major unit (e.g. 127.5). */
  readonly total: number;
  /** ISO 4217 code. */
  readonly currency: string;
}

/** A document as parsed from JSON or mapped from XML: always an object with a `type` field. */
export type ReceiptDocument = Record<string, unknown> & { readonly type: string };

/**
 * A receipt type: everything about one kind of receipt, in one folder. Adding a type is a new
 * folder exporting one of these and one line in receipts/types/index.ts.
 */
export interface ReceiptType<D extends ReceiptDocument = ReceiptDocument> {
  /** The value of the JSON `type` field; lower-case letters, digits and dashes. */
  readonly name: string;
  /** Incremented when the schema changes incompatibly. */
  readonly version: number;
  readonly description: string;
  /**
   * The document's JSON Schema (root: an object whose `type` property is the name). Its root
   * `xml.name` is the XML root element; `xml` annotations below map elements and attributes.
   */
  readonly schema: Schema<D>;
  /**
   * Business rules on a schema-valid document (totals equal the sum of lines, tax computed
   * right, ...). Pure; returns one detail per broken rule, empty when all hold.
   */
  rules(doc: D): ErrorDetail[];
  /** The registration summary of a schema-valid document. */
  summary(doc: D): ReceiptSummary;
  /**
   * The receipt's number as its issuer gave it. With the client and the type it is the
   * receipt's natural identity: a receipt submitted again without an Idempotency-Key is the
   * same receipt (idempotency.ts).
   */
  number(doc: D): string;
  /** One valid example document per format, as clients would send them. */
  readonly examples: Readonly<Record<ReceiptFormat, string>>;
}

/** The XML root element name of a type. */
export function xmlRootOf(t: ReceiptType): string {
  return t.schema.schema.xml?.name ?? t.name;
}

/** A type as listed by GET /receipt-types. */
export interface ReceiptTypeInfo {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly formats: readonly ReceiptFormat[];
  readonly xmlRoot: string;
  readonly schema: JsonSchema;
  readonly examples: Readonly<Record<ReceiptFormat, { readonly contentType: string; readonly body: string }>>;
}
