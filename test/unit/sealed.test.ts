import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createKeyring, isSealed, masterKeyId, sealedKid, SealedError } from "../../lib/sealed";
import { credentialCacheMac, decodeEntry, encodeEntry } from "../../services/gateway/clients/cache-entry";
import { loadConfig, ConfigError } from "../../node/config";
import { DEV_MASTER_KEY } from "../../config";

const key = () => randomBytes(32).toString("base64");

describe("sealed secrets (lib/sealed.ts)", () => {
  const k1 = key();
  const k2 = key();

  it("seals and opens bound to its context; a moved, edited or foreign value does not open", () => {
    const ring = createKeyring([k1]);
    const s = ring.seal("whsec_top-secret", "client-webhook-secret/cl_a");
    expect(isSealed(s)).to.equal(true);
    expect(s).to.not.include("top-secret");
    expect(sealedKid(s)).to.equal(masterKeyId(k1)).and.equal(ring.currentId);
    expect(ring.openText(s, "client-webhook-secret/cl_a")).to.equal("whsec_top-secret");
    expect(() => ring.open(s, "client-webhook-secret/cl_b")).to.throw(SealedError);
    const parts = s.split(".");
    const ct = Buffer.from(parts[3]!, "base64url");
    ct[0] = ct[0]! ^ 1;
    expect(() =>
      ring.open([...parts.slice(0, 3), ct.toString("base64url")].join("."), "client-webhook-secret/cl_a"),
    ).to.throw(SealedError);
    expect(() => createKeyring([k2]).open(s, "client-webhook-secret/cl_a")).to.throw(SealedError, /not configured/);
    expect(() => ring.open('{"d":"x"}', "ctx")).to.throw(SealedError, /not a sealed value/);
    expect(ring.seal("x", "c")).to.not.equal(ring.seal("x", "c"));
  });

  it("rotates: a new current key opens what the old one sealed and reports it for re-sealing", () => {
    const old = createKeyring([k1]);
    const rotated = createKeyring([k2, k1]);
    const s = old.seal("secret", "ctx");
    expect(rotated.openText(s, "ctx")).to.equal("secret");
    expect(rotated.needsReseal(s)).to.equal(true);
    expect(rotated.needsReseal(rotated.seal("secret", "ctx"))).to.equal(false);
    expect(rotated.needsReseal("plain")).to.equal(true);
  });

  it("refuses an empty, malformed or repeated key list", () => {
    expect(() => createKeyring([])).to.throw(/no master key/);
    expect(() => createKeyring(["c2hvcnQ="])).to.throw(/32 bytes/);
    expect(() => createKeyring([k1, k1])).to.throw(/twice/);
  });

  it("MACs verify only the same data with a configured key, and differ per purpose", () => {
    const ring = createKeyring([k1]);
    const a = ring.mac("a");
    const tag = a.sign("data");
    expect(a.verify("data", tag)).to.equal(true);
    expect(a.verify("datA", tag)).to.equal(false);
    expect(ring.mac("b").verify("data", tag)).to.equal(false);
    expect(createKeyring([k2, k1]).mac("a").verify("data", tag)).to.equal(true);
    expect(createKeyring([k2]).mac("a").verify("data", tag)).to.equal(false);
    expect(a.verify("data", "garbage")).to.equal(false);
  });
});

describe("credential cache entries (clients/cache-entry.ts)", () => {
  const mac = credentialCacheMac(createKeyring([key()]));
  const entry = { id: "cl_aaaaaaaaaaaaaaaa", scopes: ["receipts:read"], status: "active", rateLimit: null, version: 1 };

  it("round-trips under its own key only", () => {
    const raw = encodeEntry(mac, "ns:gw:client:cl_a", entry);
    expect(decodeEntry(mac, "ns:gw:client:cl_a", raw)).to.deep.equal(entry);
    expect(decodeEntry(mac, "ns:gw:client:cl_b", raw)).to.equal(undefined);
  });

  it("ignores plain JSON, edited content and another key's MAC", () => {
    const raw = encodeEntry(mac, "k", entry);
    expect(decodeEntry(mac, "k", JSON.stringify(entry))).to.equal(undefined);
    expect(decodeEntry(mac, "k", raw.replace("receipts:read", "admin"))).to.equal(undefined);
    expect(decodeEntry(credentialCacheMac(createKeyring([key()])), "k", raw)).to.equal(undefined);
    expect(decodeEntry(mac, "k", "m1.only")).to.equal(undefined);
  });
});

describe("config: master keys", () => {
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it("uses the dev key in dev mode only, and reads MASTER_KEYS current first", () => {
    expect(loadConfig({}).master).to.deep.equal({ keys: [DEV_MASTER_KEY], devKey: true });
    const [a, b] = [key(), key()];
    expect(loadConfig({ MASTER_KEYS: `${a}, ${b}` }).master).to.deep.equal({ keys: [a, b], devKey: false });
    expect(loadConfig({ MASTER_KEY: a }).master.keys).to.deep.equal([a]);
  });

  it("outside dev mode: required by the gateway and receipts, the dev key refused, bad keys reported", () => {
    const prod = { NODE_ENV: "production", SERVICES: "runtime,gateway" };
    expect(problemsOf(prod).join("\n")).to.match(/MASTER_KEYS is required outside dev mode/);
    expect(problemsOf({ ...prod, MASTER_KEYS: DEV_MASTER_KEY }).join("\n")).to.match(
      /well-known development master key/,
    );
    expect(problemsOf({ ...prod, MASTER_KEYS: "c2hvcnQ=" }).join("\n")).to.match(/MASTER_KEYS entry 1 is invalid/);
    expect(problemsOf({ ...prod, MASTER_KEYS: key(), MASTER_KEY: key() }).join("\n")).to.match(/both set/);
    expect(problemsOf({ ...prod, MASTER_KEYS: key() }).filter((p) => p.includes("MASTER"))).to.deep.equal([]);
    expect(
      problemsOf({ NODE_ENV: "production", SERVICES: "runtime" }).filter((p) => p.includes("MASTER")),
    ).to.deep.equal([]);
  });
});
