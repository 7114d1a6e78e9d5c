/**
 * Every receipt type, one line each. Adding a type: a folder beside these exporting a
 * `ReceiptType` (schema, XML mapping, rules, examples) and one line here.
 */
import type { ReceiptType } from "../model";
import { retail } from "./retail";
import { invoice } from "./invoice";
import { fiscal } from "./fiscal";

export const RECEIPT_TYPES: readonly ReceiptType<any>[] = [retail, invoice, fiscal];
