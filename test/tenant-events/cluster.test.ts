/**
 * Tenant partitions across nodes (child processes, so `kill -9` is real): two nodes share the
 * tenants; while producers publish, one node is killed; the other takes its partitions after the
 * lease ttl, re-creates their consumers and carries on. Every event is stored exactly once and
 * both feeds keep per-tenant order.
 */
import { expect } from "chai";
import pino from "pino";
import { TestCluster } from "../support/cluster";
import { cleanupNamespace, DATABASE_URL, freshNamespace, NATS_URL } from "../support/namespace";
import { createPool } from "../../db";
import { waitFor } from "../support/wait";
import { loadConfig } from "../../node/config";
import { provision } from "../../streams/provision";
import { eventDeclarations, eventNames } from "../../services/tenant-events/streams";
import { EventTypeRegistry } from "../../services/tenant-events/registry";
import { TypeStore } from "../../services/tenant-events/types-store";
import { readFeed } from "./harness";

const TENANTS = Array.from({ length: 12 }, (_, i) => `ct${i}`);

describe("events: tenant partitions across nodes, failover", function () {
  this.timeout(150_000);
  const ns = freshNamespace("tec");
  const names = eventNames(ns);
  const cluster = new TestCluster(ns, {
    SERVICES: "runtime,tenant-events",
    LEASE_TTL_MS: "2000",
    EVENTS_PARTITIONS: "8",
    EVENTS_DISCOVER_MS: "200",
  });

  after(async () => {
    await cluster.close();
    await cleanupNamespace(ns);
  });

  const partitionsOf = async (node: string): Promise<number[]> =>
    ((await cluster.broker.call("events.stats", {}, { nodeID: node })) as { partitions: number[] }).partitions;

  it("stores every event exactly once and in order per tenant when a node is killed mid-stream", async () => {
    await cluster.connect();
    const h = cluster.nats;
    await provision(h, eventDeclarations(cluster.topo, loadConfig({ NAMESPACE: ns, NATS_URL })));
    await new TypeStore(await h.kvm.open(names.typesBucket), new EventTypeRegistry(), pino({ level: "silent" })).define(
      "tick",
      { schema: { type: "object", required: ["i"] } },
    );
    cluster.startNode("ec-1");
    cluster.startNode("ec-2");
    await waitFor(
      "both nodes hold tenant partitions",
      async () => {
        const [a, b] = await Promise.all([partitionsOf("ec-1"), partitionsOf("ec-2")]);
        return a.length + b.length === 8 && a.length > 0 && b.length > 0;
      },
      60_000,
      200,
    );

    const sent = new Map<string, string[]>(TENANTS.map((t) => [t, []]));
    let killed = false;
    const pending: Promise<unknown>[] = [];
    for (let round = 0; round < 120; round++) {
      for (const t of TENANTS) {
        const id = `${t}-${String(round).padStart(4, "0")}`;
        sent.get(t)!.push(id);
        pending.push(
          h.js.publish(
            names.inSubject(t),
            JSON.stringify({ clientId: t, eventId: id, type: "tick", timestamp: Date.now(), data: { i: round } }),
          ),
        );
      }
      if (round === 40 && !killed) {
        killed = true;
        await cluster.stopNode("ec-1", "SIGKILL");
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await Promise.all(pending);
    expect(killed).to.equal(true);
    await waitFor("ec-2 owns every partition", async () => (await partitionsOf("ec-2")).length === 8, 30_000, 200);

    const total = TENANTS.length * 120;
    const count = async (): Promise<number> => {
      const r = (await cluster.broker.call("events.stats", {}, { nodeID: "ec-2" })) as {
        tenants: Record<string, { stored: number }>;
      };
      return Object.values(r.tenants).reduce((s, x) => s + x.stored, 0);
    };
    // the survivor stored its share plus everything after the kill; read the store to be sure
    await waitFor(
      "every event fed",
      async () => {
        let fed = 0;
        for (const t of TENANTS) fed += (await readFeed(h, names, t)).length;
        return fed === total;
      },
      60_000,
      500,
    );
    expect(await count()).to.be.greaterThan(0);
    const pg = createPool(DATABASE_URL, ns, 1);
    try {
      for (const t of TENANTS) {
        const rows = await pg.query<{ event_id: string }>(
          "SELECT event_id FROM events WHERE client_id = $1 ORDER BY seq",
          [t],
        );
        expect(
          rows.rows.map((r) => r.event_id),
          `store of ${t}`,
        ).to.deep.equal(sent.get(t));
      }
    } finally {
      await pg.end();
    }
    for (const t of TENANTS) {
      const feed = await readFeed(h, names, t);
      expect(
        feed.map((e) => e.eventId),
        `push feed of ${t}`,
      ).to.deep.equal(sent.get(t));
      const seqs = feed.map((e) => e.seq);
      expect(seqs, `store order of ${t}`).to.deep.equal([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).to.equal(seqs.length);
    }
  });
});
