/**
 * The lease manager holding a singleton (one partition, sticky placement) on the real NATS, in a
 * bucket whose entries expire (as the supporters pump's lease bucket): a second node does not
 * take the lease from a live holder; when the holder's node dies (its connection gone) the
 * lease entry expires, the survivor takes it, and the dead holder fences itself.
 */
import { expect } from "chai";
import { connectNats, type KV, type NatsHandles } from "../../nats";
import { LeaseManager, type LeaseKeys, type PartitionRef } from "../../actors/leases";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "silent", name: "test:leases" });

describe("actors: a singleton lease in an expiring bucket (real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tls");
  const bucket = `${ns}_single`;
  const ref: PartitionRef = { kind: "single", partition: 0 };
  const keys: LeaseKeys = { partitionKey: () => "single", nodeKey: (id) => `node.${id}` };
  // Entries expire after 1 s; the managers judge a lease free only after 2 s, so the survivor's
  // first takeover attempt meets an entry the TTL already removed (no marker reaches a watch).
  const BUCKET_TTL_MS = 1000;
  const LEASE_TTL_MS = 2000;
  const conns: NatsHandles[] = [];
  const managers: LeaseManager[] = [];

  const node = async (id: string, events: string[]): Promise<{ h: NatsHandles; m: LeaseManager; kv: KV }> => {
    const h = await connectNats(NATS_URL, `test-${ns}-${id}`);
    conns.push(h);
    const kv = await h.kvm.open(bucket);
    const m = new LeaseManager({
      kv,
      keys,
      nodeId: id,
      refs: [ref],
      ttlMs: LEASE_TTL_MS,
      placement: "sticky",
      callbacks: {
        acquired: async () => void events.push("acquired"),
        released: async (_r, drain) => void events.push(drain ? "released" : "lost"),
      },
      log: log.child({ node: id }),
    });
    managers.push(m);
    await m.start();
    return { h, m, kv };
  };
  const owner = async (kv: KV): Promise<string | undefined> => {
    const e = await kv.get("single");
    return e && e.operation === "PUT" ? e.json<{ owner: string }>().owner : undefined;
  };

  before(async () => {
    const h = await connectNats(NATS_URL, `test-${ns}`);
    conns.push(h);
    await h.kvm.create(bucket, { history: 1, ttl: BUCKET_TTL_MS });
  });

  after(async () => {
    await Promise.allSettled(managers.map((m) => m.stop()));
    await Promise.allSettled(conns.map((h) => h.nc.close()));
    await cleanupNamespace(ns);
  });

  it("stays with its holder while it lives, moves when it dies, and fences the dead holder", async () => {
    const aEvents: string[] = [];
    const bEvents: string[] = [];
    const a = await node("a", aEvents);
    await waitFor("a holds the lease", () => a.m.ownedCount() === 1);
    const b = await node("b", bEvents);
    // Sticky: b never takes it from a live a, through several renewals and bucket TTLs.
    await new Promise((r) => setTimeout(r, 3 * LEASE_TTL_MS));
    expect(bEvents).to.deep.equal([]);
    expect(await owner(b.kv)).to.equal("a");
    expect(a.m.allOwned() && b.m.allOwned()).to.equal(true);

    // a's node dies: its connection is gone, nothing it does reaches the server any more.
    await a.h.nc.close();
    await waitFor("b takes the lease", () => b.m.ownedCount() === 1, 15_000, 50);
    expect(await owner(b.kv)).to.equal("b");
    expect(bEvents).to.deep.equal(["acquired"]);
    // a could not renew for most of the ttl: it stopped its partition without draining.
    await waitFor("a fenced itself", () => aEvents.includes("lost"), 10_000, 50);
    expect(a.m.ownedCount()).to.equal(0);
    expect(aEvents).to.deep.equal(["acquired", "lost"]);
  });
});

describe("actors: partition leases renewed rarely, liveness on the node entry (real NATS)", function () {
  this.timeout(90_000);
  const ns = freshNamespace("tlr");
  const bucket = `${ns}_parts`;
  const refs: PartitionRef[] = [0, 1, 2, 3, 4, 5, 6, 7].map((p) => ({ kind: "k", partition: p }));
  const keys: LeaseKeys = { partitionKey: (k, p) => `part.${k}.${p}`, nodeKey: (id) => `node.${id}` };
  const LEASE_TTL_MS = 1000;
  // Entries rewritten every 10 s, so free by silence only after 30 s: a takeover sooner is the
  // node entry's doing.
  const PARTITION_RENEW_MS = 10_000;
  const conns: NatsHandles[] = [];
  const managers: LeaseManager[] = [];

  const node = async (id: string): Promise<{ h: NatsHandles; m: LeaseManager; kv: KV }> => {
    const h = await connectNats(NATS_URL, `test-${ns}-${id}`);
    conns.push(h);
    const kv = await h.kvm.open(bucket);
    const m = new LeaseManager({
      kv,
      keys,
      nodeId: id,
      refs,
      ttlMs: LEASE_TTL_MS,
      partitionRenewMs: PARTITION_RENEW_MS,
      callbacks: { acquired: async () => undefined, released: async () => undefined },
      log: log.child({ node: id }),
    });
    managers.push(m);
    await m.start();
    return { h, m, kv };
  };
  const revisions = async (kv: KV): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const k of [...refs.map((r) => keys.partitionKey(r.kind, r.partition)), "node.a"]) {
      const e = await kv.get(k);
      out[k] = e?.revision ?? 0;
    }
    return out;
  };

  before(async () => {
    const h = await connectNats(NATS_URL, `test-${ns}`);
    conns.push(h);
    await h.kvm.create(bucket, { history: 1, ttl: 60_000 });
  });

  after(async () => {
    await Promise.allSettled(managers.map((m) => m.stop()));
    await Promise.allSettled(conns.map((h) => h.nc.close()));
    await cleanupNamespace(ns);
  });

  it("rewrites only the node entry between partition renewals, and moves a dead node's partitions after one ttl", async () => {
    const a = await node("a");
    const b = await node("b");
    await waitFor("the partitions are spread", () => a.m.ownedCount() > 0 && b.m.ownedCount() > 0, 20_000, 50);
    await waitFor("all owned", () => a.m.allOwned() && b.m.allOwned() && a.m.ownedCount() + b.m.ownedCount() === 8);
    const before = await revisions(a.kv);
    await new Promise((r) => setTimeout(r, 4 * LEASE_TTL_MS));
    const after = await revisions(a.kv);
    // a's node entry moved several times; no partition entry was rewritten
    expect(after["node.a"]! - before["node.a"]!).to.be.at.least(3);
    for (const r of refs) {
      const k = keys.partitionKey(r.kind, r.partition);
      expect(after[k], k).to.equal(before[k]);
    }
    // nobody took a live node's partitions in those 4 ttl, though their entries were silent
    expect(a.m.ownedCount() + b.m.ownedCount()).to.equal(8);
    expect(a.m.ownedCount()).to.be.greaterThan(0);

    // a dies (its connection gone): b has every partition well before the entries' 30 s of silence
    const t0 = Date.now();
    await a.h.nc.close();
    await waitFor("b owns every partition", () => b.m.ownedCount() === 8, 20_000, 50);
    expect(Date.now() - t0).to.be.below(3 * PARTITION_RENEW_MS);
    expect(b.m.allOwned()).to.equal(true);
  });
});

describe("actors: a lease lost while its partition starts (real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tll");
  const bucket = `${ns}_lease`;
  const ref: PartitionRef = { kind: "k", partition: 0 };
  const keys: LeaseKeys = { partitionKey: () => "part.k.0", nodeKey: (id) => `node.${id}` };
  const LEASE_TTL_MS = 1500;
  let h: NatsHandles;
  let m: LeaseManager | undefined;
  let releaseStart: () => void = () => undefined;

  before(async () => {
    h = await connectNats(NATS_URL, `test-${ns}`);
    await h.kvm.create(bucket, { history: 1 });
  });
  after(async () => {
    releaseStart();
    await m?.stop().catch(() => undefined);
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  it("stops the partition only after its start returned, never while it runs", async () => {
    const real = await h.kvm.open(bucket);
    // The node's own entry stops being written (its server answers nothing for that key, as
    // while a NATS server is killed): after most of the ttl the node fences itself.
    let nodeWritesFail = false;
    const failing = (key: string): boolean => nodeWritesFail && key.startsWith("node.");
    const kv = new Proxy(real, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if ((prop === "put" || prop === "update") && typeof v === "function")
          return (key: string, ...rest: unknown[]) =>
            failing(key) ? Promise.reject(new Error("timeout")) : Reflect.apply(v, target, [key, ...rest]);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const events: string[] = [];
    const startGate = new Promise<void>((r) => (releaseStart = r));
    m = new LeaseManager({
      kv,
      keys,
      nodeId: "a",
      refs: [ref],
      ttlMs: LEASE_TTL_MS,
      callbacks: {
        // a slow start (a consumer reset that waits for a stream leader)
        acquired: async () => {
          events.push("start begins");
          nodeWritesFail = true;
          await startGate;
          events.push("start returns");
        },
        released: async (_r, drain) => void events.push(drain ? "released" : "stopped"),
      },
      log,
    });
    await m.start();
    await waitFor("the start begins", () => events.includes("start begins"), 10_000, 20);
    // the node's entry is not renewed for longer than the ttl: the manager fences the partition
    await new Promise((r) => setTimeout(r, 2 * LEASE_TTL_MS));
    expect(m.ownedCount(), "fenced while starting").to.equal(0);
    releaseStart();
    await waitFor("the partition stopped", () => events.includes("stopped"), 10_000, 20);
    // never stopped while the start ran (that left the start's consumer running unowned)
    expect(events.slice(0, 3)).to.deep.equal(["start begins", "start returns", "stopped"]);
    nodeWritesFail = false;
  });
});
