import { expect } from "chai";
import { createHmac } from "node:crypto";
import { newWebhookSecret, signWebhook, verifyWebhook, signature } from "../../services/receipts/webhooks";
import { isReceiptId, newReceiptId, timeOfId } from "../../services/receipts/ids";
import { checkIdempotencyKey, fingerprint, idempotencySlot, reuse } from "../../services/receipts/idempotency";
import { AppError } from "../../lib/errors";

describe("Standard Webhooks signatures", () => {
  // The example from the Standard Webhooks specification's reference implementations.
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const ts = 1614265330;
  const body = '{"test": 2432232314}';

  it("matches the specification's test vector", () => {
    expect(signature(secret, id, ts, body)).to.equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("verifies what it signs, within the time tolerance", () => {
    const now = Date.now();
    const h = signWebhook(secret, id, body, now);
    expect(verifyWebhook(secret, { ...h }, body, now)).to.equal(null);
    expect(verifyWebhook(secret, { ...h }, body, now + 4 * 60_000)).to.equal(null);
    expect(verifyWebhook(secret, { ...h }, body, now + 6 * 60_000)).to.equal("stale-timestamp");
  });

  it("refuses a changed body, another secret, missing headers and garbage", () => {
    const now = Date.now();
    const h = signWebhook(secret, id, body, now);
    expect(verifyWebhook(secret, { ...h }, body + " ", now)).to.equal("bad-signature");
    expect(verifyWebhook(newWebhookSecret(), { ...h }, body, now)).to.equal("bad-signature");
    expect(verifyWebhook(secret, { ...h, "webhook-id": "other" }, body, now)).to.equal("bad-signature");
    expect(verifyWebhook(secret, { "webhook-id": id }, body, now)).to.equal("missing-headers");
    expect(verifyWebhook(secret, { ...h, "webhook-timestamp": "abc" }, body, now)).to.equal("bad-timestamp");
    expect(verifyWebhook(secret, { ...h, "webhook-signature": "v1,AAAA" }, body, now)).to.equal("bad-signature");
  });

  it("accepts any one of several space-separated signatures (secret rotation)", () => {
    const now = Date.now();
    const h = signWebhook(secret, id, body, now);
    const old = signWebhook(newWebhookSecret(), id, body, now)["webhook-signature"];
    expect(
      verifyWebhook(secret, { ...h, "webhook-signature": `${old} ${h["webhook-signature"]}` }, body, now),
    ).to.equal(null);
  });

  it("signs with the secret's decoded bytes", () => {
    const key = Buffer.from(secret.slice(6), "base64");
    const mac = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
    expect(signature(secret, id, ts, Buffer.from(body))).to.equal(`v1,${mac}`);
  });
});

describe("receipt ids", () => {
  it("are 26-character ULIDs that sort by time and carry it", () => {
    const a = newReceiptId(1_700_000_000_000);
    const b = newReceiptId(1_700_000_000_001);
    expect(isReceiptId(a)).to.equal(true);
    expect(a < b).to.equal(true);
    expect(timeOfId(a)).to.equal(1_700_000_000_000);
    expect(new Set(Array.from({ length: 1000 }, () => newReceiptId(5))).size).to.equal(1000);
    expect(isReceiptId("../../etc")).to.equal(false);
  });
});

describe("idempotency", () => {
  it("fingerprints the exact bytes and format", () => {
    const b = Buffer.from('{"a":1}');
    expect(fingerprint("json", b)).to.equal(fingerprint("json", Buffer.from('{"a":1}')));
    expect(fingerprint("json", b)).to.not.equal(fingerprint("json", Buffer.from('{"a": 1}')));
    expect(fingerprint("json", b)).to.not.equal(fingerprint("xml", b));
  });

  it("slots differ per client and key and are valid KV keys", () => {
    expect(idempotencySlot("c1", "k")).to.not.equal(idempotencySlot("c2", "k"));
    expect(idempotencySlot("c1", "k")).to.match(/^[0-9a-f]{48}$/);
  });

  it("same key and body reuse the receipt; another body is a 409", () => {
    const rec = { receiptId: "R", fingerprint: "f1", receivedAt: 1 };
    expect(reuse(rec, "f1")).to.equal(rec);
    try {
      reuse(rec, "f2");
      expect.fail("expected 409");
    } catch (err) {
      expect((err as AppError).status).to.equal(409);
    }
  });

  it("checks the key's shape", () => {
    expect(checkIdempotencyKey(undefined)).to.equal(undefined);
    expect(checkIdempotencyKey("abc-123")).to.equal("abc-123");
    expect(() => checkIdempotencyKey("with space")).to.throw(AppError);
    expect(() => checkIdempotencyKey("x".repeat(256))).to.throw(AppError);
  });
});
