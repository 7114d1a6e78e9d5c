/**
 * The fair scheduler, pure: no broker, no server, no clock. The fairness property is checked
 * step by step on the grant sequence, and end to end in virtual time with a noisy tenant at
 * 20 times the rate of nine quiet ones.
 */
import { expect } from "chai";
import { FairScheduler } from "../../services/tenant-events/scheduler";

describe("events: fair scheduler (pure)", () => {
  it("gives every backlogged tenant the same share, turn by turn (within one quantum)", () => {
    const s = new FairScheduler({ quantum: 50, maxBatch: 200 });
    const served = new Map<string, number>();
    s.add("noisy", 20_000);
    for (let i = 0; i < 9; i++) s.add(`q${i}`, 1000);
    for (let step = 0; step < 150; step++) {
      const g = s.next()!;
      expect(g, `grant at step ${step}`).to.not.equal(undefined);
      expect(g.max).to.be.at.most(50);
      served.set(g.tenant, (served.get(g.tenant) ?? 0) + g.max);
      s.complete(g.tenant, g.max);
      const values = [...served.values()];
      if (served.size === 10)
        expect(Math.max(...values) - Math.min(...values), `spread after ${step + 1} grants`).to.be.at.most(50);
    }
    expect(served.get("noisy")).to.equal(served.get("q0"));
  });

  it("a tenant that becomes ready is served within one turn of the others", () => {
    const s = new FairScheduler({ quantum: 10, maxBatch: 100 });
    s.add("noisy", 1_000_000);
    for (let i = 0; i < 5; i++) s.add(`q${i}`, 5);
    // run a while, then a new tenant arrives
    for (let i = 0; i < 7; i++) {
      const g = s.next()!;
      s.complete(g.tenant, g.max);
    }
    s.add("late", 3);
    const active = s.activeTenants().length;
    let waited = 0;
    for (;;) {
      const g = s.next()!;
      s.complete(g.tenant, g.max);
      if (g.tenant === "late") break;
      waited++;
    }
    expect(waited).to.be.below(active);
  });

  it("holds at most one grant per tenant, so a noisy tenant takes one write slot of many", () => {
    const s = new FairScheduler({ quantum: 50, maxBatch: 200 });
    s.add("noisy", 100_000);
    const first = s.next();
    expect(first?.tenant).to.equal("noisy");
    expect(s.next(), "a second slot for the same tenant").to.equal(undefined);
    s.add("quiet", 2);
    expect(s.next()).to.deep.equal({ tenant: "quiet", max: 2 });
    s.complete("noisy", first!.max);
    expect(s.next()?.tenant).to.equal("noisy");
  });

  it("is work conserving: a lone tenant gets every turn; an emptied tenant leaves and keeps no credit", () => {
    const s = new FairScheduler({ quantum: 50, maxBatch: 200 });
    s.add("a", 120);
    const grants: number[] = [];
    for (let g = s.next(); g; g = s.next()) {
      grants.push(g.max);
      s.complete(g.tenant, g.max);
    }
    expect(grants).to.deep.equal([50, 50, 20]);
    expect(s.activeTenants()).to.deep.equal([]);
    s.add("a", 500);
    expect(s.next()?.max, "no credit hoarded while idle").to.equal(50);
  });

  it("weights scale a tenant's share", () => {
    const s = new FairScheduler({ quantum: 10, maxBatch: 100 });
    s.setWeight("gold", 2);
    s.add("gold", 10_000);
    s.add("std", 10_000);
    const served: Record<string, number> = { gold: 0, std: 0 };
    for (let i = 0; i < 100; i++) {
      const g = s.next()!;
      served[g.tenant]! += g.max;
      s.complete(g.tenant, g.max);
    }
    expect(served["gold"]).to.equal(2 * served["std"]!);
  });

  it("a grant that used less than allowed keeps the rest of the backlog in the ring", () => {
    const s = new FairScheduler({ quantum: 50, maxBatch: 200 });
    s.add("a", 30);
    const g = s.next()!;
    expect(g.max).to.equal(30);
    s.complete("a", 10);
    expect(s.backlog("a")).to.equal(20);
    expect(s.next()?.tenant).to.equal("a");
  });

  describe("in virtual time (one noisy tenant at 20x the rate of nine quiet ones)", () => {
    /** Arrival times (virtual ms) of `count` events, evenly spaced from `offset`. */
    function arrivals(
      tenant: string,
      perSecond: number,
      seconds: number,
      offset: number,
    ): Array<{ tenant: string; t: number }> {
      const out: Array<{ tenant: string; t: number }> = [];
      const gap = 1000 / perSecond;
      for (let t = offset; t < seconds * 1000; t += gap) out.push({ tenant, t });
      return out;
    }

    /**
     * A discrete-event run: `slots` parallel writers (4: EVENTS_WRITE_CONCURRENCY), a batch of n events costs 2 + 0.2·n ms.
     * "fair" uses the scheduler (one grant per tenant); "fifo" takes batches from one shared queue.
     */
    function simulate(
      events: Array<{ tenant: string; t: number }>,
      policy: "fair" | "fifo",
      slots = 4,
    ): Map<string, number[]> {
      const sorted = [...events].sort((a, b) => a.t - b.t);
      const cost = (n: number): number => 2 + 0.2 * n;
      const s = new FairScheduler({ quantum: 50, maxBatch: 200 });
      const queues = new Map<string, number[]>();
      const fifo: Array<{ tenant: string; t: number }> = [];
      const running: Array<{ end: number; tenant: string; items: Array<{ tenant: string; t: number }> }> = [];
      const latencies = new Map<string, number[]>();
      let i = 0;
      let now = 0;
      while (i < sorted.length || running.length > 0 || fifo.length > 0 || s.activeTenants().length > 0) {
        const nextArrival = sorted[i]?.t ?? Infinity;
        const nextEnd = Math.min(...running.map((r) => r.end), Infinity);
        now = Math.min(nextArrival, nextEnd);
        if (now === Infinity) break;
        for (let r = running.length - 1; r >= 0; r--) {
          const job = running[r]!;
          if (job.end > now) continue;
          running.splice(r, 1);
          for (const it of job.items) {
            const list = latencies.get(it.tenant) ?? [];
            list.push(job.end - it.t);
            latencies.set(it.tenant, list);
          }
          if (policy === "fair") s.complete(job.tenant, job.items.length);
        }
        while (i < sorted.length && sorted[i]!.t <= now) {
          const e = sorted[i++]!;
          if (policy === "fifo") fifo.push(e);
          else {
            const q = queues.get(e.tenant) ?? [];
            q.push(e.t);
            queues.set(e.tenant, q);
            s.add(e.tenant, 1);
          }
        }
        while (running.length < slots) {
          if (policy === "fifo") {
            if (fifo.length === 0) break;
            const items = fifo.splice(0, 200);
            running.push({ end: now + cost(items.length), tenant: "*", items });
          } else {
            const g = s.next();
            if (!g) break;
            const times = queues.get(g.tenant)!.splice(0, g.max);
            running.push({
              end: now + cost(times.length),
              tenant: g.tenant,
              items: times.map((t) => ({ tenant: g.tenant, t })),
            });
          }
        }
      }
      return latencies;
    }

    function p99(values: number[]): number {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
    }

    const quiet = Array.from({ length: 9 }, (_, k) => `q${k}`);
    const quietEvents = quiet.flatMap((q, k) => arrivals(q, 50, 10, k * 1.7));

    function quietP99(lat: Map<string, number[]>): number {
      return p99(quiet.flatMap((q) => lat.get(q) ?? []));
    }

    it("keeps the quiet tenants' p99 within twice its value without the noisy tenant, even when the noisy one overloads", () => {
      const alone = quietP99(simulate(quietEvents, "fair"));
      // 20x the rate of each quiet tenant ...
      const steady = quietP99(simulate([...quietEvents, ...arrivals("noisy", 1000, 10, 0.3)], "fair"));
      // ... and far beyond what the writers can take (its backlog grows for the whole run)
      const flood = quietP99(simulate([...quietEvents, ...arrivals("noisy", 20_000, 10, 0.3)], "fair"));
      expect(steady, `p99 ${steady} ms vs ${alone} ms alone`).to.be.at.most(2 * alone);
      expect(flood, `p99 ${flood} ms vs ${alone} ms alone`).to.be.at.most(2 * alone);
    });

    it("where one shared FIFO queue lets the flood delay everyone (the property is the scheduler's)", () => {
      const alone = quietP99(simulate(quietEvents, "fifo"));
      const flood = quietP99(simulate([...quietEvents, ...arrivals("noisy", 20_000, 10, 0.3)], "fifo"));
      expect(flood).to.be.above(100 * alone);
    });
  });
});
