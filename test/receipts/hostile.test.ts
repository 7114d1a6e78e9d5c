/**
 * Hostile documents: each must end in a clear 4xx AppError (400, 413, 415 or 422) quickly,
 * without exhausting memory or the stack.
 */
import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { ReceiptTypeRegistry } from "../../services/receipts/registry";
import { readReceipt } from "../../services/receipts/parse";
import { AppError } from "../../lib/errors";

const registry = new ReceiptTypeRegistry(RECEIPT_TYPES);
const retailJson = RECEIPT_TYPES[0]!.examples.json;

function reject(body: string | Uint8Array, contentType: string, status: number, code?: string): AppError {
  const started = Date.now();
  try {
    readReceipt(registry, typeof body === "string" ? Buffer.from(body, "utf8") : body, contentType);
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(AppError);
    const e = err as AppError;
    expect(e.status, `${e.code}: ${e.message}`).to.equal(status);
    if (code) expect(e.code).to.equal(code);
    expect(Date.now() - started).to.be.lessThan(1000);
    return e;
  }
  throw new Error("expected the document to be refused");
}

describe("hostile receipt documents", () => {
  it("billion laughs (entity expansion) is refused as 400", () => {
    const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<retailReceipt><receiptNumber>&lol9;</receiptNumber></retailReceipt>`;
    const e = reject(bomb, "application/xml", 400, "INVALID_XML");
    expect(e.message).to.match(/DTD/);
  });

  it("external entities (XXE) are refused as 400", () => {
    reject(
      `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><retailReceipt><cashier>&xxe;</cashier></retailReceipt>`,
      "application/xml",
      400,
      "INVALID_XML",
    );
    reject(
      `<?xml version="1.0"?><!doctype r SYSTEM "http://evil.example/x.dtd"><retailReceipt/>`,
      "text/xml",
      400,
      "INVALID_XML",
    );
  });

  it("undeclared entities are malformed XML (400)", () => {
    reject(`<retailReceipt><cashier>&xxe;</cashier></retailReceipt>`, "application/xml", 400);
  });

  it("10,000-deep XML nesting is refused as 400", () => {
    const deep = "<retailReceipt>" + "<a>".repeat(10_000) + "x" + "</a>".repeat(10_000) + "</retailReceipt>";
    const e = reject(deep, "application/xml", 400, "INVALID_XML");
    expect(e.message).to.match(/deeper/);
  });

  it("10,000-deep JSON nesting is refused as 400", () => {
    const deep = '{"type":"retail","x":' + "[".repeat(10_000) + "]".repeat(10_000) + "}";
    const e = reject(deep, "application/json", 400, "INVALID_JSON");
    expect(e.message).to.match(/deeper/);
    reject('{"type":"retail","x":' + '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000) + "}", "application/json", 400);
  });

  it("60 KB strings are schema violations (422) naming the field", () => {
    const doc = JSON.parse(retailJson);
    doc.store.name = "x".repeat(60 * 1024);
    const e = reject(JSON.stringify(doc), "application/json", 422, "VALIDATION_ERROR");
    expect(e.details).to.deep.include({ path: "/store/name", message: "must NOT have more than 200 characters" });
    const xml = RECEIPT_TYPES[0]!.examples.xml.replace(
      "<cashier>Olena</cashier>",
      `<cashier>${"y".repeat(60 * 1024)}</cashier>`,
    );
    const x = reject(xml, "application/xml", 422);
    expect(x.details?.map((d) => d.path)).to.include("/cashier");
  });

  it("wrong types are 422 with a detail per field", () => {
    const doc = JSON.parse(retailJson);
    doc.lines[0].quantity = "two";
    doc.totals = [];
    doc.extra = true;
    const e = reject(JSON.stringify(doc), "application/json", 422, "VALIDATION_ERROR");
    expect(e.details).to.deep.include.members([
      { path: "/lines/0/quantity", message: "must be number" },
      { path: "/totals", message: "must be object" },
      { path: "/extra", message: "is not allowed" },
    ]);
  });

  it("NaN, Infinity and huge numbers are refused (400 in JSON, 422 in XML)", () => {
    reject(retailJson.replace('"quantity": 2,', '"quantity": NaN,'), "application/json", 400, "INVALID_JSON");
    const inf = reject(retailJson.replace('"quantity": 2,', '"quantity": 1e400,'), "application/json", 422);
    expect(inf.details?.map((d) => d.path)).to.include("/lines/0/quantity");
    const huge = reject(retailJson.replace('"quantity": 2,', '"quantity": 1e300,'), "application/json", 422);
    expect(huge.details).to.deep.include({ path: "/lines/0/quantity", message: "must be <= 1000000" });
    const xml = RECEIPT_TYPES[0]!.examples.xml;
    const nan = reject(xml.replace("<quantity>3</quantity>", "<quantity>NaN</quantity>"), "application/xml", 422);
    expect(nan.details).to.deep.include({ path: "/lines/0/quantity", message: "must be number" });
    const big = reject(xml.replace("<quantity>3</quantity>", "<quantity>1e999</quantity>"), "application/xml", 422);
    expect(big.details).to.deep.include({ path: "/lines/0/quantity", message: "must be number" });
  });

  it("unknown types and missing type fields are 422 UNKNOWN_TYPE", () => {
    reject('{"type":"nope"}', "application/json", 422, "UNKNOWN_TYPE");
    reject('{"receipt":{}}', "application/json", 422, "UNKNOWN_TYPE");
    reject("[1,2,3]", "application/json", 422, "UNKNOWN_TYPE");
    reject("<unknownRoot/>", "application/xml", 422, "UNKNOWN_TYPE");
  });

  it("unparseable bodies are 400", () => {
    reject('{"type":"retail",', "application/json", 400, "INVALID_JSON");
    reject("<retailReceipt><a></retailReceipt>", "application/xml", 400, "INVALID_XML");
    reject("<a/><b/>", "application/xml", 400, "INVALID_XML");
    reject("", "application/json", 400);
    reject(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "application/json", 400, "BAD_REQUEST");
  });

  it("unsupported media types are 415 and oversized bodies 413", () => {
    reject(retailJson, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE");
    reject(retailJson, "application/json; charset=latin1", 415);
    reject(" ".repeat(600 * 1024), "application/json", 413, "PAYLOAD_TOO_LARGE");
  });

  it("prototype keys in documents are reported, never applied", () => {
    const e = reject('{"type":"retail","__proto__":{"polluted":true}}', "application/json", 422);
    expect(e.details?.map((d) => d.path)).to.include("/__proto__");
    reject(
      "<retailReceipt><__proto__><polluted>1</polluted></__proto__></retailReceipt>",
      "application/xml",
      400,
      "INVALID_XML",
    );
    expect(({} as Record<string, unknown>)["polluted"]).to.equal(undefined);
  });

  it("10,000 array items stop at maxItems without listing a million errors", () => {
    const doc = JSON.parse(retailJson);
    doc.payments = Array.from({ length: 10_000 }, () => ({ method: "gold", amount: -1 }));
    const e = reject(JSON.stringify(doc), "application/json", 422);
    expect(e.details!.length).to.be.at.most(50);
  });
});
