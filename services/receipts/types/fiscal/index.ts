/** The "fiscal" receipt type: a cash-register fiscal check, XML-native. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ReceiptType } from "../../model";
import { fiscalSchema, type FiscalCheck } from "./schema";
import { fiscalIssuedAt, fiscalRules } from "./rules";

export const fiscal: ReceiptType<FiscalCheck> = {
  name: "fiscal",
  version: 1,
  description: "Cash-register fiscal check (XML-native: CHECK / CHECKHEAD / CHECKBODY rows; VAT included)",
  schema: fiscalSchema,
  rules: fiscalRules,
  // An impossible date is a business-rule failure (INVALID); the summary must still be total.
  // a check's number is per cash register
  number: (doc) => `${doc.head.cashRegisterNum}/${doc.head.orderNum}`,
  summary: (doc) => ({
    issuedAt: fiscalIssuedAt(doc) ?? new Date(0).toISOString(),
    total: doc.total.sum,
    currency: doc.head.currency ?? "UAH",
  }),
  examples: {
    json: readFileSync(join(__dirname, "example.json"), "utf8"),
    xml: readFileSync(join(__dirname, "example.xml"), "utf8"),
  },
};
