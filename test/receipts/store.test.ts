/** The Postgres receipt store on the real Postgres, in a schema of its own. */
import { expect } from "chai";
import { createPool, dropSchema, migrate, type Pool } from "../../db";
import { DATABASE_URL, freshNamespace } from "../support/namespace";
import { createReceiptStore, receiptMigrations, decodeCursor, type ReceiptStore } from "../../services/receipts/store";
import type { ReceiptRecord } from "../../services/receipts/record";
import { newReceiptId } from "../../services/receipts/ids";
import { AppError } from "../../lib/errors";

function record(clientId: string, createdAt: number, over: Partial<ReceiptRecord> = {}): ReceiptRecord {
  const original = Buffer.from(`<x id="${createdAt}">é</x>`, "utf8");
  return {
    id: newReceiptId(createdAt),
    clientId,
    type: "retail",
    typeVersion: 1,
    format: "xml",
    contentType: "application/xml; charset=utf-8",
    createdAt,
    idempotencyKey: null,
    fingerprint: "f",
    callbackUrl: null,
    summary: { issuedAt: new Date(createdAt).toISOString(), total: 12.5, currency: "EUR" },
    document: { type: "retail", n: createdAt },
    original: original.toString("base64"),
    ...over,
  };
}

describe("receipt store (Postgres)", function () {
  const ns = freshNamespace("tr");
  let pool: Pool;
  let store: ReceiptStore;

  before(async () => {
    pool = createPool(DATABASE_URL, ns, 4);
    await migrate(pool, ns, receiptMigrations);
    store = createReceiptStore({ pg: pool });
  });
  after(async () => {
    await dropSchema(pool, ns);
    await pool.end();
  });

  it("creates monthly partitions ahead, idempotently", async () => {
    const parts = await pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND i.inhparent = (SELECT oid FROM pg_class WHERE relname = 'receipts' AND relnamespace = n.oid) ORDER BY 1`,
      [ns],
    );
    expect(parts.rows.length).to.be.at.least(5);
    const thisMonth = new Date().toISOString().slice(0, 7).replace("-", "");
    expect(parts.rows.map((r) => r.relname)).to.include(`receipts_${thisMonth}`);
    expect(await store.ensurePartitions(new Date(), 3)).to.equal(0);
  });

  it("inserts batches once (replays change nothing) and reads by id with the exact original bytes", async () => {
    const now = Date.now();
    const recs = [record("c1", now), record("c1", now + 1), record("c2", now + 2)];
    expect(await store.insertBatch(recs)).to.equal(3);
    expect(await store.insertBatch(recs)).to.equal(0);
    const got = await store.get(recs[0]!.id);
    expect(got).to.deep.include({
      id: recs[0]!.id,
      clientId: "c1",
      type: "retail",
      format: "xml",
      status: "RECEIVED",
      total: 12.5,
      currency: "EUR",
    });
    expect(got!.document).to.deep.equal({ type: "retail", n: now });
    const orig = await store.original(recs[0]!.id);
    expect(orig!.contentType).to.equal("application/xml; charset=utf-8");
    expect(orig!.bytes.equals(Buffer.from(recs[0]!.original, "base64"))).to.equal(true);
    expect(await store.get(newReceiptId(now))).to.equal(undefined);
  });

  it("stores receipts of any month: partitions for old months are created on demand", async () => {
    const old = Date.UTC(2007, 0, 5);
    const r = record("c-old", old);
    expect(await store.insertBatch([r])).to.equal(1);
    expect((await store.get(r.id))?.createdAt).to.equal(new Date(old).toISOString());
  });

  it("applies status updates by version and reports updates whose row is not there yet", async () => {
    const now = Date.now();
    const r = record("c3", now);
    await store.insertBatch([r]);
    const upd = (version: number, status: "REGISTERING" | "ACCEPTED") => ({
      id: r.id,
      createdAt: r.createdAt,
      version,
      status,
      updatedAt: now + version,
      taxReference: status === "ACCEPTED" ? "T-1" : null,
      warehouseReference: status === "ACCEPTED" ? "W-1" : null,
      reason: null,
    });
    const ghost = { ...upd(1, "REGISTERING"), id: newReceiptId(now) };
    expect(await store.applyStatusBatch([upd(3, "ACCEPTED"), upd(1, "REGISTERING"), ghost])).to.deep.equal({
      missing: [ghost.id],
    });
    // an older version arriving late changes nothing
    expect(await store.applyStatusBatch([upd(2, "REGISTERING")])).to.deep.equal({ missing: [] });
    const got = await store.get(r.id);
    expect(got).to.deep.include({ status: "ACCEPTED", references: { tax: "T-1", warehouse: "W-1" } });
  });

  it("lists a client's receipts newest first with keyset pagination, filters and no one else's", async () => {
    const base = Date.UTC(2024, 11, 30, 23, 59, 59);
    const mine = Array.from({ length: 25 }, (_, i) =>
      record("lister", base + i * 3600_000, { type: i % 2 === 0 ? "retail" : "invoice" }),
    );
    await store.insertBatch([...mine, record("someone-else", base + 5)]);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ clientId: "lister", limit: 10, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).to.equal(3);
    expect(seen).to.deep.equal(mine.map((m) => m.id).reverse());
    const ranged = await store.list({
      clientId: "lister",
      from: new Date(base + 5 * 3600_000),
      to: new Date(base + 10 * 3600_000),
      type: "invoice",
    });
    expect(ranged.items.map((i) => i.id)).to.deep.equal([mine[9]!.id, mine[7]!.id, mine[5]!.id]);
    expect(ranged.nextCursor).to.equal(null);
    const none = await store.list({ clientId: "lister", status: "ACCEPTED" });
    expect(none.items).to.deep.equal([]);
  });

  it("uses the client index for a page (no sort of the whole history)", async () => {
    const plan = await pool.query<{ "QUERY PLAN": string }>(
      `EXPLAIN SELECT id FROM receipts WHERE client_id = 'lister' AND created_at >= '2000-01-01' AND created_at < '2030-01-01'
         AND (created_at, id) < ('2025-01-01'::timestamptz, 'Z') ORDER BY created_at DESC, id DESC LIMIT 10`,
    );
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).to.match(/Index (Only )?Scan using receipts_\d+_client_id_created_at_id_idx|receipts_client_created/);
    expect(text).to.not.match(/^\s*->\s*Sort/m);
  });

  it("finds receipts in flight for long and their submissions (the sweeper's queries)", async () => {
    const now = Date.now();
    const stuck = record("c9", now - 60_000);
    const fresh = record("c9", now - 1000);
    const done = record("c9", now - 60_000);
    await store.insertBatch([stuck, fresh, done]);
    const upd = (r: ReceiptRecord, status: "REGISTERING" | "ACCEPTED") => ({
      id: r.id,
      createdAt: r.createdAt,
      version: 1,
      status,
      updatedAt: r.createdAt,
      taxReference: null,
      warehouseReference: null,
      reason: null,
    });
    await store.applyStatusBatch([upd(stuck, "REGISTERING"), upd(fresh, "REGISTERING"), upd(done, "ACCEPTED")]);
    const ids = await store.stalled("REGISTERING", new Date(now - 10_000), new Date(now - 3600_000), 100);
    expect(ids).to.deep.equal([stuck.id]);
    const orphan = record("c9", now - 120_000, { callbackUrl: "https://c.example/h" });
    await store.insertBatch([orphan]);
    expect(await store.stalled("RECEIVED", new Date(now - 60_000), new Date(now - 3600_000), 100)).to.include(
      orphan.id,
    );
    const sub = await store.submission(orphan.id);
    expect(sub).to.deep.equal({
      id: orphan.id,
      clientId: "c9",
      type: "retail",
      format: "xml",
      createdAt: orphan.createdAt,
      callbackUrl: "https://c.example/h",
      summary: orphan.summary,
      document: orphan.document,
    });
  });

  it("refuses cursors it did not make", () => {
    expect(() => decodeCursor("garbage")).to.throw(AppError);
    expect(() => decodeCursor(Buffer.from('["x","y"]').toString("base64url"))).to.throw(AppError);
  });
});
