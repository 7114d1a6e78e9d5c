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
