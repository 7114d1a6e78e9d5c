/**
 * Done-when 3 of the DR issue: a rolling (blue/green) upgrade on the same streams. Version 1
 * (blue) and version 2 (green: the same kind with a changed handler that also keeps a new state
 * field) run side by side in one namespace while messages flow; green joins and takes over part
 * of the partitions, blue drains (its partitions move to green), and a rollback brings version
 * 1 back the same way. Every message is handled exactly once (no loss, none by both versions),
 * in order per key; version 2 reads version 1's state and version 1 keeps version 2's field
 * (state is compatible across one version both ways).
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { topology, partitionOf } from "../../streams/subjects";
import { provision } from "../../streams/provision";
import { Runtime } from "../../actors/runtime";
import type { ActorKind } from "../../actors/types";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";

/** Version 1's state; version 2 adds `doubled` (optional, so version 1 state is version 2 state). */
interface UpgState {
  log: string[];
  doubled?: number;
}

const PARTITIONS = 8;

/** The kind at `version`: v1 logs `n@v1`; v2 logs `n@v2` and sums 2n into `doubled`. */
function upgKind(version: 1 | 2): ActorKind<UpgState, { n: number }> {
  return {
    name: "upg",
    partitions: PARTITIONS,
    initialState: () => ({ log: [] }),
    handle: (state, msg) =>
      version === 1
        ? { state: { ...state, log: [...state.log, `${msg.data.n}@v1`] } }
        : {
            state: {
              ...state,
              log: [...state.log, `${msg.data.n}@v2`],
              doubled: (state.doubled ?? 0) + 2 * msg.data.n,
            },
          },
  };
}

describe("rolling upgrade: two versions side by side, old drains, rollback (Done-when 3)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("trl");
  const topo = topology(ns);
  const conns: NatsHandles[] = [];
  const runtimes: Runtime[] = [];
  let pub: NatsHandles;

  async function startVersion(id: string, version: 1 | 2): Promise<Runtime> {
    const h = await connectNats(NATS_URL, `rolling-${id}`);
    conns.push(h);
    const kind = upgKind(version);
    const r = new Runtime(
      h,
      topo,
      { kinds: [kind], hostedKinds: new Set(["upg"]), jobs: [], hostedJobs: new Set() },
      { nodeId: id, partitions: PARTITIONS, leaseTtlMs: 3000, idleMs: 60_000, maxResident: 1000, replicas: 1 },
      createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" }),
    );
    await provision(h, r.declarations());
    await r.start();
    runtimes.push(r);
    return r;
  }

  async function leaseOwners(): Promise<Map<number, string>> {
    const kv = await pub.kvm.open(topo.leases.bucket);
    const out = new Map<number, string>();
    for (let p = 0; p < PARTITIONS; p++) {
      const e = await kv.get(topo.leases.partitionKey("upg", p));
      if (e && e.operation === "PUT") out.set(p, e.json<{ owner: string }>().owner);
    }
    return out;
  }

  const ownedBy = async (ids: readonly string[], each: boolean): Promise<boolean> => {
    const o = await leaseOwners();
    if (o.size !== PARTITIONS || ![...o.values()].every((v) => ids.includes(v))) return false;
    return !each || ids.every((id) => [...o.values()].includes(id));
  };

  before(async () => {
    pub = await connectNats(NATS_URL, "rolling-publisher");
  });

  after(async () => {
    for (const r of runtimes) await r.stop().catch(() => undefined);
    for (const h of [...conns, pub]) await h?.nc.close().catch(() => undefined);
    await cleanupNamespace(ns);
  });

  it("hands every message to exactly one version, in order, through upgrade and rollback", async () => {
    const keys = Array.from({ length: 24 }, (_, i) => `k${i}`);
    const next = new Map(keys.map((k) => [k, 0]));
    // a publish that times out on a busy machine is sent again with its id: stored once
    const sendOnce = async (key: string, n: number): Promise<void> => {
      const subject = topo.actors.subject("upg", partitionOf(key, PARTITIONS), key);
      for (let attempt = 0; ; attempt++) {
        try {
          await pub.js.publish(subject, JSON.stringify({ n }), { msgID: `${key}:${n}`, timeout: 5000 });
          return;
        } catch (err) {
          if (attempt >= 20) throw err;
        }
      }
    };
    let publishing = true;
    let published = 0;
    const publisher = (async () => {
      while (publishing) {
        await Promise.all(
          keys.map((key) => {
            const n = next.get(key)!;
            next.set(key, n + 1);
            published++;
            return sendOnce(key, n);
          }),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const blue = await startVersion("blue", 1);
    await waitFor("blue owns every partition", () => ownedBy(["blue"], false), 30_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    // green (version 2) joins: partitions move to it while messages flow
    const green = await startVersion("green", 2);
    await waitFor("blue and green share the partitions", () => ownedBy(["blue", "green"], true), 30_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    // blue drains: it finishes what it holds and hands its partitions over
    await blue.stop();
    await waitFor("green owns every partition", () => ownedBy(["green"], false), 30_000, 100);
    const upgradedAt = new Map(next);
    await new Promise((r) => setTimeout(r, 500));
    // green alone has handled everything sent so far
    const rollbackFrom = new Map(next);
    let behind = 0;
    await waitFor(
      "green caught up",
      async () => {
        const all = await Promise.all(keys.map((k) => green.getState<UpgState>("upg", k)));
        behind = all.reduce((n, st, i) => n + Math.max(0, rollbackFrom.get(keys[i]!)! - (st?.log.length ?? 0)), 0);
        return behind === 0;
      },
      60_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${behind} messages behind`);
    });
    // rollback: version 1 again beside green, then green drains
    await startVersion("blue2", 1);
    await waitFor("blue2 and green share the partitions", () => ownedBy(["blue2", "green"], true), 30_000, 100);
    await green.stop();
    await waitFor("blue2 owns every partition", () => ownedBy(["blue2"], false), 30_000, 100);
    await new Promise((r) => setTimeout(r, 300));
    publishing = false;
    await publisher;

    const final = runtimes[runtimes.length - 1]!;
    const states = await waitFor(
      `all ${published} messages handled`,
      async () => {
        const all = await Promise.all(keys.map((k) => final.getState<UpgState>("upg", k)));
        return all.every((s, i) => s && s.log.length === next.get(keys[i]!)) ? all : null;
      },
      30_000,
      200,
    );
    let v1 = 0;
    let v2 = 0;
    for (const [i, s] of states.entries()) {
      const key = keys[i]!;
      // exactly once, in order: the log is 0..N-1, each once
      expect(
        s!.log.map((e) => Number(e.split("@")[0])),
        key,
      ).to.deep.equal(Array.from({ length: next.get(key)! }, (_, n) => n));
      // green's field survives the rollback (version 1 spreads the state it does not know)
      const doubledByV2 = s!.log.filter((e) => e.endsWith("@v2")).reduce((t, e) => t + 2 * Number(e.split("@")[0]), 0);
      expect(s!.doubled ?? 0, key).to.equal(doubledByV2);
      // sent after blue drained and before the rollback: version 2 only
      expect(
        s!.log.slice(upgradedAt.get(key)!, rollbackFrom.get(key)!).filter((e) => !e.endsWith("@v2")),
        key,
      ).to.deep.equal([]);
      v1 += s!.log.filter((e) => e.endsWith("@v1")).length;
      v2 += s!.log.filter((e) => e.endsWith("@v2")).length;
    }
    expect(v1).to.be.greaterThan(0);
    expect(v2).to.be.greaterThan(0);
    expect(v1 + v2).to.equal(published);
    process.stdout.write(
      `      ${published} messages: ${v1} handled by version 1, ${v2} by version 2, none twice or lost\n`,
    );
  });
});
