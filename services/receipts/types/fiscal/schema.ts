/**
 * Schema of a fiscal check, XML-native: modelled on the cash-register check XML (CHECK,
 * CHECKHEAD, CHECKTOTAL, CHECKPAY, CHECKTAX, CHECKBODY with ROW elements). The JSON form uses
 * the readable property names; the `xml` annotations give the element and attribute names.
 */
import { arr, int, lit, num, obj, str, type Infer } from "../../schema";

const money = () => num({ minimum: 0, maximum: 1e10, multipleOf: 0.01, xml: { name: "SUM" } });
const rowNum = () => int({ minimum: 1, maximum: 10000, xml: { name: "ROWNUM", attribute: true } });
const letter = { pattern: "^[A-Z\u0410-\u042F]$", maxLength: 1 } as const;

/** The fiscal check document. */
export const fiscalSchema = obj(
  {
    type: lit("fiscal"),
    version: int({ minimum: 1, maximum: 1, xml: { name: "VER", attribute: true } }),
    head: obj(
      {
        uid: str({ pattern: "^[0-9A-Fa-f-]{16,40}$", maxLength: 40, xml: { name: "UID" } }),
        tin: str({ pattern: "^[0-9]{8,12}$", maxLength: 12, description: "Seller's tax number", xml: { name: "TIN" } }),
        orgName: str({ minLength: 1, maxLength: 256, xml: { name: "ORGNM" } }),
        pointName: str({ minLength: 1, maxLength: 256, xml: { name: "POINTNM" } }),
        orderDate: str({ pattern: "^[0-9]{8}$", maxLength: 8, description: "DDMMYYYY", xml: { name: "ORDERDATE" } }),
        orderTime: str({
          pattern: "^[0-9]{6}$",
          maxLength: 6,
          description: "HHMMSS (UTC)",
          xml: { name: "ORDERTIME" },
        }),
        orderNum: int({ minimum: 1, maximum: 2_147_483_647, xml: { name: "ORDERNUM" } }),
        cashRegisterNum: str({ pattern: "^[0-9]{10}$", maxLength: 10, xml: { name: "CASHREGISTERNUM" } }),
      },
      { currency: str({ pattern: "^[A-Z]{3}$", maxLength: 3, xml: { name: "CURRENCY" } }) },
      { xml: { name: "CHECKHEAD" } },
    ),
    total: obj({ sum: money() }, {}, { xml: { name: "CHECKTOTAL" } }),
    payments: arr(
      obj(
        {
          rowNum: rowNum(),
          payFormCode: int({ minimum: 0, maximum: 99, xml: { name: "PAYFORMCD" } }),
          payFormName: str({ minLength: 1, maxLength: 128, xml: { name: "PAYFORMNM" } }),
          sum: money(),
        },
        {},
        { xml: { name: "ROW" } },
      ),
      { minItems: 1, maxItems: 20, xml: { name: "CHECKPAY", wrapped: true } },
    ),
    taxes: arr(
      obj(
        {
          rowNum: rowNum(),
          type: int({ minimum: 0, maximum: 99, xml: { name: "TYPE" } }),
          name: str({ minLength: 1, maxLength: 64, xml: { name: "NAME" } }),
          letter: str({ ...letter, xml: { name: "LETTER" } }),
          percent: num({ minimum: 0, maximum: 100, multipleOf: 0.01, xml: { name: "PRC" } }),
          turnover: num({ minimum: 0, maximum: 1e10, multipleOf: 0.01, xml: { name: "TURNOVER" } }),
          sum: money(),
        },
        {},
        { xml: { name: "ROW" } },
      ),
      { minItems: 0, maxItems: 20, xml: { name: "CHECKTAX", wrapped: true } },
    ),
    rows: arr(
      obj(
        {
          rowNum: rowNum(),
          code: str({ minLength: 1, maxLength: 64, xml: { name: "CODE" } }),
          name: str({ minLength: 1, maxLength: 256, xml: { name: "NAME" } }),
          amount: num({ exclusiveMinimum: 0, maximum: 1e6, multipleOf: 0.001, xml: { name: "AMOUNT" } }),
          price: num({ minimum: 0, maximum: 1e10, multipleOf: 0.01, xml: { name: "PRICE" } }),
          cost: num({ minimum: 0, maximum: 1e10, multipleOf: 0.01, xml: { name: "COST" } }),
        },
        { letters: str({ pattern: "^[A-Z\u0410-\u042F]{0,6}$", maxLength: 6, xml: { name: "LETTERS" } }) },
        { xml: { name: "ROW" } },
      ),
      { minItems: 1, maxItems: 1000, xml: { name: "CHECKBODY", wrapped: true } },
    ),
  },
  {},
  { xml: { name: "CHECK" }, description: "A cash-register fiscal check (XML-native; VAT included in prices)" },
);

export type FiscalCheck = Infer<typeof fiscalSchema>;
