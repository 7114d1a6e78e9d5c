/**
 * Chained local jobs (ActorKind.chainLocalJobs) on the real NATS server: an outcome that only
 * asks for the next local job starts it from the state in memory, with no state write, and the
 * write that ends the chain journals every link; a new owner after a crash mid-chain re-issues
 * the job of the last write and the chain runs again from there.
 */
import { expect } from "chai";
import type { Runtime } from "../../actors/runtime";
import { isJobResult, type ActorKind, type JobDefinition, type JobResult } from "../../actors/types";
import { freshNamespace } from "../support/namespace";
import { inProcessRuntimes, type TestRuntime } from "../support/runtimes";
import { waitFor } from "../support/wait";

interface State {
  /** Results of the steps, in the order they were folded. */
  steps: number[];
  done: boolean;
}

const LINKS = 3;

const kind: ActorKind<State, { go: true } | JobResult<{ n: number }>> = {
  name: "lchain",
  chainLocalJobs: true,
  initialState: () => ({ steps: [], done: false }),
  handle(state, msg) {
    const step = (n: number) => ({
      type: "job" as const,
      job: "lstep",
      data: { key: msg.key, n },
      id: `${msg.key}-${n}`,
      local: true,
    });
    if (!isJobResult(msg.data)) return { state, effects: state.steps.length === 0 ? [step(1)] : [] };
    const r = msg.data.$job.result as { n: number };
    const steps = [...state.steps, r.n];
    if (r.n < LINKS) return { state: { ...state, steps }, effects: [step(r.n + 1)] };
    return { state: { steps, done: true } };
  },
};

const calls = new Map<string, number>();
/** While set, step 2 of "k-crash" never answers (its owner dies first). */
let hang = true;

const job: JobDefinition<{ key: string; n: number }, { n: number }> = {
  name: "lstep",
  concurrency: 4,
  timeoutMs: 20_000,
  backoff: { baseMs: 20, maxMs: 50 },
  breaker: { failures: 1000, openMs: 100 },
  async run(data, ctx) {
    const k = `${data.key}/${data.n}`;
    calls.set(k, (calls.get(k) ?? 0) + 1);
    if (data.key === "k-crash" && data.n === 2 && hang)
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    return { n: data.n };
  },
};

describe("chained local jobs (in-process runtimes, real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("lc");
  const runtimes = inProcessRuntimes(ns, kind, job);
  const startRuntime = (nodeId: string): Promise<TestRuntime> => runtimes.start(nodeId);

  let a: TestRuntime;

  before(async () => {
    a = await startRuntime("c1");
    await waitFor("partitions owned", () => a.runtime.isReady());
  });

  after(() => runtimes.stopAll());

  const finished = (runtime: Runtime, key: string): Promise<State> =>
    waitFor(
      `the chain of ${key} done`,
      async () => {
        const s = await runtime.getState<State>("lchain", key);
        return s?.done ? s : null;
      },
      20_000,
    );

  it("runs the links one after the other and writes the state twice: the request and the chain's end", async () => {
    const before = a.runtime.hostStats()["lchain"]!;
    await a.runtime.send("lchain", "k-ok", { go: true });
    const s = await finished(a.runtime, "k-ok");
    expect(s.steps).to.deep.equal([1, 2, 3]);
    for (let n = 1; n <= LINKS; n++) expect(calls.get(`k-ok/${n}`)).to.equal(1);
    const after = a.runtime.hostStats()["lchain"]!;
    expect(after["writes"]! - before["writes"]!).to.equal(2);
    expect(after["chained"]! - before["chained"]!).to.equal(LINKS - 1);
    expect(after["handled"]! - before["handled"]!).to.equal(1);
  });

  it("a new owner after a crash mid-chain re-issues the job of the last write and finishes the chain", async () => {
    await a.runtime.send("lchain", "k-crash", { go: true });
    await waitFor("step 2 running", () => calls.get("k-crash/2") === 1, 10_000, 10);
    // only the request was written (its job: step 1); step 1's outcome lives in memory only
    const stored = await a.runtime.getState<State>("lchain", "k-crash");
    expect(stored?.steps).to.deep.equal([]);
    await a.h.nc.close();
    hang = false;
    const b = await startRuntime("c2");
    const s = await finished(b.runtime, "k-crash");
    expect(s.steps).to.deep.equal([1, 2, 3]);
    expect(calls.get("k-crash/1")).to.equal(2); // re-issued: the job is idempotent by its id
    expect(calls.get("k-crash/3")).to.equal(1);
    expect(b.runtime.hostStats()["lchain"]?.["localReissued"]).to.equal(1);
  });
});
