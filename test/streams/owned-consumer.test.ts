/**
 * The owned consumer on the real NATS: a reset on taking ownership redelivers everything
 * unacked, in stream order, before anything newer; the in-flight bound holds; the keep-alive
 * moves the ack deadline of a message held for longer than its ack wait; a consumer that is gone,
 * or idle over messages its stream still holds for it, ends the iteration.
 */
import { expect } from "chai";
import { AckPolicy, connectNats, RetentionPolicy, type JsMsg, type NatsHandles } from "../../nats";
import { ConsumerGoneError, isStalled, OwnedConsumer, type OwnedConsumerSpec } from "../../streams/owned-consumer";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

describe("streams: owned consumer (real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("toc");
  const stream = `${ns.toUpperCase()}_OC`;
  let h: NatsHandles;
  const open: OwnedConsumer[] = [];

  const spec = (durable: string, ackWaitMs = 30_000): OwnedConsumerSpec => ({
    stream,
    durable,
    filterSubject: `${ns}.oc.${durable}`,
    ackWaitMs,
    maxAckPending: 1000,
  });
  const publish = async (durable: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await h.js.publish(`${ns}.oc.${durable}`, String(i));
  };
  const openConsumer = async (
    s: OwnedConsumerSpec,
    opts: Parameters<typeof OwnedConsumer.open>[2],
  ): Promise<OwnedConsumer> => {
    const c = await OwnedConsumer.open(h, s, opts);
    open.push(c);
    return c;
  };
  /** Collects what `c` yields (without settling) into `into`, until it is closed. */
  const collect = (c: OwnedConsumer, into: JsMsg[]): Promise<void> =>
    (async () => {
      for await (const m of c) into.push(m);
    })();

  const STILL = "still iterating";
  /** Acks and settles what `c` yields, keeping the bodies and how the iteration ended. */
  const ackAll = (c: OwnedConsumer): { got: string[]; ended: unknown; loop: Promise<unknown> } => {
    const run: { got: string[]; ended: unknown; loop: Promise<unknown> } = {
      got: [],
      ended: STILL,
      loop: Promise.resolve(),
    };
    run.loop = (async () => {
      for await (const m of c) {
        run.got.push(m.string());
        m.ack();
        c.settle(m);
      }
    })().then(
      () => (run.ended = "ended without an error"),
      (err: unknown) => (run.ended = err),
    );
    return run;
  };

  before(async () => {
    h = await connectNats(NATS_URL, `test-${ns}`);
    await h.jsm.streams.add({ name: stream, subjects: [`${ns}.oc.*`], retention: RetentionPolicy.Workqueue });
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  it("a reset redelivers everything unacked, in stream order, before anything newer", async () => {
    await publish("order", 10);
    // The first owner acks the first two messages and dies holding the rest.
    const first = await openConsumer(spec("order"), { reset: true, pullBatch: 5, maxInFlight: 5 });
    const got1: JsMsg[] = [];
    const loop1 = collect(first, got1);
    await waitFor("five messages held", () => got1.length === 5);
    expect(got1.map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    for (const m of got1.slice(0, 2)) {
      await m.ackAck();
      first.settle(m);
    }
    await waitFor("the bound lets two more in", () => got1.length === 7);
    await first.close();
    await loop1;
    await publish("order", 5); // newer messages, seq 11..15

    // Without a reset the consumer goes on after what it delivered: the held ones are not first.
    const plain = await openConsumer(spec("order"), { reset: false, pullBatch: 5, maxInFlight: 1 });
    const got2: JsMsg[] = [];
    const loop2 = collect(plain, got2);
    await waitFor("a message without a reset", () => got2.length >= 1);
    expect(got2[0]!.seq).to.be.greaterThan(7);
    await plain.close();
    await loop2;

    // The next owner resets: 3..15 in order, each once.
    const next = await openConsumer(spec("order"), { reset: true, pullBatch: 5, maxInFlight: 100 });
    const got3: JsMsg[] = [];
    const loop3 = collect(next, got3);
    await waitFor("every unacked message again", () => got3.length === 13);
    expect(got3.map((m) => m.seq)).to.deep.equal([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    for (const m of got3) {
      await m.ackAck();
      next.settle(m);
    }
    expect(next.inFlight).to.equal(0);
    await next.close();
    await loop3;
  });

  it("holds at most maxInFlight messages until some are settled", async () => {
    await publish("bound", 10);
    const c = await openConsumer(spec("bound"), { reset: true, pullBatch: 10, maxInFlight: 3 });
    const got: JsMsg[] = [];
    const loop = collect(c, got);
    await waitFor("three messages held", () => got.length === 3);
    // The client has buffered more than three: the bound, not the server, holds them back.
    await new Promise((r) => setTimeout(r, 300));
    expect(got.length).to.equal(3);
    expect(c.inFlight).to.equal(3);
    got[0]!.ack();
    c.settle(got[0]!);
    await waitFor("one more after a settle", () => got.length === 4);
    expect(c.inFlight).to.equal(3);
    for (const m of got.slice(1)) {
      m.ack();
      c.settle(m);
    }
    await waitFor("the next three", () => got.length === 7);
    // in stream order, each once (sequences are the stream's: this test's start after the first's)
    expect(got.map((m) => m.seq - got[0]!.seq)).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    await c.close();
    await loop;
  });

  it("keeps a message held past its ack wait from being redelivered", async () => {
    const ackWaitMs = 3000;
    // Control: the same consumer config without keep-alive redelivers after the ack wait.
    await publish("raw", 1);
    await h.jsm.consumers.add(stream, {
      durable_name: "raw",
      filter_subject: `${ns}.oc.raw`,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWaitMs * 1_000_000,
      max_deliver: -1,
    });
    const raw = await (await h.js.consumers.get(stream, "raw")).consume({ max_messages: 1 });
    const deliveries: number[] = [];
    const rawLoop = (async () => {
      for await (const m of raw) deliveries.push(m.info.deliveryCount);
    })();

    await publish("alive", 1);
    // Room for more (a pull stays open), so the server would redeliver if the deadline passed.
    const c = await openConsumer(spec("alive", ackWaitMs), { reset: true, pullBatch: 10, maxInFlight: 10 });
    const got: JsMsg[] = [];
    const loop = collect(c, got);
    await waitFor("the held message", () => got.length === 1);
    await waitFor("the control redelivered", () => deliveries.length >= 2, 15_000, 100);
    // Hold it for twice the ack wait.
    await new Promise((r) => setTimeout(r, 2 * ackWaitMs));
    const info = await h.jsm.consumers.info(stream, "alive");
    expect(info.num_redelivered).to.equal(0);
    expect(info.num_ack_pending).to.equal(1);
    await got[0]!.ackAck();
    c.settle(got[0]!);
    await c.close();
    await loop;
    await raw.close();
    await rawLoop;
  });
  it("ends with ConsumerGoneError when its consumer is deleted behind its back (no silent stall)", async () => {
    await publish("gone", 1);
    const c = await openConsumer(spec("gone"), { reset: true, pullBatch: 10, maxInFlight: 10 });
    const got: JsMsg[] = [];
    let ended: unknown = "still iterating";
    const loop = (async () => {
      for await (const m of c) got.push(m);
    })().then(
      () => (ended = "ended without an error"),
      (err: unknown) => (ended = err),
    );
    await waitFor("the first message", () => got.length === 1);
    await h.jsm.consumers.delete(stream, "gone");
    // two missed idle heartbeats (half the pull expiry each), then the client's consumer check
    await waitFor("the iteration ended", () => ended !== "still iterating", 45_000, 100);
    await loop;
    expect(ended).to.be.instanceOf(ConsumerGoneError);
    expect((ended as ConsumerGoneError).durable).to.equal("gone");
  });

  it("ends as stalled when it stays idle over messages its stream still holds, and a reset delivers them", async () => {
    // A limits stream keeps acked messages: the consumer is idle (nothing pending, nothing
    // awaiting an ack) over three stored messages, as a 2.9 consumer past what it never delivered.
    const limits = `${ns.toUpperCase()}_OCL`;
    await h.jsm.streams.add({ name: limits, subjects: [`${ns}.ocl.*`] });
    const s: OwnedConsumerSpec = { ...spec("stall"), stream: limits, filterSubject: `${ns}.ocl.stall` };
    for (let i = 0; i < 3; i++) await h.js.publish(`${ns}.ocl.stall`, String(i));
    const c = await openConsumer(s, { reset: true, pullBatch: 10, stallCheckMs: 300 });
    const run = ackAll(c);
    await waitFor("the iteration ended", () => run.ended !== STILL, 20_000, 50);
    await run.loop;
    expect(run.got).to.deep.equal(["0", "1", "2"]);
    expect(run.ended).to.be.instanceOf(ConsumerGoneError);
    expect((run.ended as ConsumerGoneError).stalled).to.equal(true);
    const again = await openConsumer(s, { reset: true, pullBatch: 10, stallCheckMs: 0 });
    const redelivered: JsMsg[] = [];
    void collect(again, redelivered);
    await waitFor("the stored messages again", () => redelivered.length === 3);
    await again.close();
  });

  it("is not stalled while idle on a work queue with nothing stored, nor when a message arrives between looks", async () => {
    const c = await openConsumer(spec("idle"), { reset: true, pullBatch: 10, stallCheckMs: 200 });
    const run = ackAll(c);
    for (let i = 0; i < 10; i++) {
      await h.js.publish(`${ns}.oc.idle`, String(i));
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor("every message", () => run.got.length === 10);
    await new Promise((r) => setTimeout(r, 1000));
    expect(run.ended).to.equal(STILL);
    await c.close();
    await run.loop;
  });

  it("takes two looks with messages waiting and no delivery between them for a stall", () => {
    expect(isStalled(null, { waiting: 3, delivered: 7 })).to.equal(false);
    expect(isStalled({ waiting: 3, delivered: 7 }, null)).to.equal(false);
    expect(isStalled({ waiting: 1, delivered: 7 }, { waiting: 1, delivered: 8 })).to.equal(false);
    expect(isStalled({ waiting: 3, delivered: 7 }, { waiting: 4, delivered: 7 })).to.equal(true);
  });
});
