/**
 * nats/tuning.ts: it fits the installed client (the pinned versions, and the code its two fixes
 * replace is there), it refuses loudly (throws NatsTuningError, patching nothing) when the
 * client is another version or the code is gone, and with the fixes in effect nothing a caller
 * can see changes: publishes arrive complete and in order, requests answer, JetStream publishes
 * ack, and a request that times out still rejects. That the fixes save CPU is measured by
 * `npm run bench:libs`, not here.
 */
import { expect } from "chai";
import {
  NATS_CLIENT_PINS,
  NatsTuningError,
  applyNatsTuning,
  natsClientTarget,
  tuneNatsClient,
  tuningProblems,
  type TuningTarget,
} from "../../nats/tuning";
import { connectNats, type NatsHandles } from "../../nats";
import { NATS_URL, freshNamespace } from "../support/namespace";

/** A stand-in of the 3.4.0 client's two prototypes, with the code the fixes look for. */
function fakeClient(): TuningTarget & { protocol: Record<string, unknown>; request: Record<string, unknown> } {
  // The compiled 3.4.0 source, in the shape the checks look for (a function's text).
  const sendCommand = new Function(
    "cmd",
    "const len = this.outbound.length(); this.outbound.fill(cmd); if (len === 0) { queueMicrotask(() => {\n this.flushPending();\n }); }",
  );
  const cancel = new Function(
    "err",
    'this.mux.cancel(this); this.deferred.reject(err ? err : new errors_1.RequestError("cancelled"));',
  );
  return {
    versions: { ...NATS_CLIENT_PINS },
    sameCore: true,
    protocol: { sendCommand },
    request: { cancel },
  };
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): NatsTuningError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(NatsTuningError);
    return err as NatsTuningError;
  }
  expect.fail("expected NatsTuningError");
}

describe("nats client tuning", () => {
  describe("pin and checks", () => {
    it("fits the installed client: the pinned versions and both patched functions are found", () => {
      // A failure here means a client upgrade: re-check nats/tuning.ts (its module doc says how).
      expect(tuningProblems(natsClientTarget())).to.deep.equal([]);
      expect(applyNatsTuning()).to.deep.equal({ coalescedWrites: true, sharedCancelError: true });
    });

    it("pins the versions package-lock.json holds", async () => {
      const { readFile } = await import("node:fs/promises");
      const lock = JSON.parse(await readFile(new URL("../../package-lock.json", `file://${__filename}`), "utf8")) as {
        packages: Record<string, { version?: string }>;
      };
      for (const [name, version] of Object.entries(NATS_CLIENT_PINS))
        expect(lock.packages[`node_modules/${name}`]?.version, name).to.equal(version);
    });

    it("applies both fixes to a client in the pinned shape", () => {
      const fake = fakeClient();
      const before = { send: fake.protocol["sendCommand"], cancel: fake.request["cancel"] };
      expect(tuneNatsClient(fake)).to.deep.equal({ coalescedWrites: true, sharedCancelError: true });
      expect(fake.protocol["sendCommand"]).to.not.equal(before.send);
      expect(fake.request["cancel"]).to.not.equal(before.cancel);
    });

    it("throws, patching nothing, when the client is another version", () => {
      const fake = { ...fakeClient(), versions: { ...NATS_CLIENT_PINS, "@nats-io/nats-core": "3.5.0" } };
      const send = fake.protocol["sendCommand"];
      const err = thrown(() => tuneNatsClient(fake));
      expect(err.code).to.equal("NATS_TUNING_STALE");
      expect(err.message).to.match(/@nats-io\/nats-core is 3\.5\.0, pinned 3\.4\.0/);
      expect(fake.protocol["sendCommand"]).to.equal(send);
    });

    it("throws when the microtask flush that fix 1 replaces is no longer in sendCommand", () => {
      const fake = fakeClient();
      fake.protocol["sendCommand"] = function sendCommand(): void {
        // a future client: flushes some other way
      };
      const cancel = fake.request["cancel"];
      expect(thrown(() => tuneNatsClient(fake)).problems).to.deep.equal([
        "ProtocolHandler.sendCommand no longer flushes in a queueMicrotask",
      ]);
      expect(fake.request["cancel"]).to.equal(cancel);
    });

    it("throws when the Error that fix 2 removes is no longer built in RequestOne.cancel", () => {
      const fake = fakeClient();
      delete fake.request["cancel"];
      expect(thrown(() => tuneNatsClient(fake)).problems).to.deep.equal([
        'RequestOne.cancel no longer builds a RequestError("cancelled")',
      ]);
    });

    it("throws when the connecting package does not use the patched core, or a package is missing", () => {
      const fake = {
        ...fakeClient(),
        sameCore: false,
        versions: { ...NATS_CLIENT_PINS, "@nats-io/transport-node": undefined },
      };
      expect(thrown(() => tuneNatsClient(fake)).problems).to.deep.equal([
        "@nats-io/transport-node is not found, pinned 3.4.0",
        "@nats-io/transport-node does not use the @nats-io/nats-core patched here",
      ]);
    });
  });

  describe("behaviour with the fixes in effect", () => {
    let h: NatsHandles;
    const ns = freshNamespace("tune");
    before(async () => {
      h = await connectNats(NATS_URL, `tuning-${ns}`);
    });
    after(async () => {
      await h.jsm.streams.delete(`${ns.toUpperCase()}_TUNE`).catch(() => undefined);
      await h.nc.close();
    });

    it("delivers a burst of publishes complete and in order", async () => {
      expect(applyNatsTuning()).to.deep.equal({ coalescedWrites: true, sharedCancelError: true });
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
});
