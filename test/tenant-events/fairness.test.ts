/**
 * Fairness on the real servers, bounded and timing-free: a noisy tenant's backlog of 4,000
 * events is published before nine quiet tenants' 10 each (so in the stream every quiet event is
 * behind the whole noisy backlog), then a node starts. The store's sequence records the order
 * of commits; with fair scheduling each quiet tenant is finished after a small part of the
 * noisy backlog, where one shared FIFO consumer would finish it after all 4,000.
 */
import { expect } from "chai";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import { loadConfig } from "../../node/config";
import { provision } from "../../streams/provision";
import { topology } from "../../streams/subjects";
import { eventDeclarations } from "../../services/tenant-events/streams";
import pino from "pino";
import { EventTypeRegistry } from "../../services/tenant-events/registry";
import { TypeStore } from "../../services/tenant-events/types-store";
import { cleanupEvents, startEventsNode, testNats, type EventsNode } from "./harness";

const NOISY = 4000;
const QUIET = 9;
const PER_QUIET = 10;

describe("events: fairness (integration, bounded)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tef");
  let n: EventsNode | undefined;

  after(async () => {
    await n?.stop();
    await cleanupEvents(ns);
  });

  it("stores every quiet tenant's events after a small share of a noisy tenant's earlier backlog", async () => {
    const { h, names } = await testNats(ns);
    try {
      await provision(h, eventDeclarations(topology(ns), loadConfig({ NAMESPACE: ns, NATS_URL })));
      // the type exists before any node processes (as an admin would have defined it)
      await new TypeStore(
        await h.kvm.open(names.typesBucket),
        new EventTypeRegistry(),
        pino({ level: "silent" }),
      ).define("tick", { schema: { type: "object", required: ["i"] } });
      const ev = (t: string, i: number) =>
        JSON.stringify({ clientId: t, eventId: `${t}-${i}`, type: "tick", timestamp: Date.now(), data: { i } });
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < NOISY; i++) {
        pending.push(h.js.publish(names.inSubject("noisy"), ev("noisy", i)));
        if (pending.length >= 1000) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending.splice(0));
      for (let i = 0; i < PER_QUIET; i++)
        for (let q = 0; q < QUIET; q++) pending.push(h.js.publish(names.inSubject(`quiet${q}`), ev(`quiet${q}`, i)));
      await Promise.all(pending);
    } finally {
      await h.nc.close();
    }

    n = await startEventsNode(ns, "ef-1");
    const pg = n.node.ctx.pg;
    const count = async (): Promise<number> =>
      Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM events")).rows[0]!.n);
    await waitFor("every event stored", async () => (await count()) === NOISY + QUIET * PER_QUIET, 60_000, 200);

    const rows = (
      await pg.query<{ client_id: string; event_id: string; seq: string }>(
        "SELECT client_id, event_id, seq FROM events ORDER BY seq",
      )
    ).rows;
    const noisyBefore: number[] = [];
    for (let q = 0; q < QUIET; q++) {
      const mine = rows.filter((r) => r.client_id === `quiet${q}`);
      expect(
        mine.map((r) => r.event_id),
        "per-tenant order",
      ).to.deep.equal(Array.from({ length: PER_QUIET }, (_, i) => `quiet${q}-${i}`));
      const lastSeq = Number(mine.at(-1)!.seq);
      noisyBefore.push(rows.filter((r) => r.client_id === "noisy" && Number(r.seq) < lastSeq).length);
    }
    const worst = Math.max(...noisyBefore);
    process.stdout.write(
      `      noisy events stored before each quiet tenant finished: ${noisyBefore.join(", ")} (of ${NOISY}; FIFO: ${NOISY})\n`,
    );
    expect(worst).to.be.below(NOISY / 4);
  });
});
