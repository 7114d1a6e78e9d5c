/**
 * Typed references to kinds and jobs (actors/refs.ts). The `@ts-expect-error` lines are the
 * type-level half: `npm run typecheck` fails if any of them stops being an error, that is, if
 * a wrong message shape for a kind or job would compile. The runtime half checks the effects and
 * the result guard that the references build.
 */
import { expect } from "chai";
import { defineJob, defineKind, type ActorClient } from "../../actors/refs";
import type { ActorRuntime, JobResult } from "../../actors/types";
import { probe, probeKind } from "../../services/probe/probe.actor";

interface Counter {
  readonly n: number;
}
type CounterMessage = { readonly add: number } | { readonly reset: true };

const counter = defineKind<Counter, CounterMessage>("counter");
const charge = defineJob<{ readonly amount: number; readonly currency: string }, { readonly chargeId: string }>(
  "charge",
);

/** Type-level cases only: never called. */
export function typeCases(runtime: ActorRuntime): void {
  counter.send("k", { add: 1 });
  counter.send("k", { reset: true });
  // @ts-expect-error a message of another shape
  counter.send("k", { add: "1" });
  // @ts-expect-error a field no message has
  counter.send("k", { sub: 1 });
  // @ts-expect-error a missing message
  counter.send("k");

  const client: ActorClient<Counter, CounterMessage> = counter.on(runtime);
  void client.send("k", { add: 2 });
  // @ts-expect-error sends through the runtime are typed too
  void client.send("k", { add: null });
  void client.state("k").then((s) => {
    // @ts-expect-error state is Counter | undefined: no unchecked access
    const n: number = s.n;
    return n;
  });
  const probes = probe.on(runtime);
  void probes.state("k").then((s) => {
    // @ts-expect-error the probe's state has no `total`
    return s?.total;
  });

  charge.effect({ amount: 100, currency: "EUR" });
  // @ts-expect-error wrong job data
  charge.effect({ amount: "100", currency: "EUR" });
  // @ts-expect-error missing job data field
  charge.effect({ amount: 100 });
  charge.implement(async (d) => ({ chargeId: `c-${d.amount}` }));
  // @ts-expect-error the job's code must resolve to its result type
  charge.implement(async () => ({ id: 1 }));

  counter.implement({
    initialState: () => ({ n: 0 }),
    handle: (s, m) => ({ state: { n: "add" in m.data ? s.n + m.data.add : 0 } }),
  });
  counter.implement({
    initialState: () => ({ n: 0 }),
    // @ts-expect-error the handler must return the kind's state
    handle: () => ({ state: { count: 1 } }),
  });
}

describe("typed kind and job references", function () {
  it("build send and job effects with the definition's name", function () {
    expect(counter.send("k1", { add: 3 }, { id: "x" })).to.deep.equal({
      type: "send",
      kind: "counter",
      key: "k1",
      data: { add: 3 },
      id: "x",
    });
    expect(charge.effect({ amount: 1, currency: "EUR" }, { deadlineMs: 5 })).to.deep.equal({
      type: "job",
      job: "charge",
      data: { amount: 1, currency: "EUR" },
      deadlineMs: 5,
    });
  });

  it("recognise only their own job's results", function () {
    const mine: JobResult<{ chargeId: string }> = {
      $job: { id: "j1", job: "charge", ok: true, result: { chargeId: "c1" }, attempts: 1 },
    };
    const other = { $job: { id: "j2", job: "refund", ok: true, result: {}, attempts: 1 } };
    expect(charge.isResult(mine)).to.equal(true);
    expect(charge.isResult(other)).to.equal(false);
    expect(charge.isResult({ add: 1 })).to.equal(false);
    expect(charge.isResult(null)).to.equal(false);
    const m: unknown = mine;
    if (charge.isResult(m)) expect(m.$job.result?.chargeId).to.equal("c1");
  });

  it("give the implemented kind the reference's name", function () {
    expect(probeKind.name).to.equal(probe.name);
    const r = probeKind.handle(
      probeKind.initialState("a"),
      { key: "a", seq: 1, data: { n: 0, forwardTo: "b" }, headers: {}, publishedAt: 1, deliveryCount: 1 },
      { kind: "probe", key: "a", now: 1 },
    );
    expect(r.effects).to.deep.equal([{ type: "send", kind: "probe", key: "b", data: { n: 0, from: "a" } }]);
  });
});
