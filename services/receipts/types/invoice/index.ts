/** The "invoice" receipt type: a B2B tax invoice, JSON-native with an attribute-rich XML form. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ReceiptType } from "../../model";
import { invoiceSchema, type Invoice } from "./schema";
import { invoiceRules } from "./rules";

export const invoice: ReceiptType<Invoice> = {
  name: "invoice",
  version: 1,
  description: "Business-to-business tax invoice: net prices, discounts, tax added per rate",
  schema: invoiceSchema,
  rules: invoiceRules,
  number: (doc) => doc.invoiceNumber,
  summary: (doc) => ({ issuedAt: `${doc.issueDate}T00:00:00.000Z`, total: doc.totalGross, currency: doc.currency }),
  examples: {
    json: readFileSync(join(__dirname, "example.json"), "utf8"),
    xml: readFileSync(join(__dirname, "example.xml"), "utf8"),
  },
};
