/**
 * The JetStream API error matchers (nats/errors.ts) against what the real NATS server and the
 * @nats-io clients answer: each error is provoked for real and recognised by its code; an
 * unrelated error, and an error that only says the same words, are not.
 */
import { expect } from "chai";
import {
  JetStreamApiCodes,
  connectNats,
  isConsumerNotFound,
  isJsApiError,
  isNoMessageFound,
  isStreamNotFound,
  isWrongLastSequence,
  isNatsUnavailable,
  jsErrCode,
  type KV,
  type NatsHandles,
} from "../../nats";
import { NATS_URL, freshNamespace } from "../support/namespace";

/** The rejection of `p` (fails the test when it resolves). */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("JetStream API errors by code (real server)", function () {
  this.timeout(30_000);
  const ns = freshNamespace("tne");
  const bucket = `${ns}_errors`;
  let h: NatsHandles;
  let kv: KV;
  let stream: string;

  before(async () => {
    h = await connectNats(NATS_URL, `nats-errors-${ns}`);
    kv = await h.kvm.create(bucket, { history: 1 });
    stream = `KV_${bucket}`;
  });

  after(async () => {
    await h.jsm.streams.delete(stream).catch(() => undefined);
    await h.nc.close();
  });

  it("a KV update at a stale revision is a wrong last sequence (10071)", async () => {
    const r1 = await kv.create("stale", "1");
    await kv.update("stale", "2", r1);
    const err = await rejectionOf(kv.update("stale", "3", r1));
    expect(jsErrCode(err)).to.equal(JetStreamApiCodes.StreamWrongLastSequence);
    expect(isWrongLastSequence(err)).to.equal(true);
    expect(isStreamNotFound(err) || isConsumerNotFound(err) || isNoMessageFound(err)).to.equal(false);
  });

  it("a KV create of an existing key is a wrong last sequence too", async () => {
    await kv.create("taken", "1");
    const err = await rejectionOf(kv.create("taken", "2"));
    expect(jsErrCode(err)).to.equal(JetStreamApiCodes.StreamWrongLastSequence);
    expect(isWrongLastSequence(err)).to.equal(true);
  });

  it("a missing stream is stream not found (10059)", async () => {
    const err = await rejectionOf(h.jsm.streams.info(`${ns.toUpperCase()}_NO_SUCH_STREAM`));
    expect(jsErrCode(err)).to.equal(JetStreamApiCodes.StreamNotFound);
    expect(isStreamNotFound(err)).to.equal(true);
    expect(isWrongLastSequence(err)).to.equal(false);
    expect(isConsumerNotFound(err)).to.equal(false);
  });

  it("a missing consumer is consumer not found (10014)", async () => {
    const err = await rejectionOf(h.jsm.consumers.info(stream, "no-such-consumer"));
    expect(jsErrCode(err)).to.equal(JetStreamApiCodes.ConsumerNotFound);
    expect(isConsumerNotFound(err)).to.equal(true);
    expect(isStreamNotFound(err)).to.equal(false);
    expect(isWrongLastSequence(err)).to.equal(false);
  });

  it("a missing message is no message found (10037) on the wire; the client answers null", async () => {
    const raw = await h.nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq: 999_999 }));
    const answer: unknown = raw.json();
    expect(answer).to.have.nested.property("error.err_code", JetStreamApiCodes.NoMessageFound);
    expect(await h.jsm.streams.getMessage(stream, { seq: 999_999 })).to.equal(null);
  });

  it("says no to an unrelated error, and to one that only has the words", async () => {
    const invalidKey = await rejectionOf(kv.put("no spaces allowed", "x"));
    expect(isJsApiError(invalidKey)).to.equal(false);
    for (const err of [
      invalidKey,
      new Error("wrong last sequence: 3"),
      new Error("stream not found"),
      new Error("consumer not found"),
      "wrong last sequence",
      null,
    ]) {
      expect(
        [isWrongLastSequence(err), isStreamNotFound(err), isConsumerNotFound(err), isNoMessageFound(err)],
        String(err),
      ).to.deep.equal([false, false, false, false]);
    }
  });

  it("knows NATS being unavailable for now (no stream leader, a timeout, a closed connection) from a refusal", async () => {
    // a publish to a subject no stream takes: the same rejection as a stream without a leader
    const noLeader = await rejectionOf(h.js.publish(`${ns}.nowhere`, "x"));
    expect(isNatsUnavailable(noLeader), String(noLeader)).to.equal(true);
    const timedOut = await rejectionOf(h.js.publish(`${ns}.nowhere`, "x", { timeout: 1 }));
    expect(isNatsUnavailable(timedOut), String(timedOut)).to.equal(true);
    const other = await connectNats(NATS_URL, `nats-errors-closed-${ns}`);
    await other.nc.close();
    const closed = await rejectionOf(other.js.publish(`${ns}.nowhere`, "x"));
    expect(isNatsUnavailable(closed), String(closed)).to.equal(true);
    // refusals are not "unavailable": the caller must not retry them
    const stale = await rejectionOf(kv.update("k-unavail", "x", 999));
    const invalidKey = await rejectionOf(kv.put("no spaces allowed", "x"));
    for (const err of [stale, invalidKey, new Error("timeout"), "no responders", null])
      expect(isNatsUnavailable(err), String(err)).to.equal(false);
  });
});
