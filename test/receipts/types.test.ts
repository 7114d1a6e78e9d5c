import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { ReceiptTypeRegistry } from "../../services/receipts/registry";
import { readReceipt, ruleErrors } from "../../services/receipts/parse";
import { AppError } from "../../lib/errors";
import { obj, lit, str } from "../../services/receipts/schema";
import type { ReceiptType } from "../../services/receipts/model";

const registry = new ReceiptTypeRegistry(RECEIPT_TYPES);
const bytes = (s: string): Uint8Array => Buffer.from(s, "utf8");

function expectAppError(fn: () => unknown, code: string): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    expect((err as AppError).code).to.equal(code);
    return err as AppError;
  }
  throw new Error(`expected AppError ${code}`);
}

describe("receipt types", () => {
  it("registers at least three types, one of them XML-native, with distinct schemas", () => {
    const names = registry.list().map((t) => t.name);
    expect(names).to.include.members(["retail", "invoice", "fiscal"]);
    const schemas = new Set(
      registry.list().map((t) => JSON.stringify(Object.keys(t.schema.schema.properties ?? {}).sort())),
    );
    expect(schemas.size).to.equal(registry.list().length);
    expect(registry.byXmlRoot("CHECK")?.name).to.equal("fiscal");
  });

  for (const t of RECEIPT_TYPES) {
    for (const format of ["json", "xml"] as const) {
      it(`${t.name}: the ${format} example is schema-valid and passes its business rules`, () => {
        const r = readReceipt(
          registry,
          bytes(t.examples[format]),
          format === "json" ? "application/json" : "application/xml",
        );
        expect(r.type.name).to.equal(t.name);
        expect(r.format).to.equal(format);
        expect(r.document.type).to.equal(t.name);
        expect(ruleErrors(r.type, r.document)).to.deep.equal([]);
        expect(r.summary.total).to.be.a("number").greaterThan(0);
        expect(r.summary.currency).to.match(/^[A-Z]{3}$/);
        expect(Number.isNaN(Date.parse(r.summary.issuedAt))).to.equal(false);
      });
    }
  }

  it("describes every type with schema and examples for both formats", () => {
    const info = registry.describe();
    expect(info).to.have.length(RECEIPT_TYPES.length);
    for (const i of info) {
      expect(i.formats).to.deep.equal(["json", "xml"]);
      expect(i.schema.type).to.equal("object");
      expect(i.examples.json.contentType).to.equal("application/json");
      expect(i.examples.xml.body).to.contain(`<${i.xmlRoot}`);
    }
  });

  it("maps XML elements, attributes, wrapped arrays and numbers to the JSON shape", () => {
    const r = readReceipt(registry, bytes(RECEIPT_TYPES[1]!.examples.xml), "application/xml");
    const doc = r.document as Record<string, any>;
    expect(doc["invoiceNumber"]).to.equal("INV-2025-0043");
    expect(doc["seller"]).to.deep.equal({ taxId: "DE123456789", name: "Muster Handels GmbH" });
    expect(doc["items"]).to.have.length(1);
    expect(doc["items"][0].quantity).to.equal(2);
    expect(doc["taxSummary"][0]).to.deep.equal({ rate: 20, taxableAmount: 91, taxAmount: 18.2 });
    const f = readReceipt(registry, bytes(RECEIPT_TYPES[2]!.examples.xml), "text/xml; charset=utf-8")
      .document as Record<string, any>;
    expect(f["version"]).to.equal(1);
    expect(f["rows"]).to.have.length(2);
    expect(f["rows"][1]).to.deep.include({ rowNum: 2, code: "4820000000035", amount: 1, price: 27.5, cost: 27.5 });
    expect(f["head"]["orgName"]).to.equal('ТОВ "Ромашка"');
  });

  it("decodes the predefined XML entities", () => {
    const r = readReceipt(registry, bytes(RECEIPT_TYPES[0]!.examples.xml), "application/xml");
    expect((r.document as any).lines[0].name).to.equal("Milk 2.5% 1 l & more");
  });

  describe("business rules", () => {
    const retailDoc = () => JSON.parse(RECEIPT_TYPES[0]!.examples.json);
    const invoiceDoc = () => JSON.parse(RECEIPT_TYPES[1]!.examples.json);
    const fiscalDoc = () => JSON.parse(RECEIPT_TYPES[2]!.examples.json);
    const rules = (doc: unknown) => {
      const r = readReceipt(registry, bytes(JSON.stringify(doc)), "application/json");
      return ruleErrors(r.type, r.document).map((e) => e.path);
    };

    it("retail: line amounts, gross, VAT, net and payments must add up", () => {
      const d = retailDoc();
      d.lines[0].amount = 86;
      expect(rules(d)).to.include.members(["/lines/0/amount", "/totals/gross", "/totals/vat"]);
      const v = retailDoc();
      v.totals.vat = 21.48;
      expect(rules(v)).to.deep.equal(["/totals/vat", "/totals/net"]);
      const p = retailDoc();
      p.payments[1].amount = 50;
      expect(rules(p)).to.deep.equal(["/payments"]);
    });

    it("invoice: discounts, per-rate tax, totals, distinct parties and dates", () => {
      const d = invoiceDoc();
      d.taxSummary[1].taxAmount = 6.99;
      expect(rules(d)).to.deep.equal(["/taxSummary/1/taxAmount", "/totalTax"]);
      const p = invoiceDoc();
      p.buyer.taxId = p.seller.taxId;
      p.dueDate = "2025-01-01";
      expect(rules(p)).to.deep.equal(["/buyer/taxId", "/dueDate"]);
      const m = invoiceDoc();
      m.taxSummary.pop();
      expect(rules(m)).to.include("/taxSummary");
    });

    it("fiscal: row numbering, costs, taxes by letter, payments and a real date", () => {
      const d = fiscalDoc();
      d.head.orderDate = "31022025";
      d.rows[0].rowNum = 2;
      expect(rules(d)).to.deep.equal(["/head/orderDate", "/rows/0/rowNum"]);
      const t = fiscalDoc();
      t.taxes[0].sum = 21.26;
      expect(rules(t)).to.deep.equal(["/taxes/0/sum"]);
    });
  });

  describe("registry", () => {
    const t = (name: string, root: string): ReceiptType => ({
      name,
      version: 1,
      description: "test",
      schema: obj({ type: lit(name), a: str() }, {}, { xml: { name: root } }) as never,
      rules: () => [],
      summary: () => ({ issuedAt: new Date(0).toISOString(), total: 1, currency: "EUR" }),
      number: () => "1",
      examples: { json: "{}", xml: "<x/>" },
    });

    it("refuses duplicate names and XML roots", () => {
      expect(() => new ReceiptTypeRegistry([t("a", "A"), t("a", "B")])).to.throw(/twice/);
      expect(() => new ReceiptTypeRegistry([t("a", "A"), t("b", "A")])).to.throw(/used by a and b/);
    });

    it("compiles type schemas as JSON Schema draft 2020-12, strictly", () => {
      // prefixItems is 2020-12 only: draft-07's strict mode would refuse it as an unknown keyword
      const pair: ReceiptType = {
        ...t("pair", "pair"),
        schema: {
          schema: {
            type: "object",
            properties: {
              type: { const: "pair" },
              p: { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], items: false, minItems: 2 },
            },
          },
        } as never,
      };
      const r = new ReceiptTypeRegistry([pair]);
      expect(r.schemaErrors(pair, { type: "pair", p: ["a", 1] })).to.deep.equal([]);
      expect(r.schemaErrors(pair, { type: "pair", p: [1, 1, 2] })).to.deep.equal([
        { path: "/p/0", message: "must be string" },
        { path: "/p", message: "must NOT have more than 2 items" },
      ]);
      const odd = t("odd", "odd");
      const unknown: ReceiptType = {
        ...odd,
        schema: { schema: { ...odd.schema.schema, frobnicate: 1 } } as never,
      };
      expect(() => new ReceiptTypeRegistry([unknown])).to.throw(/unknown keyword: "frobnicate"/);
    });

    it("accepts a new type without touching anything else", () => {
      const r = new ReceiptTypeRegistry([...RECEIPT_TYPES, t("parking", "parkingTicket")]);
      const doc = readReceipt(r, bytes("<parkingTicket><a>x</a></parkingTicket>"), "application/xml");
      expect(doc.type.name).to.equal("parking");
      expect(doc.document).to.deep.equal({ type: "parking", a: "x" });
      const e = expectAppError(
        () => readReceipt(r, bytes('{"type":"parking","a":1}'), "application/json"),
        "VALIDATION_ERROR",
      );
      expect(e.details).to.deep.equal([{ path: "/a", message: "must be string" }]);
    });
  });
});
