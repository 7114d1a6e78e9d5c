/**
 * The event type store on the real KV bucket: versions are create-only, so definitions of one
 * type made at the same time by several admins (nodes) each get their own number, the losers of
 * a create retrying on JetStream's "wrong last sequence" (matched by its code).
 */
import { expect } from "chai";
import { createLogger } from "../../lib/logger";
import type { NatsHandles } from "../../nats";
import { EventTypeRegistry, typeKey } from "../../services/tenant-events/registry";
import { TypeStore } from "../../services/tenant-events/types-store";
import { freshNamespace } from "../support/namespace";
import { testNats } from "./harness";

describe("events: type store (real KV)", function () {
  this.timeout(30_000);
  const ns = freshNamespace("tet");
  let h: NatsHandles;
  let bucket: string;

  before(async () => {
    const t = await testNats(ns);
    h = t.h;
    bucket = t.names.typesBucket;
    await h.kvm.create(bucket, { history: 5 });
  });

  after(async () => {
    await h.jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    await h.nc.close();
  });

  it("gives concurrent definitions of one type distinct versions; a taken number is never overwritten", async () => {
    const log = createLogger({ level: "silent" });
    const stores = await Promise.all(
      Array.from({ length: 5 }, async () => new TypeStore(await h.kvm.open(bucket), new EventTypeRegistry(), log)),
    );
    const defined = await Promise.all(
      stores.map((s, i) => s.define("race.type", { schema: { type: "object" }, description: `admin ${i}` })),
    );
    expect(defined.map((v) => v.version).sort()).to.deep.equal([1, 2, 3, 4, 5]);
    const kv = await h.kvm.open(bucket);
    for (const v of defined) {
      const e = await kv.get(typeKey("race.type", v.version));
      expect(e?.json<{ description: string }>().description).to.equal(v.description);
    }
    // a later definition sees every version and takes the next number without a conflict
    expect((await stores[0]!.define("race.type", { schema: { type: "object" } })).version).to.equal(6);
  });
});
