/** Schema of a retail (point-of-sale) receipt: VAT-inclusive prices, lines, payments. */
import { arr, lit, num, obj, oneOf, str, type Infer } from "../../schema";

const money = (description?: string) =>
  num({ minimum: 0, maximum: 1e10, multipleOf: 0.01, ...(description ? { description } : {}) });

/** One line of a retail receipt. */
export const retailLine = obj(
  {
    sku: str({ minLength: 1, maxLength: 64, description: "Article code (EAN or internal)" }),
    name: str({ minLength: 1, maxLength: 200 }),
    quantity: num({ exclusiveMinimum: 0, maximum: 1e6, multipleOf: 0.001, description: "Units or weight" }),
    unitPrice: money("Price per unit, VAT included"),
    vatRate: num({ minimum: 0, maximum: 100, multipleOf: 0.01, description: "VAT rate in percent" }),
    amount: money("quantity × unitPrice, rounded to a cent"),
  },
  {},
  { xml: { name: "line" } },
);

/** The retail receipt document. */
export const retailSchema = obj(
  {
    type: lit("retail"),
    receiptNumber: str({ minLength: 1, maxLength: 64 }),
    issuedAt: str({ format: "date-time", maxLength: 40 }),
    currency: str({ pattern: "^[A-Z]{3}$", maxLength: 3, description: "ISO 4217" }),
    store: obj(
      { id: str({ minLength: 1, maxLength: 64 }), name: str({ minLength: 1, maxLength: 200 }) },
      { address: str({ maxLength: 500 }) },
    ),
    lines: arr(retailLine, { minItems: 1, maxItems: 1000, xml: { wrapped: true } }),
    totals: obj({
      net: money("gross − vat"),
      vat: money("sum of the VAT included in each line"),
      gross: money("sum of line amounts"),
    }),
    payments: arr(
      obj({ method: oneOf(["cash", "card", "mobile", "voucher"]), amount: money() }, {}, { xml: { name: "payment" } }),
      { minItems: 1, maxItems: 20, xml: { wrapped: true } },
    ),
  },
  { cashier: str({ maxLength: 100 }) },
  { xml: { name: "retailReceipt" }, description: "A retail (point-of-sale) receipt with VAT-inclusive prices" },
);

export type RetailReceipt = Infer<typeof retailSchema>;
