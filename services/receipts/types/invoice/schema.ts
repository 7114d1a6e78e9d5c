/** Schema of a B2B tax invoice: net prices, discounts, tax added per rate. */
import { arr, int, lit, num, obj, str, type Infer } from "../../schema";

const money = (description?: string) =>
  num({ minimum: 0, maximum: 1e12, multipleOf: 0.01, ...(description ? { description } : {}) });
const rate = () => num({ minimum: 0, maximum: 100, multipleOf: 0.01, description: "Tax rate in percent" });
const taxId = () =>
  str({
    pattern: "^[A-Z]{2}[0-9A-Z]{8,12}$",
    maxLength: 14,
    description: "Country code then 8-12 letters or digits",
    xml: { attribute: true },
  });
const party = (xmlName: string) =>
  obj(
    { taxId: taxId(), name: str({ minLength: 1, maxLength: 200 }) },
    { address: str({ maxLength: 500 }) },
    { xml: { name: xmlName } },
  );

/** The invoice document. */
export const invoiceSchema = obj(
  {
    type: lit("invoice"),
    invoiceNumber: str({ minLength: 1, maxLength: 64, xml: { name: "number", attribute: true } }),
    issueDate: str({ format: "date", maxLength: 10 }),
    currency: str({ pattern: "^[A-Z]{3}$", maxLength: 3 }),
    seller: party("seller"),
    buyer: party("buyer"),
    items: arr(
      obj(
        {
          description: str({ minLength: 1, maxLength: 500 }),
          quantity: int({ minimum: 1, maximum: 1_000_000 }),
          unitPrice: money("Net price per unit"),
          taxRate: rate(),
          netAmount: money("quantity × unitPrice × (1 − discount/100), rounded to a cent"),
        },
        { discountPercent: num({ minimum: 0, maximum: 100, multipleOf: 0.01 }) },
        { xml: { name: "item" } },
      ),
      { minItems: 1, maxItems: 1000, xml: { wrapped: true } },
    ),
    taxSummary: arr(
      obj(
        {
          rate: num({ minimum: 0, maximum: 100, multipleOf: 0.01, xml: { attribute: true } }),
          taxableAmount: money(),
          taxAmount: money(),
        },
        {},
        { xml: { name: "tax" } },
      ),
      { minItems: 1, maxItems: 20, xml: { wrapped: true } },
    ),
    totalNet: money(),
    totalTax: money(),
    totalGross: money(),
  },
  { dueDate: str({ format: "date", maxLength: 10 }), note: str({ maxLength: 1000 }) },
  {
    xml: { name: "invoice" },
    description: "A business-to-business tax invoice with net prices and tax added per rate",
  },
);

export type Invoice = Infer<typeof invoiceSchema>;
