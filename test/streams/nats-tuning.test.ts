/**
 * The nats.js CPU fixes (nats/tuning.ts) are in effect and change nothing a caller can see:
 * publishes arrive complete and in order, requests answer, JetStream publishes ack, and a
 * request that times out still rejects.
 */
import { expect } from "chai";
import { applyNatsTuning } from "../../nats/tuning";
import { connectNats, type NatsHandles } from "../../nats";
import { NATS_URL, freshNamespace } from "../support/namespace";

describe("nats client tuning", () => {
  let h: NatsHandles;
  const ns = freshNamespace("tune");
  before(async () => {
    h = await connectNats(NATS_URL, `tuning-${ns}`);
  });
  after(async () => {
    await h.jsm.streams.delete(`${ns.toUpperCase()}_TUNE`).catch(() => undefined);
    await h.nc.close();
  });

  it("applies both fixes to this client version", () => {
    // false here means a client upgrade changed the internals: re-check nats/tuning.ts
    expect(applyNatsTuning()).to.deep.equal({ coalescedWrites: true, sharedCancelError: true });
  });

  it("delivers a burst of publishes complete and in order", async () => {
    const got: number[] = [];
    const sub = h.nc.subscribe(`${ns}.burst`, { max: 5000 });
    const done = (async () => {
      for await (const m of sub) got.push(Number(m.string()));
    })();
    for (let i = 0; i < 5000; i++) h.nc.publish(`${ns}.burst`, String(i));
    await h.nc.flush();
    await done;
    expect(got).to.have.length(5000);
    expect(got.every((v, i) => v === i)).to.equal(true);
  });

  it("answers requests and JetStream publishes, and a timed-out request still rejects", async () => {
    const sub = h.nc.subscribe(`${ns}.echo`, { callback: (_e, m) => void m.respond(m.data) });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => h.nc.request(`${ns}.echo`, String(i), { timeout: 5000 })),
    );
    expect(answers.map((m) => m.string())).to.deep.equal(Array.from({ length: 200 }, (_, i) => String(i)));
    sub.unsubscribe();

    await h.jsm.streams.add({ name: `${ns.toUpperCase()}_TUNE`, subjects: [`${ns}.js.>`] });
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => h.js.publish(`${ns}.js.x`, String(i))));
    expect(acks.map((a) => a.seq)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));

    h.nc.subscribe(`${ns}.silent`, { callback: () => undefined });
    let err: unknown;
    await h.nc.request(`${ns}.silent`, "x", { timeout: 100 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(Error);
  });
});
