import { expect } from "chai";
import { startLivenessCheck } from "../../lib/liveness";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("liveness check (readiness of a dependency)", () => {
  it("fails once the dependency stops answering and passes again on its first answer", async () => {
    let t = 0;
    let up = true;
    const check = startLivenessCheck(() => (up ? Promise.resolve() : Promise.reject(new Error("connection refused"))), {
      intervalMs: 5,
      timeoutMs: 50,
      staleMs: 100,
      now: () => t,
    });
    try {
      expect(check.check().ok).to.equal(true);
      up = false;
      await tick(30);
      t = 101; // the last success is now older than staleMs
      expect(check.check()).to.deep.include({ ok: false });
      expect(check.check().detail.lastError).to.equal("connection refused");
      up = true;
      await tick(30);
      expect(check.check().ok).to.equal(true);
    } finally {
      check.stop();
    }
  });
  it("counts a ping that never answers as a failure (bounded by its timeout)", async () => {
    let t = 0;
    const check = startLivenessCheck(() => new Promise(() => undefined), {
      intervalMs: 5,
      timeoutMs: 10,
      staleMs: 100,
      now: () => t,
    });
    try {
      await tick(40);
      t = 500;
      expect(check.check().ok).to.equal(false);
      expect(check.check().detail.lastError).to.match(/no answer in 10 ms/);
    } finally {
      check.stop();
    }
  });
});
