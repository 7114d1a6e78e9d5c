/** Provisioning as code on the real server: create, no-op, compatible update, clear refusal. */
import { expect } from "chai";
import { connectNats, RetentionPolicy, StorageType, type NatsHandles } from "../../nats";
import { provision, ProvisionError } from "../../streams/provision";
import type { Declaration } from "../../streams/declarations";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";

describe("provisioning", () => {
  let ns: string;
  let h: NatsHandles;

  before(async () => {
    ns = freshNamespace();
    h = await connectNats(NATS_URL, "provision-test");
  });

  after(async () => {
    await h.nc.close();
    await cleanupNamespace(ns);
  });

  const stream = (maxAge: number, retention: RetentionPolicy = RetentionPolicy.Limits): Declaration => ({
    type: "stream",
    config: {
      name: `${ns.toUpperCase()}_P`,
      subjects: [`${ns}.p.>`],
      retention,
      storage: StorageType.File,
      max_age: maxAge,
    },
  });

  it("creates what is missing, then changes nothing on a second run", async () => {
    const decls: Declaration[] = [
      stream(60e9),
      { type: "kv", bucket: `${ns}_pkv`, history: 1 },
      {
        type: "consumer",
        stream: `${ns.toUpperCase()}_P`,
        config: { durable_name: "c1", filter_subject: `${ns}.p.a` },
      },
    ];
    const progress: string[] = [];
    expect(await provision(h, decls, (_d, action, i, total) => progress.push(`${i}/${total} ${action}`))).to.deep.equal(
      { created: 3, updated: 0, unchanged: 0 },
    );
    expect(progress).to.deep.equal(["1/3 created", "2/3 created", "3/3 created"]);
    expect(await provision(h, decls)).to.deep.equal({ created: 0, updated: 0, unchanged: 3 });
  });

  it("lets nodes that start together provision the same declarations at once", async () => {
    const decls: Declaration[] = [
      {
        type: "stream",
        config: { name: `${ns.toUpperCase()}_RACE`, subjects: [`${ns}.race.>`], storage: StorageType.File },
      },
      {
        type: "consumer",
        stream: `${ns.toUpperCase()}_RACE`,
        config: { durable_name: "c1", filter_subject: `${ns}.race.a` },
      },
      { type: "kv", bucket: `${ns}_racekv`, history: 1 },
    ];
    const results = await Promise.all(Array.from({ length: 4 }, () => provision(h, decls)));
    expect(results.reduce((n, r) => n + r.created, 0)).to.be.at.least(3);
    for (const r of results) expect(r.created + r.unchanged + r.updated).to.equal(3);
  });

  it("updates a compatible change in place", async () => {
    expect(await provision(h, [stream(120e9)])).to.deep.equal({ created: 0, updated: 1, unchanged: 0 });
    expect((await h.jsm.streams.info(`${ns.toUpperCase()}_P`)).config.max_age).to.equal(120e9);
  });

  it("refuses an incompatible change with a clear error", async () => {
    try {
      await provision(h, [stream(120e9, RetentionPolicy.Workqueue)]);
      expect.fail("should refuse");
    } catch (err) {
      expect(err).to.be.instanceOf(ProvisionError);
      expect((err as Error).message)
        .to.contain(`stream ${ns.toUpperCase()}_P`)
        .and.contain("retention")
        .and.contain("cannot change in place");
    }
  });
});
