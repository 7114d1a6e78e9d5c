import { expect } from "chai";
import { startLivenessProbe } from "../../lib/liveness-probe";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("liveness probe (readiness of a dependency)", () => {
  it("fails once the dependency stops answering and passes again on its first answer", async () => {
    let t = 0;
    let up = true;
    const probe = startLivenessProbe(() => (up ? Promise.resolve() : Promise.reject(new Error("connection refused"))), {
      intervalMs: 5,
      timeoutMs: 50,
      staleMs: 100,
      now: () => t,
    });
    try {
      expect(probe.check().ok).to.equal(true);
      up = false;
      await tick(30);
      t = 101; // the last success is now older than staleMs
      expect(probe.check()).to.deep.include({ ok: false });
      expect(probe.check().detail.lastError).to.equal("connection refused");
      up = true;
      await tick(30);
      expect(probe.check().ok).to.equal(true);
    } finally {
      probe.stop();
    }
  });
  it("counts a probe that never answers as a failure (bounded by its timeout)", async () => {
    let t = 0;
    const probe = startLivenessProbe(() => new Promise(() => undefined), {
      intervalMs: 5,
      timeoutMs: 10,
      staleMs: 100,
      now: () => t,
    });
    try {
      await tick(40);
      t = 500;
      expect(probe.check().ok).to.equal(false);
      expect(probe.check().detail.lastError).to.match(/no answer in 10 ms/);
    } finally {
      probe.stop();
    }
  });
});
