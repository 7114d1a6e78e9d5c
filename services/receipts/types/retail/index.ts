/** The "retail" receipt type: a point-of-sale receipt, JSON-native. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ReceiptType } from "../../model";
import { retailSchema, type RetailReceipt } from "./schema";
import { retailRules } from "./rules";

export const retail: ReceiptType<RetailReceipt> = {
  name: "retail",
  version: 1,
  description: "Retail (point-of-sale) receipt: lines with VAT-inclusive prices, totals and payments",
  schema: retailSchema,
  rules: retailRules,
  number: (doc) => doc.receiptNumber,
  summary: (doc) => ({
    issuedAt: new Date(doc.issuedAt).toISOString(),
    total: doc.totals.gross,
    currency: doc.currency,
  }),
  examples: {
    json: readFileSync(join(__dirname, "example.json"), "utf8"),
    xml: readFileSync(join(__dirname, "example.xml"), "utf8"),
  },
};
