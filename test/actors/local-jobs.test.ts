/**
 * Local jobs on the real NATS server (actors/local-jobs.ts): run on the owner right after the
 * state write that records them, their outcome journaled in the next write with no job or
 * result message; a retryable failure goes to the jobs stream; a new owner re-issues a local
 * job that was pending when the old one died.
 */
import { expect } from "chai";
import type { NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import type { Runtime } from "../../actors/runtime";
import { isJobResult, type ActorKind, type JobDefinition, type JobResult } from "../../actors/types";
import { RetryableError, TerminalError } from "../../lib/errors";
import { freshNamespace } from "../support/namespace";
import { inProcessRuntimes, type TestRuntime } from "../support/runtimes";
import { waitFor } from "../support/wait";

interface State {
  results: Array<{ id: string; ok: boolean; result?: unknown; error?: string; terminal?: boolean; attempts: number }>;
}

const kind: ActorKind<State, { mode: string } | JobResult> = {
  name: "ltask",
  initialState: () => ({ results: [] }),
  handle(state, msg) {
    if (isJobResult(msg.data)) return { state: { results: [...state.results, { ...msg.data.$job }] } };
    return {
      state,
      effects: [
        { type: "job", job: "ljob", data: { mode: msg.data.mode, key: msg.key }, id: `${msg.key}-1`, local: true },
      ],
    };
  },
};

const calls = new Map<string, number>();
/** While set, "hang" runs never answer (the owner dies first). */
let hang = true;

const job: JobDefinition<{ mode: string; key: string }, { value: string }> = {
  name: "ljob",
  concurrency: 4,
  timeoutMs: 20_000,
  backoff: { baseMs: 20, maxMs: 50 },
  breaker: { failures: 1000, openMs: 100 },
  async run(data, ctx) {
    const n = (calls.get(data.key) ?? 0) + 1;
    calls.set(data.key, n);
    if (data.mode === "fail2" && n <= 2) throw new RetryableError("down for a moment");
    if (data.mode === "refuse") throw new TerminalError("refused", "no such thing");
    if (data.mode === "hang" && hang)
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    return { value: `${data.key}:${n}:${ctx.id}` };
  },
};

describe("local jobs (in-process runtimes, real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("lj");
  const topo = topology(ns);
  const runtimes = inProcessRuntimes(ns, kind, job);
  const startRuntime = (nodeId: string): Promise<TestRuntime> => runtimes.start(nodeId);

  let a: TestRuntime;

  before(async () => {
    a = await startRuntime("l1");
    await waitFor("partitions owned", () => a.runtime.isReady());
  });

  after(() => runtimes.stopAll());

  const resultsOf = (runtime: Runtime, key: string): Promise<State["results"]> =>
    waitFor(
      `a result for ${key}`,
      async () => {
        const s = await runtime.getState<State>("ltask", key);
        return s && s.results.length > 0 ? s.results : null;
      },
      20_000,
    );

  /** Messages the jobs stream ever stored for `key`'s jobs (its work queue deletes acked ones). */
  async function jobMessages(h: NatsHandles, key: string): Promise<number> {
    const info = await h.jsm.streams.info(topo.jobs.stream, { subjects_filter: topo.jobs.subject("ljob", key) });
    return info.state.subjects?.[topo.jobs.subject("ljob", key)] ?? 0;
  }

  it("runs on the owner and journals its outcome in the next state write: no job message", async () => {
    const before = a.runtime.hostStats()["ltask"]!;
    await a.runtime.send("ltask", "k-ok", { mode: "ok" });
    const [r] = await resultsOf(a.runtime, "k-ok");
    expect(r).to.deep.include({ id: "k-ok-1", ok: true, result: { value: "k-ok:1:k-ok-1" }, attempts: 1 });
    expect(calls.get("k-ok")).to.equal(1);
    const after = a.runtime.hostStats()["ltask"]!;
    // two state writes (the request, then the outcome) for one mailbox message
    expect(after["writes"]! - before["writes"]!).to.equal(2);
    expect(after["handled"]! - before["handled"]!).to.equal(1);
    expect(a.runtime.jobStats()["ljob"]).to.deep.include({ localSucceeded: 1, succeeded: 0 });
  });

  it("reports a final refusal at once, from the one local run", async () => {
    await a.runtime.send("ltask", "k-refuse", { mode: "refuse" });
    const [r] = await resultsOf(a.runtime, "k-refuse");
    expect(r).to.deep.include({ ok: false, terminal: true, error: "no such thing", attempts: 1 });
    expect(calls.get("k-refuse")).to.equal(1);
  });

  it("sends a retryable failure to the jobs stream, whose worker retries it until it succeeds", async () => {
    await a.runtime.send("ltask", "k-fail2", { mode: "fail2" });
    const [r] = await resultsOf(a.runtime, "k-fail2");
    expect(r).to.deep.include({ id: "k-fail2-1", ok: true, result: { value: "k-fail2:3:k-fail2-1" } });
    expect(calls.get("k-fail2")).to.equal(3);
    expect(Number(a.runtime.jobStats()["ljob"]?.["localEscalated"])).to.be.greaterThan(0);
    expect(await jobMessages(a.h, "k-fail2")).to.equal(0); // acked and gone from the work queue
  });

  it("a new owner re-issues the local job that was pending when the owner died", async () => {
    await a.runtime.send("ltask", "k-hang", { mode: "hang" });
    await waitFor("the first call", () => calls.get("k-hang") === 1, 10_000, 10);
    // the owner dies mid-call: its connection goes, its leases expire, its message stays unacked
    await a.h.nc.close();
    hang = false;
    const b = await startRuntime("l2");
    const [r] = await resultsOf(b.runtime, "k-hang");
    expect(r).to.deep.include({ id: "k-hang-1", ok: true, result: { value: "k-hang:2:k-hang-1" } });
    expect(calls.get("k-hang")).to.equal(2);
    expect(b.runtime.hostStats()["ltask"]?.["localReissued"]).to.equal(1);
  });
});
