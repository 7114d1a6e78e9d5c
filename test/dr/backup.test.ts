/**
 * Done-when 1 of the DR issue: a backup taken while receipts, supporter messages and tenant
 * events flow into a node, restored into a fresh NATS server and a fresh database (same
 * namespace: see ops/restore.ts); the manifest's counts and checksums match what the restore
 * holds; receipts in flight when the backup started complete on a node started on the restored
 * data, and the simulated tax and warehouse services count no double registration.
 */
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { connectNats, type NatsHandles } from "../../nats";
import { createPool } from "../../db";
import { DEV_MASTER_KEY } from "../../config";
import { createKeyring } from "../../lib/sealed";
import { DEV_EGRESS_ALLOW, parseEgressAllow } from "../../lib/egress";
import { createClient, createClientStore } from "../../services/gateway/clients";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { supporterNames } from "../../services/supporters/streams";
import { eventNames } from "../../services/tenant-events/streams";
import type { Manifest } from "../../ops/manifest";
import { DATABASE_URL, NATS_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  cleanupReceipts,
  freePort,
  receiptsEnv,
  startChild,
  startSims,
  TerminalCollector,
  type ChildNode,
  type Sims,
} from "../receipts/harness";
import { startSims as startSupporterSims, payloadOf, type Sims as SupporterSims } from "../supporters/harness";
import { KEY1 } from "../tenant-events/harness";
import { runTool, scratchDatabase, startNatsServer, type NatsServer } from "./harness";
import { PublishFlow, ReceiptFlow } from "./load";

/** A phase line (the test is long; a hang shows where). */
const phase = (what: string): void =>
  void process.stdout.write(`      .. ${new Date().toISOString().slice(11, 23)} ${what}\n`);

describe("backup and restore under load (Done-when 1)", function () {
  this.timeout(300_000);
  const ns = freshNamespace("tdr");
  const dir = mkdtempSync(path.join(os.tmpdir(), `sy-backup-${ns}-`));
  let sims: Sims;
  let supSims: SupporterSims;
  let hooks: TerminalCollector;
  let nodeA: ChildNode | undefined;
  let nodeB: ChildNode | undefined;
  let target: NatsServer | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;
  let producer: NatsHandles;
  let apiKey = "";
  let adminKey = "";

  const env = (nodeId: string, port: number, extra: Record<string, string> = {}): Record<string, string> =>
    receiptsEnv(ns, nodeId, port, sims, {
      SERVICES: "runtime,gateway,receipts,supporters,tenant-events",
      ACTOR_PARTITIONS: "4",
      RECEIPT_CALLBACK_WAIT_MS: "3000",
      USER_SERVICE_URL: supSims.user.url,
      ERP_SERVICE_URL: supSims.erp.url,
      SUPPORTERS_PUMP_LEASE_MS: "3000",
      EVENTS_PARTITIONS: "4",
      EVENTS_DISCOVER_MS: "200",
      EVENTS_DATA_KEYS: `k1:${KEY1}`,
      EVENTS_DATA_KEY_ID: "k1",
      ...extra,
    });

  before(async () => {
    sims = await startSims();
    supSims = await startSupporterSims();
    hooks = await new TerminalCollector().start();
    // Registrations take a while, so that many receipts are in flight at any moment.
    sims.warehouse.setConfig({ latencyMs: { min: 300, max: 900 } });
    const port = await freePort();
    nodeA = await startChild(env("a", port), `${ns}-a`);
    const pool = createPool(DATABASE_URL, ns, 1);
    try {
      const deps = {
        store: createClientStore({ pg: pool, keyring: createKeyring([DEV_MASTER_KEY]) }),
        namespace: ns,
        egress: parseEgressAllow(DEV_EGRESS_ALLOW).policy,
      };
      const rate = { perSec: 100_000, burst: 100_000 };
      apiKey = (
        await createClient(deps, {
          name: "dr-load",
          scopes: ["receipts:read", "receipts:write"],
          webhookUrl: hooks.url,
          rateLimit: rate,
        })
      ).apiKey;
      adminKey = (await createClient(deps, { name: "dr-admin", scopes: ["admin"], rateLimit: rate })).apiKey;
    } finally {
      await pool.end();
    }
    const r = await fetch(`${nodeA.url}/api/v1/admin/event-types/dr.tick/versions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ schema: { type: "object", required: ["n"], properties: { n: { type: "integer" } } } }),
    });
    expect(r.status, await r.text()).to.equal(201);
    producer = await connectNats(NATS_URL, `dr-producer-${ns}`);
  });

  after(async () => {
    await producer?.nc.close().catch(() => undefined);
    await nodeA?.stop("SIGKILL");
    await nodeB?.stop("SIGKILL");
    await target?.remove();
    await db?.drop().catch(() => undefined);
    await hooks?.close();
    await sims?.close();
    await supSims?.close();
    await cleanupReceipts(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it("backs up under load, restores into an empty NATS and database, and the in-flight receipts complete once", async () => {
    const sup = supporterNames(ns);
    const evn = eventNames(ns);
    const bodies = RECEIPT_TYPES.flatMap((t) => [{ body: t.examples.json, type: "application/json" }]);
    const receipts = new ReceiptFlow(() => nodeA!.url, apiKey, bodies);
    const supporters = new PublishFlow(producer.js, (i) => ({
      subject: sup.inSubject("giftaid"),
      id: `dr-s${i}`,
      body: JSON.stringify({ ...payloadOf(i % 50, i, "giftaid"), messageId: `dr-s${i}` }),
    }));
    const tenantEvents = new PublishFlow(producer.js, (i) => ({
      subject: evn.inSubject("drtenant"),
      id: `drtenant:e${i}`,
      body: JSON.stringify({
        clientId: "drtenant",
        eventId: `e${i}`,
        type: "dr.tick",
        timestamp: new Date().toISOString(),
        data: { n: i },
      }),
    }));
    receipts.start(15);
    supporters.start(30);
    tenantEvents.start(30);
    await waitFor("load flowing", () => receipts.accepted.length >= 30 && tenantEvents.acked.length >= 60, 30_000, 100);

    // The backup, while everything flows.
    phase("load flowing; backup starts");
    const backupStart = Date.now();
    const acceptedBefore = receipts.acceptedBefore(backupStart);
    const terminalAtStart = new Set(hooks.terminal.keys());
    const t = { backup: 0, restore: 0, complete: 0 };
    const run = await runTool("backup", ["--to", dir], { NAMESPACE: ns, NATS_URL, DATABASE_URL }, `${ns}-backup`);
    t.backup = Date.now() - backupStart;
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/stream backed up/); // progress is shown
    await Promise.all([receipts.stop(), supporters.stop(), tenantEvents.stop()]);
    phase(`backup done (exit ${run.code})`);
    await nodeA!.stop("SIGKILL"); // the original is gone: only the restore can finish its work
    const inFlight = acceptedBefore.filter((id) => !terminalAtStart.has(id));
    expect(inFlight.length, "receipts in flight when the backup started").to.be.greaterThan(0);

    const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as Manifest;
    const byName = new Map(manifest.streams.map((s) => [s.name, s]));
    const NS = ns.toUpperCase();
    for (const name of [`${NS}_ACTOR_RECEIPT`, `${NS}_JOBS`, sup.inStream, evn.inStream, `KV_${ns}_state_receipt`])
      expect(byName.has(name), name).to.equal(true);
    expect(manifest.postgres?.tables.map((t) => t.name)).to.include.members(["supporter_messages", "_migrations"]);
    // the order of the flow: queues and mailboxes before jobs, jobs before state
    const order = manifest.streams.map((s) => s.name);
    expect(order.indexOf(`${NS}_ACTOR_RECEIPT`)).to.be.lessThan(order.indexOf(`${NS}_JOBS`));
    expect(order.indexOf(`${NS}_JOBS`)).to.be.lessThan(order.indexOf(`KV_${ns}_state_receipt`));

    phase("restore starts");
    // Restore into an empty NATS and a database without the schema.
    target = await startNatsServer(`${ns}-restore`);
    db = await scratchDatabase(`${ns}_restore`);
    const restoreStart = Date.now();
    const restored = await runTool("restore", ["--from", dir], {
      NAMESPACE: ns,
      NATS_URL: target.url,
      DATABASE_URL: db.url,
    });
    t.restore = Date.now() - restoreStart;
    expect(restored.code, restored.stderr).to.equal(0);
    const report = JSON.parse(restored.stdout) as { mismatches: unknown[]; messages: number; rows: number };
    expect(report.mismatches).to.deep.equal([]);

    // The manifest's counts, checked here independently of the restore's own check.
    const h = await connectNats(target.url, "dr-check");
    try {
      for (const e of manifest.streams) {
        const info = await h.jsm.streams.info(e.name);
        // entries of short-lived buckets (leases) expire while the rest is restored: the restore
        // checked them right after loading; here they can only have become fewer
        if (e.config.max_age > 0 && e.config.max_age < 60_000_000_000)
          expect(info.state.messages, `${e.name} messages`).to.be.at.most(e.messages);
        else expect(info.state.messages, `${e.name} messages`).to.equal(e.messages);
        expect(info.state.last_seq + 1, `${e.name} next sequence`).to.equal(e.nextSeq);
        if (e.messages > 0 && !(e.config.max_age > 0 && e.config.max_age < 60_000_000_000))
          expect(info.state.first_seq, `${e.name} first sequence`).to.equal(e.firstSeq);
      }
    } finally {
      await h.nc.close();
    }
    const pool = createPool(db.url, ns, 1);
    try {
      for (const t of manifest.postgres!.tables) {
        const r = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${ns}"."${t.name}"`);
        expect(Number(r.rows[0]!.n), `${t.name} rows`).to.equal(t.rows);
      }
    } finally {
      await pool.end();
    }
    // A supporter message and a tenant event acked before the backup started is in it.
    expect(supporters.ackedBefore(backupStart).length).to.be.greaterThan(0);
    expect(tenantEvents.ackedBefore(backupStart).length).to.be.greaterThan(0);

    phase(`restore done (exit ${restored.code})`);
    // A node on the restored data finishes the receipts that were in flight.
    sims.warehouse.setConfig({ latencyMs: { min: 20, max: 100 } });
    const port = await freePort();
    const bStart = Date.now();
    nodeB = await startChild(env("b", port, { NATS_URL: target.url, DATABASE_URL: db.url }), `${ns}-b`);
    phase("node b ready");
    const status = async (id: string): Promise<string> => {
      const res = await fetch(`${nodeB!.url}/api/v1/receipts/${id}/status`, {
        headers: { Authorization: `Bearer ${apiKey}` },
      });
      return res.ok ? ((await res.json()) as { status: string }).status : `HTTP ${res.status}`;
    };
    const ids = acceptedBefore;
    let seen: string[] = [];
    await waitFor(
      `${ids.length} receipts accepted after the restore`,
      async () => (seen = await Promise.all(ids.map(status))).every((s) => s === "ACCEPTED"),
      90_000,
      500,
    ).catch((err: Error) => {
      const by: Record<string, number> = {};
      for (const s of seen) by[s] = (by[s] ?? 0) + 1;
      throw new Error(`${err.message}: ${JSON.stringify(by)}`);
    });
    t.complete = Date.now() - bStart;
    expect(sims.tax.book.summary().doubleRegistrations).to.equal(0);
    expect(sims.warehouse.book.summary().doubleRegistrations).to.equal(0);
    for (const id of inFlight) {
      expect(sims.tax.book.counts(id)?.registrations, `${id} tax`).to.equal(1);
      expect(sims.warehouse.book.counts(id)?.registrations, `${id} warehouse`).to.equal(1);
    }
    process.stdout.write(
      `      backup: ${manifest.streams.length} streams, ${report.messages} messages, ${report.rows} rows; ${inFlight.length} receipts in flight at its start, all ACCEPTED after the restore; backup ${t.backup} ms, restore ${t.restore} ms, node start to all accepted ${t.complete} ms\n`,
    );
  });
});
