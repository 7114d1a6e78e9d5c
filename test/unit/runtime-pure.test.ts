/** Pure pieces of the runtime: no broker, no server. */
import { expect } from "chai";
import { backoffDelay } from "../../actors/backoff";
import { CircuitBreaker } from "../../actors/breaker";
import { desiredOwner } from "../../actors/assignment";
import { resolveEffects } from "../../actors/effects";
import { LatencyHistogram } from "../../lib/histogram";
import { foldDigest, probeKind, type ProbeState } from "../../services/probe/probe.actor";
import { partitionOf, topology, isValidKey } from "../../streams/subjects";
import { describePartitions, partitionsFromDescription, runtimeDeclarations } from "../../streams/runtime.stream";
import { TerminalError } from "../../lib/errors";
import type { ActorMessage } from "../../actors/types";

describe("runtime, pure parts", () => {
  describe("partitionOf", () => {
    it("is FNV-1a 32 of the UTF-8 key modulo the count (documented for producers)", () => {
      // FNV-1a("a") = 0xe40c292c
      expect(partitionOf("a", 2 ** 31)).to.equal(0xe40c292c % 2 ** 31);
      expect(partitionOf("a", 32)).to.equal(0xe40c292c % 32);
      expect(partitionOf("", 7)).to.equal(0x811c9dc5 % 7);
    });
    it("spreads keys over partitions", () => {
      const counts = new Array<number>(32).fill(0);
      for (let i = 0; i < 32_000; i++) counts[partitionOf(`key-${i}`, 32)]!++;
      expect(Math.min(...counts)).to.be.above(800);
      expect(Math.max(...counts)).to.be.below(1200);
    });
  });

  describe("keys and names", () => {
    it("accepts one-token keys and refuses subject syntax", () => {
      expect(isValidKey("abc-DEF_09=")).to.equal(true);
      for (const bad of ["", "a.b", "a*", "a>", "a b", "ä", "x".repeat(201)])
        expect(isValidKey(bad), bad).to.equal(false);
    });
    it("names everything inside the namespace", () => {
      const t = topology("ns1");
      expect(t.actors.subject("receipt", 3, "r1")).to.equal("ns1.actor.receipt.3.r1");
      expect(t.actors.stream("receipt")).to.equal("NS1_ACTOR_RECEIPT");
      expect(t.actors.stateBucket("receipt")).to.equal("ns1_state_receipt");
      expect(t.jobs.subject("taxreg", "r1")).to.equal("ns1.job.taxreg.r1");
      expect(t.dlq.actorSubject("receipt", "r1")).to.equal("ns1.dlq.actor.receipt.r1");
    });
  });

  describe("backoffDelay", () => {
    it("doubles per attempt within [d/2, d] and stops at the maximum", () => {
      expect(backoffDelay(1, 100, 10_000, () => 0)).to.equal(50);
      expect(backoffDelay(1, 100, 10_000, () => 1)).to.equal(100);
      expect(backoffDelay(4, 100, 10_000, () => 1)).to.equal(800);
      expect(backoffDelay(30, 100, 10_000, () => 1)).to.equal(10_000);
      expect(backoffDelay(30, 100, 10_000, () => 0)).to.equal(5_000);
    });
  });

  describe("CircuitBreaker", () => {
    it("opens after N failures, refuses while open, allows one trial, closes on success", () => {
      let now = 0;
      const b = new CircuitBreaker(3, 1000, () => now);
      expect(b.acquire()).to.equal(0);
      b.failure();
      b.failure();
      expect(b.state).to.equal("closed");
      b.failure();
      expect(b.state).to.equal("open");
      expect(b.acquire()).to.equal(1000);
      now = 400;
      expect(b.acquire()).to.equal(600);
      now = 1000;
      expect(b.state).to.equal("half-open");
      expect(b.acquire()).to.equal(0);
      expect(b.acquire()).to.be.above(0); // only one trial at a time
      b.success();
      expect(b.state).to.equal("closed");
    });
    it("re-opens when the trial fails", () => {
      let now = 0;
      const b = new CircuitBreaker(1, 1000, () => now);
      b.failure();
      now = 1500;
      expect(b.acquire()).to.equal(0);
      b.failure();
      expect(b.state).to.equal("open");
      expect(b.acquire()).to.equal(1000);
    });
  });

  describe("desiredOwner (rendezvous hashing)", () => {
    it("agrees across callers and moves only the partitions of a node that leaves", () => {
      const three = ["n1", "n2", "n3"];
      const before = Array.from({ length: 64 }, (_, p) => desiredOwner("k", p, three));
      expect(Array.from({ length: 64 }, (_, p) => desiredOwner("k", p, [...three].reverse()))).to.deep.equal(before);
      const after = Array.from({ length: 64 }, (_, p) => desiredOwner("k", p, ["n1", "n3"]));
      for (let p = 0; p < 64; p++) if (before[p] !== "n2") expect(after[p]).to.equal(before[p]);
      for (const n of three) expect(before.filter((o) => o === n).length, n).to.be.above(8);
      expect(desiredOwner("k", 0, [])).to.equal(undefined);
    });
  });

  describe("resolveEffects", () => {
    const ctx = {
      topology: topology("ns"),
      kind: "receipt",
      key: "r1",
      seq: 42,
      now: 1000,
      partitionsOf: () => 8,
      jobDeadlineMs: () => 5000,
    };
    it("gives every effect a deterministic idempotency key and an address", () => {
      const r = resolveEffects(
        [
          { type: "send", kind: "probe", key: "p1", data: { n: 1 } },
          { type: "job", job: "taxreg", data: { a: 1 } },
          { type: "publish", subject: "ns.x.y", data: 1, id: "custom" },
          { type: "emit", event: "receipt.accepted", payload: { id: "r1" } },
        ],
        ctx,
      );
      expect(r[0]).to.deep.equal({
        t: "pub",
        subject: `ns.actor.probe.${partitionOf("p1", 8)}.p1`,
        id: "receipt:r1:42:0",
        data: { n: 1 },
      });
      expect(r[1]).to.deep.equal({
        t: "pub",
        subject: "ns.job.taxreg.r1",
        id: "receipt:r1:42:1",
        data: {
          id: "receipt:r1:42:1",
          job: "taxreg",
          data: { a: 1 },
          createdAt: 1000,
          deadline: 6000,
          replyTo: { kind: "receipt", key: "r1" },
        },
      });
      expect(r[2]).to.deep.equal({ t: "pub", subject: "ns.x.y", id: "custom", data: 1 });
      expect(r[3]).to.deep.equal({ t: "emit", event: "receipt.accepted", payload: { id: "r1" } });
      expect(resolveEffects(undefined, ctx)).to.deep.equal([]);
    });
    it("keeps a notify as a core NATS publish (no id, no stream)", () => {
      const r = resolveEffects([{ type: "notify", subject: "ns.answers.n1", data: { id: "r1" } }], ctx);
      expect(r).to.deep.equal([{ t: "notify", subject: "ns.answers.n1", data: { id: "r1" } }]);
    });
  });

  describe("LatencyHistogram", () => {
    it("answers percentiles within a bucket's width", () => {
      const h = new LatencyHistogram();
      for (let i = 1; i <= 1000; i++) h.record(i);
      expect(h.percentile(0.5)).to.be.within(500, 560);
      expect(h.percentile(0.99)).to.be.within(990, 1100);
      h.reset();
      expect(h.percentile(0.5)).to.equal(0);
    });
  });

  describe("runtime declarations", () => {
    it("records the partition count in the mailbox stream and declares every piece", () => {
      expect(partitionsFromDescription(describePartitions(24))).to.equal(24);
      expect(partitionsFromDescription("other")).to.equal(undefined);
      const d = runtimeDeclarations(
        topology("ns"),
        [{ name: "probe", partitions: 8 }],
        [{ name: "taxreg", ackWaitMs: 30_000, maxAckPending: 100 }],
        { replicas: 1, duplicateWindowMs: 120_000, leaseTtlMs: 5000 },
      );
      const names = d.map((x) =>
        x.type === "stream" ? x.config.name : x.type === "consumer" ? `${x.stream}/${x.config.durable_name}` : x.bucket,
      );
      expect(names).to.deep.equal([
        "NS_ACTOR_PROBE",
        "ns_state_probe",
        "NS_JOBS",
        "NS_JOBS/job-taxreg",
        "NS_DLQ",
        "ns_leases",
      ]);
    });
  });

  describe("probe actor", () => {
    const msg = (n: number, extra: object = {}): ActorMessage<{ n: number }> => ({
      key: "k",
      seq: n + 1,
      data: { n, ...extra },
      headers: {},
      publishedAt: 5,
      deliveryCount: 1,
    });
    it("folds messages in order and counts order violations", () => {
      let s: ProbeState = probeKind.initialState("k");
      for (const n of [0, 1, 2]) s = probeKind.handle(s, msg(n), { kind: "probe", key: "k", now: 0 }).state;
      expect(s).to.deep.equal({
        count: 3,
        last: 2,
        violations: 0,
        digest: foldDigest(foldDigest(foldDigest(0, 0), 1), 2),
        lastPublishedAt: 5,
      });
      s = probeKind.handle(s, msg(7), { kind: "probe", key: "k", now: 0 }).state;
      expect(s.violations).to.equal(1);
    });
    it("throws on poison and refuses malformed messages for good", () => {
      const s = probeKind.initialState("k");
      expect(() => probeKind.handle(s, msg(0, { poison: true }), { kind: "probe", key: "k", now: 0 })).to.throw(
        /poison/,
      );
      const bad = { ...msg(0), data: { n: "x" } } as unknown as ActorMessage<{ n: number }>;
      expect(() => probeKind.handle(s, bad, { kind: "probe", key: "k", now: 0 })).to.throw(TerminalError);
    });
  });
});
