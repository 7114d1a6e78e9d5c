/**
 * Every receipt type, one line each. Adding a type: a folder beside these exporting a
 * `ReceiptType` (schema, XML mapping, rules, examples) and one line here.
 */
import type { ReceiptType } from "../model";
import { ReceiptTypeRegistry } from "../registry";
import { retail } from "./retail";
import { invoice } from "./invoice";
import { fiscal } from "./fiscal";

// each type's rules are typed by its own document, so the list holds types of different documents
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const RECEIPT_TYPES: readonly ReceiptType<any>[] = [retail, invoice, fiscal];

/** The registry of {@link RECEIPT_TYPES}, compiled once per process (the actor's rules, the intake's parsing). */
export const receiptTypes = new ReceiptTypeRegistry(RECEIPT_TYPES);
