/**
 * Jobs and effects on the real NATS server, with one runtime in-process: retries with backoff
 * until success, final refusals, deadlines, the breaker, dead letters of jobs without a reply
 * address, and redelivery that re-emits effects without a second state change.
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import { provision } from "../../streams/provision";
import { Runtime } from "../../actors/runtime";
import { isJobResult, type ActorKind, type JobDefinition, type JobResult } from "../../actors/types";
import { RetryableError, TerminalError } from "../../lib/errors";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

interface TaskState {
  requested: string[];
  results: Array<{ job: string; ok: boolean; result?: unknown; error?: string; terminal?: boolean; attempts: number }>;
}

type TaskMsg = { run: string; mode: string; replyTo?: null } | JobResult;

const taskKind: ActorKind<TaskState, TaskMsg> = {
  name: "task",
  initialState: () => ({ requested: [], results: [] }),
  handle(state, msg) {
    if (isJobResult(msg.data)) {
      const r = msg.data.$job;
      return { state: { ...state, results: [...state.results, { ...r }] } };
    }
    const m = msg.data;
    return {
      state: { ...state, requested: [...state.requested, m.mode] },
      effects: [
        {
          type: "job",
          job: m.run,
          data: { mode: m.mode, key: msg.key },
          deadlineMs: m.mode === "never" ? 1500 : 60_000,
          ...(m.replyTo === null ? { replyTo: null } : {}),
        },
      ],
    };
  },
};

const calls = new Map<string, number>();

const flakyJob: JobDefinition<{ mode: string; key: string }, { value: string }> = {
  name: "flaky",
  concurrency: 8,
  timeoutMs: 2000,
  backoff: { baseMs: 20, maxMs: 100 },
  breaker: { failures: 1000, openMs: 100 },
  async run(data) {
    const n = (calls.get(data.key) ?? 0) + 1;
    calls.set(data.key, n);
    if (data.mode === "ok") return { value: `done-${data.key}` };
    if (data.mode === "fail3" && n <= 3) throw new RetryableError("temporarily down");
    if (data.mode === "fail3") return { value: `done-after-${n}` };
    if (data.mode === "refuse") throw new TerminalError("refused", "bad receipt");
    if (data.mode === "never") throw new Error("still down");
    throw new TerminalError(`unknown mode ${data.mode}`);
  },
};

const breakerJob: JobDefinition<{ mode: string; key: string }, string> = {
  name: "guarded",
  concurrency: 1,
  backoff: { baseMs: 10, maxMs: 20 },
  breaker: { failures: 2, openMs: 60_000 },
  async run(data) {
    calls.set(data.key, (calls.get(data.key) ?? 0) + 1);
    throw new Error("service down");
  },
};

describe("jobs and effects (one in-process runtime, real NATS)", function () {
  this.timeout(60_000);
  let ns: string;
  let h: NatsHandles;
  let runtime: Runtime;

  before(async () => {
    ns = freshNamespace();
    h = await connectNats(NATS_URL, "jobs-test");
    runtime = new Runtime(
      h,
      topology(ns),
      {
        kinds: [taskKind],
        hostedKinds: new Set(["task"]),
        jobs: [flakyJob, breakerJob],
        hostedJobs: new Set(["flaky", "guarded"]),
      },
      { nodeId: "j1", partitions: 4, leaseTtlMs: 3000, idleMs: 60_000, maxResident: 1000, replicas: 1 },
      createLogger({ level: "silent" }),
    );
    await provision(h, runtime.declarations());
    await runtime.start();
    await waitFor("partitions owned", () => runtime.isReady());
  });

  after(async () => {
    await runtime.stop();
    await h.nc.close();
    await cleanupNamespace(ns);
  });

  async function resultsOf(key: string, count: number): Promise<TaskState["results"]> {
    return waitFor(
      `${count} job result(s) for ${key}`,
      async () => {
        const s = await runtime.getState<TaskState>("task", key);
        return s && s.results.length >= count ? s.results : null;
      },
      20_000,
    );
  }

  it("returns a job's result to the actor that asked for it", async () => {
    await runtime.send("task", "t-ok", { run: "flaky", mode: "ok" });
    const [r] = await resultsOf("t-ok", 1);
    expect(r).to.deep.include({ job: "flaky", ok: true, result: { value: "done-t-ok" }, attempts: 1 });
  });

  it("retries a failing job with backoff until it succeeds", async () => {
    await runtime.send("task", "t-fail3", { run: "flaky", mode: "fail3" });
    const [r] = await resultsOf("t-fail3", 1);
    expect(r).to.deep.include({ ok: true, result: { value: "done-after-4" }, attempts: 4 });
    expect(calls.get("t-fail3")).to.equal(4);
  });

  it("reports a final refusal at once, without retrying", async () => {
    await runtime.send("task", "t-refuse", { run: "flaky", mode: "refuse" });
    const [r] = await resultsOf("t-refuse", 1);
    expect(r).to.deep.include({ ok: false, terminal: true, error: "bad receipt", attempts: 1 });
    expect(calls.get("t-refuse")).to.equal(1);
  });

  it("gives up at the deadline and says so", async () => {
    await runtime.send("task", "t-never", { run: "flaky", mode: "never" });
    const [r] = await resultsOf("t-never", 1);
    expect(r?.ok).to.equal(false);
    expect(r?.terminal).to.equal(false);
    expect(r?.error).to.match(/deadline exceeded/);
    expect(calls.get("t-never")).to.be.greaterThan(2);
  });

  it("dead-letters a failed job that has no reply address", async () => {
    await runtime.send("task", "t-orphan", { run: "flaky", mode: "refuse", replyTo: null });
    const entry = await waitFor(
      "the job's dead letter",
      async () => (await runtime.dlqList({ filter: `${ns}.dlq.job.flaky.t-orphan` }))[0] ?? null,
      20_000,
    );
    expect(entry.error).to.equal("bad receipt");
    expect(entry.originalSubject).to.equal(`${ns}.job.flaky.t-orphan`);
  });

  it("stops calling a failing service once its breaker opens", async () => {
    for (const k of ["b1", "b2", "b3", "b4"]) await runtime.send("task", k, { run: "guarded", mode: "x" });
    await waitFor("breaker open", () => runtime.jobStats()["guarded"]?.breaker === "open");
    // The next job is held (not called, not nak'ed) while the breaker is open.
    await waitFor("a held job", () => Number(runtime.jobStats()["guarded"]?.["shortCircuited"] ?? 0) >= 1, 10_000);
    const total = ["b1", "b2", "b3", "b4"].reduce((s, k) => s + (calls.get(k) ?? 0), 0);
    expect(total).to.equal(2);
  });

  it("absorbs a duplicate send with the same id (Nats-Msg-Id)", async () => {
    const a = await runtime.send("task", "t-dup", { run: "flaky", mode: "ok" }, { id: "same-id" });
    const b = await runtime.send("task", "t-dup", { run: "flaky", mode: "ok" }, { id: "same-id" });
    expect(b.duplicate).to.equal(true);
    expect(b.seq).to.equal(a.seq);
    await resultsOf("t-dup", 1);
    const s = await runtime.getState<TaskState>("task", "t-dup");
    expect(s?.requested).to.deep.equal(["ok"]);
  });

  it("takes jobs again after its consumer vanished (a meta-leader change, a cluster restart)", async () => {
    // Before, the worker logged "job consumer failed" once and never took a job again.
    const stream = topology(ns).jobs.stream;
    await h.jsm.consumers.delete(stream, topology(ns).jobs.consumer("flaky"));
    await runtime.send("task", "t-after-loss", { run: "flaky", mode: "ok" });
    const [r] = await waitFor(
      "the job's result after the consumer was lost",
      async () => {
        const s = await runtime.getState<TaskState>("task", "t-after-loss");
        return s && s.results.length >= 1 ? s.results : null;
      },
      45_000,
      250,
    );
    expect(r).to.deep.include({ job: "flaky", ok: true, result: { value: "done-t-after-loss" } });
    expect(runtime.jobStats()["flaky"]?.["reopened"]).to.be.at.least(1);
    const info = await h.jsm.consumers.info(stream, topology(ns).jobs.consumer("flaky"));
    expect(info.config.filter_subject).to.equal(topology(ns).jobs.filter("flaky"));
  }).timeout(60_000);
});
