/**
 * The events domain's pure parts: envelope validation, the type registry, the crypto envelope
 * and the feed cursor. No broker, no server.
 */
import { expect } from "chai";
import { decodeEnvelope, validateEnvelope, MAX_DATA_DEPTH } from "../../services/tenant-events/envelope";
import { EventTypeRegistry, checkTypeDefinition, parseTypeKey, typeKey } from "../../services/tenant-events/registry";
import { DataKeyring, DecryptError, openData, rowAad } from "../../services/tenant-events/crypto";
import { decodeCursor, encodeCursor } from "../../services/tenant-events/cursor";
import { codeOfLine, isRejectCode, rejectionLine } from "../../services/tenant-events/model";
import {
  defineTypeInput,
  dlqListInput,
  dlqReplayInput,
  feedInput,
  tenantsInput,
  typeNameOf,
} from "../../services/tenant-events/params";
import { isTransientStoreError } from "../../services/tenant-events/processor";
import { LatencyHistogram } from "../../lib/histogram";
import { eventNames } from "../../services/tenant-events/streams";
import { AppError } from "../../lib/errors";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const OPTS = { maxBytes: 4096, now: NOW };
const ok = {
  clientId: "cl_a",
  eventId: "e-1",
  type: "order.created",
  timestamp: "2026-06-01T11:59:00Z",
  data: { amount: 5 },
};
const bytes = (v: unknown): Uint8Array => Buffer.from(typeof v === "string" ? v : JSON.stringify(v), "utf8");

describe("events: envelope (pure)", () => {
  it("accepts a valid envelope and normalises the timestamp (RFC 3339 or epoch ms)", () => {
    const r = decodeEnvelope(bytes(ok), { ...OPTS, tenant: "cl_a" });
    expect(r.ok).to.equal(true);
    if (r.ok)
      expect(r.event).to.deep.equal({
        clientId: "cl_a",
        eventId: "e-1",
        type: "order.created",
        timestampMs: Date.parse(ok.timestamp),
        data: { amount: 5 },
      });
    const ms = validateEnvelope({ ...ok, timestamp: NOW - 1000 }, OPTS);
    expect(ms.ok && ms.event.timestampMs).to.equal(NOW - 1000);
  });

  const cases: Array<[string, unknown, string, string?]> = [
    ["a missing field", { ...ok, eventId: undefined }, "INVALID_ENVELOPE", "/eventId"],
    ["an empty field", { ...ok, type: "" }, "INVALID_ENVELOPE", "/type"],
    ["an extra field", { ...ok, extra: 1 }, "INVALID_ENVELOPE", "/extra"],
    ["data that is not an object", { ...ok, data: [1, 2] }, "INVALID_ENVELOPE", "/data"],
    ["data null", { ...ok, data: null }, "INVALID_ENVELOPE", "/data"],
    ["path traversal in the event id", { ...ok, eventId: "../../etc/passwd" }, "INVALID_ENVELOPE", "/eventId"],
    ["dots in the event id", { ...ok, eventId: "a..b" }, "INVALID_ENVELOPE", "/eventId"],
    ["a slash in the client id", { ...ok, clientId: "cl_a/../b" }, "INVALID_ENVELOPE", "/clientId"],
    ["a timestamp without offset", { ...ok, timestamp: "2026-06-01T11:59:00" }, "INVALID_ENVELOPE", "/timestamp"],
    ["a timestamp in the far future", { ...ok, timestamp: "2027-06-01T11:59:00Z" }, "INVALID_ENVELOPE", "/timestamp"],
    ["a timestamp before 2000", { ...ok, timestamp: "1999-12-31T23:59:59Z" }, "INVALID_ENVELOPE", "/timestamp"],
    ["a fractional epoch timestamp", { ...ok, timestamp: 1.5e12 + 0.5 }, "INVALID_ENVELOPE", "/timestamp"],
    ["a huge event id", { ...ok, eventId: "x".repeat(129) }, "INVALID_ENVELOPE", "/eventId"],
    ["an integer beyond 2^53", { ...ok, data: { n: 2 ** 60 } }, "INVALID_JSON", "/data/n"],
    ["a non-finite number", { ...ok, data: { n: Infinity } }, "INVALID_JSON", "/data/n"],
    ["a lone surrogate", { ...ok, data: { s: "a\ud800b" } }, "INVALID_JSON", "/data/s"],
    ["a lone surrogate in a key", { ...ok, data: { ["k\udc00"]: 1 } }, "INVALID_JSON", "/data/k\udc00"],
  ];
  for (const [what, value, code, path] of cases) {
    it(`refuses ${what} (${code})`, () => {
      const r = validateEnvelope(value, OPTS);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.rejection.code).to.equal(code);
        if (path) expect(r.rejection.details.map((d) => d.path)).to.include(path);
      }
    });
  }

  it("refuses data nested deeper than the limit", () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DATA_DEPTH + 1; i++) deep = { d: deep };
    const r = validateEnvelope({ ...ok, data: deep }, { ...OPTS, maxBytes: 1e6 });
    expect(!r.ok && r.rejection.code).to.equal("INVALID_JSON");
  });

  it("refuses another tenant's client id (TENANT_MISMATCH)", () => {
    const r = validateEnvelope(ok, { ...OPTS, tenant: "cl_b" });
    expect(!r.ok && r.rejection.code).to.equal("TENANT_MISMATCH");
  });

  it("decodes bytes strictly: size first, UTF-8, JSON (1e400 and NaN never pass)", () => {
    const codeOf = (b: Uint8Array, maxBytes = 4096): string | undefined => {
      const r = decodeEnvelope(b, { ...OPTS, maxBytes });
      return r.ok ? undefined : r.rejection.code;
    };
    expect(codeOf(new Uint8Array(0))).to.equal("INVALID_JSON");
    expect(codeOf(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).to.equal("INVALID_ENCODING");
    expect(codeOf(bytes(JSON.stringify(ok).slice(0, 20)))).to.equal("INVALID_JSON");
    expect(codeOf(bytes(JSON.stringify(ok).replace('"amount":5', '"amount":NaN')))).to.equal("INVALID_JSON");
    expect(codeOf(bytes(JSON.stringify(ok).replace('"amount":5', '"amount":1e400')))).to.equal("INVALID_JSON");
    expect(codeOf(bytes(JSON.stringify(ok).replace('"amount":5', '"amount":12345678901234567890')))).to.equal(
      "INVALID_JSON",
    );
    expect(codeOf(bytes("[".repeat(5000) + "]".repeat(5000)), 1e6)).to.equal("INVALID_ENVELOPE");
    expect(codeOf(bytes({ ...ok, data: { s: "x".repeat(5000) } }))).to.equal("TOO_LARGE");
    expect(codeOf(bytes(JSON.stringify(ok)))).to.equal(undefined);
  });

  it("formats rejections as DLQ lines whose code can be read back", () => {
    const r = validateEnvelope({ ...ok, eventId: "" }, OPTS);
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      const line = rejectionLine(r.rejection);
      expect(line).to.match(/^INVALID_ENVELOPE: .*\/eventId/);
      expect(codeOfLine(line)).to.equal("INVALID_ENVELOPE");
    }
    expect(codeOfLine("boom")).to.equal(undefined);
    expect(codeOfLine("CONSTRUCTOR: not ours")).to.equal(undefined);
    expect(isRejectCode("SCHEMA_VIOLATION")).to.equal(true);
    expect(isRejectCode("toString")).to.equal(false);
  });
});

describe("events: type registry (pure)", () => {
  const v1 = {
    name: "order.created",
    version: 1,
    schema: { type: "object", required: ["amount"], properties: { amount: { type: "number" } } },
    description: "",
    createdAt: "2026-01-01T00:00:00Z",
  };
  const v2 = {
    ...v1,
    version: 2,
    schema: { type: "object", required: ["amount"], properties: { amount: { type: ["number", "string"] } } },
  };

  it("validates data against the latest version and names it", () => {
    const reg = new EventTypeRegistry();
    expect(reg.apply(v1)).to.equal(undefined);
    expect(reg.check("order.created", { amount: 1 })).to.deep.equal({ ok: true, version: 1 });
    const bad = reg.check("order.created", { amount: "1" });
    expect(bad.ok).to.equal(false);
    if (!bad.ok) {
      expect(bad.rejection.code).to.equal("SCHEMA_VIOLATION");
      expect(bad.rejection.details).to.deep.equal([{ path: "/data/amount", message: "must be number" }]);
    }
    reg.apply(v2);
    expect(reg.check("order.created", { amount: "1" })).to.deep.equal({ ok: true, version: 2 });
    expect(reg.info("order.created")?.versions.map((v) => v.version)).to.deep.equal([1, 2]);
  });

  it("refuses unknown types", () => {
    const r = new EventTypeRegistry().check("nope", {});
    expect(!r.ok && r.rejection.code).to.equal("UNKNOWN_TYPE");
  });

  it("checks definitions: name syntax, compiling schema, no unknown keywords, no remote refs", () => {
    expect(checkTypeDefinition("order.created", v1.schema)).to.deep.equal([]);
    expect(checkTypeDefinition("Order", v1.schema).map((p) => p.path)).to.deep.equal(["/name"]);
    expect(checkTypeDefinition("a..b", v1.schema).map((p) => p.path)).to.deep.equal(["/name"]);
    expect(checkTypeDefinition("x", { type: "object", propertys: {} })[0]?.message).to.match(/does not compile/);
    expect(checkTypeDefinition("x", { $ref: "https://example.com/s.json" })).to.deep.equal([
      { path: "/schema/$ref", message: 'only local references ("#" or "#/...") are supported' },
    ]);
    expect(checkTypeDefinition("x", [] as unknown)[0]?.path).to.equal("/schema");
  });

  it("keys versions as {name}.v{version} and reads them back", () => {
    expect(typeKey("order.created", 12)).to.equal("order.created.v12");
    expect(parseTypeKey("order.created.v12")).to.deep.equal({ name: "order.created", version: 12 });
    expect(parseTypeKey("order.created")).to.equal(undefined);
  });
});

describe("events: data encryption (pure)", () => {
  const k1 = Buffer.alloc(32, 1).toString("base64");
  const k2 = Buffer.alloc(32, 2).toString("base64");

  it("round-trips with the key and the row's identity; the blob does not contain the plaintext", () => {
    const ring = new DataKeyring({ k1 }, "k1");
    const plain = Buffer.from(JSON.stringify({ secret: "PLAINTEXT-MARKER" }));
    const { keyId, blob } = ring.encrypt(plain, rowAad("cl_a", "e1"));
    expect(keyId).to.equal("k1");
    expect(blob.includes(Buffer.from("PLAINTEXT-MARKER"))).to.equal(false);
    expect(ring.decrypt(keyId, blob, rowAad("cl_a", "e1")).equals(plain)).to.equal(true);
    expect(() => ring.decrypt(keyId, blob, rowAad("cl_b", "e1"))).to.throw(DecryptError);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => ring.decrypt(keyId, tampered, rowAad("cl_a", "e1"))).to.throw(DecryptError);
  });

  it("rotates: new rows use the current key, old rows stay readable, a removed key cannot read", () => {
    const old = new DataKeyring({ k1 }, "k1").encrypt(Buffer.from("old"), rowAad("t", "1"));
    const ring = new DataKeyring({ k1, k2 }, "k2");
    const fresh = ring.encrypt(Buffer.from("new"), rowAad("t", "2"));
    expect(fresh.keyId).to.equal("k2");
    expect(ring.decrypt(old.keyId, old.blob, rowAad("t", "1")).toString()).to.equal("old");
    expect(() => new DataKeyring({ k2 }, "k2").decrypt(old.keyId, old.blob, rowAad("t", "1"))).to.throw(
      DecryptError,
      /not configured/,
    );
    expect(() => new DataKeyring({ k1 }, "k9")).to.throw(/not configured/);
  });
});

describe("events: stored data (pure)", () => {
  const ring = new DataKeyring({ k1: Buffer.alloc(32, 1).toString("base64") }, "k1");
  const seal = (clientId: string, eventId: string, v: unknown) => ({
    clientId,
    eventId,
    ...ring.encrypt(Buffer.from(JSON.stringify(v)), rowAad(clientId, eventId)),
  });

  it("opens a row's data to the object it was; a moved row does not decrypt; a non-object is refused", () => {
    expect(openData(ring, seal("cl_a", "e1", { amount: 5 }))).to.deep.equal({ amount: 5 });
    expect(() => openData(ring, { ...seal("cl_a", "e1", { amount: 5 }), eventId: "e2" })).to.throw(DecryptError);
    for (const v of [[1, 2], "text", 3, null])
      expect(() => openData(ring, seal("cl_a", "e3", v)), JSON.stringify(v)).to.throw(/not a JSON object/);
  });
});

describe("events: action inputs, HTTP and flat (pure)", () => {
  it("reads the type name from the path or the flat params", () => {
    expect(typeNameOf({ params: { name: "order.created" }, query: {} })).to.equal("order.created");
    expect(typeNameOf({ name: "order.created" })).to.equal("order.created");
    expect(typeNameOf({})).to.equal("");
    expect(typeNameOf(null)).to.equal("");
  });

  it("reads a type definition from the body or the flat params; a schema that is not an object is a 422", () => {
    const schema = { type: "object" };
    expect(defineTypeInput({ params: { name: "a.b" }, query: {}, body: { schema, description: "d" } })).to.deep.equal({
      name: "a.b",
      def: { schema, description: "d" },
    });
    expect(defineTypeInput({ name: "a.b", schema })).to.deep.equal({ name: "a.b", def: { schema } });
    expect(defineTypeInput({ name: "a.b", schema, description: 7 })).to.deep.equal({ name: "a.b", def: { schema } });
    for (const bad of [{ name: "a.b" }, { name: "a.b", schema: [1] }, { name: "a.b", schema: "x" }]) {
      expect(() => defineTypeInput(bad), JSON.stringify(bad))
        .to.throw(AppError)
        .that.satisfies(
          (e: AppError) => e.code === "VALIDATION_ERROR" && (e.details ?? []).some((d) => d.path === "/schema"),
        );
    }
  });

  it("reads DLQ listing and replay inputs from the query/body or flat; replay needs a positive sequence", () => {
    expect(dlqListInput({ params: {}, query: { tenant: "cl_a", after: 5, limit: 10 } })).to.deep.equal({
      tenant: "cl_a",
      afterSeq: 5,
      limit: 10,
    });
    expect(dlqListInput({ tenant: "", after: "7" })).to.deep.equal({ afterSeq: 7 });
    expect(dlqListInput(undefined)).to.deep.equal({});
    expect(dlqReplayInput({ params: {}, query: {}, body: { seqs: [3, 4] } })).to.deep.equal([3, 4]);
    expect(dlqReplayInput({ seqs: 9 })).to.deep.equal([9]);
    for (const bad of [{ seqs: [] }, { seqs: [0, -1, 1.5, "x"] }, {}]) {
      expect(() => dlqReplayInput(bad), JSON.stringify(bad))
        .to.throw(AppError)
        .with.property("code", "VALIDATION_ERROR");
    }
  });

  it("reads the feed query (default page 100) and the latency tenants", () => {
    expect(feedInput({ params: {}, query: { after: "c1", limit: 5 } })).to.deep.equal({ after: "c1", limit: 5 });
    expect(feedInput({ params: {}, query: {} })).to.deep.equal({ after: undefined, limit: 100 });
    expect(tenantsInput({ tenants: ["a", 1, "b"] })).to.deep.equal(["a", "b"]);
    expect(tenantsInput({})).to.deep.equal([]);
  });
});

describe("events: cursor, names and error classes (pure)", () => {
  it("round-trips positions and refuses anything else with 400", () => {
    const c = encodeCursor({ seq: 42, storedAtMs: 1_790_000_000_000 });
    expect(decodeCursor(c)).to.deep.equal({ seq: 42, storedAtMs: 1_790_000_000_000 });
    for (const bad of [
      "",
      "abc",
      "x".repeat(100),
      Buffer.from("e1.-1.0").toString("base64url"),
      Buffer.from("e1.1.2.3").toString("base64url"),
      "../etc",
    ]) {
      expect(() => decodeCursor(bad), bad)
        .to.throw(AppError)
        .with.property("code", "INVALID_PARAMETER");
    }
  });

  it("names subjects, consumers and the DLQ per tenant; odd tenant tokens get a hashed consumer", () => {
    const n = eventNames("sy");
    expect(n.inSubject("cl_a")).to.equal("sy.events.in.cl_a");
    expect(n.outSubject("cl_a")).to.equal("sy.events.out.cl_a");
    expect(n.dlqSubject("cl_a")).to.equal("sy.dlq.events.cl_a");
    expect(n.consumer("cl_a")).to.equal("t-cl_a");
    expect(n.consumer("bad%tok")).to.match(/^x-[0-9a-f]{16}$/);
    expect(n.consumer("bad%tok")).to.equal(n.consumer("bad%tok"));
  });

  it("tells outages (retry) from refused rows (bisect, then DLQ)", () => {
    expect(isTransientStoreError(Object.assign(new Error("conn"), { code: "ECONNREFUSED" }))).to.equal(true);
    expect(isTransientStoreError(Object.assign(new Error("gone"), { code: "57P01" }))).to.equal(true);
    expect(isTransientStoreError(Object.assign(new Error("deadlock"), { code: "40P01" }))).to.equal(true);
    expect(isTransientStoreError(Object.assign(new Error("bad value"), { code: "22021" }))).to.equal(false);
    expect(isTransientStoreError(new Error("no code"))).to.equal(true);
  });
});

describe("events: latency histogram (pure)", () => {
  it("merges tenants into one distribution (the p99 of a group, not the p99 of p99s)", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 99; i++) a.record(1);
    b.record(1000);
    expect(a.percentile(0.99)).to.be.below(1.2);
    expect(b.percentile(0.99)).to.equal(1000);
    const m = new LatencyHistogram().merge(a).merge(b);
    expect(m.count).to.equal(100);
    expect(m.percentile(0.99)).to.be.below(1.2);
    expect(m.percentile(1)).to.equal(1000);
    expect(m.max).to.equal(1000);
  });
});
