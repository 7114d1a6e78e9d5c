/**
 * Admission control's parts without a node: the event loop delay gauge (against a loop this
 * test blocks), the gate's hysteresis and the refusal policy.
 */
import { expect } from "chai";
import { EventLoopLag, LagGate } from "../../lib/event-loop-lag";
import { admissionRefusal } from "../../services/receipts/admission";
import { AppError } from "../../lib/errors";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const block = (ms: number): void => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: the loop cannot run anything else
  }
};

describe("admission control", () => {
  describe("EventLoopLag", () => {
    it("reads the delay of a blocked loop in the window after the block, and 0 before any window", async () => {
      const lag = new EventLoopLag(100);
      expect(lag.ms).to.equal(0);
      lag.start();
      try {
        await sleep(150);
        const windows = lag.windows;
        block(300);
        await sleep(20);
        expect(lag.windows).to.be.greaterThan(windows);
        expect(lag.ms).to.be.at.least(200);
        await sleep(150);
        expect(lag.previousMs).to.be.at.least(200);
        expect(lag.ms).to.be.below(200);
      } finally {
        lag.stop();
      }
      expect(lag.ms).to.equal(0);
    });
  });

  describe("LagGate", () => {
    it("closes after two windows in a row above the limit and opens again only under half of it, judging each window once", () => {
      const lag = { ms: 0, previousMs: 0, windows: 0 };
      const gate = new LagGate(lag, 50);
      const at = (ms: number): number | undefined => {
        lag.previousMs = lag.ms;
        lag.ms = ms;
        lag.windows++;
        return gate.check();
      };
      expect(at(10)).to.equal(undefined);
      expect(at(80)).to.equal(undefined); // one slow window: a pause, not overload
      expect(at(10)).to.equal(undefined);
      expect(at(60)).to.equal(undefined);
      expect(at(80)).to.equal(80);
      expect(at(40)).to.equal(40); // still overloaded: not yet under 25
      // within one window the verdict holds, whatever the reading
      lag.ms = 5;
      expect(gate.check()).to.equal(5);
      expect(at(24)).to.equal(undefined);
      expect(at(49)).to.equal(undefined);
    });
  });

  describe("admissionRefusal", () => {
    const limits = { maxLagMs: 50, maxBacklog: 100 };
    it("accepts while neither signal is over its limit", () => {
      expect(admissionRefusal({ overloadedLagMs: undefined, backlog: 100 }, limits)).to.equal(undefined);
    });
    it("refuses an overloaded node with 503 and Retry-After 1, naming the delay", () => {
      const e = admissionRefusal({ overloadedLagMs: 73.4, backlog: 0 }, limits);
      expect(e).to.be.instanceOf(AppError);
      expect(e!.code).to.equal("UNAVAILABLE");
      expect(e!.headers).to.deep.equal({ "Retry-After": "1" });
      expect(e!.message).to.match(/event loop delay 73 ms, limit 50 ms/);
    });
    it("refuses over the backlog limit with Retry-After 5", () => {
      const e = admissionRefusal({ overloadedLagMs: undefined, backlog: 101 }, limits);
      expect(e!.headers).to.deep.equal({ "Retry-After": "5" });
      expect(e!.message).to.match(/101 messages and registrations waiting, limit 100/);
    });
    it("ignores a signal whose limit is 0", () => {
      expect(admissionRefusal({ overloadedLagMs: 500, backlog: 10 ** 9 }, { maxLagMs: 0, maxBacklog: 0 })).to.equal(
        undefined,
      );
    });
  });
});
