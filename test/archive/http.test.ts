/**
 * Through real HTTP on a node hosting the gateway, receipts and the archive (real NATS,
 * Postgres, the JetStream object store): hot and archived receipts in one listing with one
 * keyset cursor, GET by id of an archived receipt, isolation between clients in listings,
 * exports and analytics, an export download URL that expires, and operators' SQL that tries to
 * write or runs too long refused with a clear 4xx.
 */
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createPool, type Pool } from "../../db";
import { signDownload } from "../../services/archive/exports";
import { DATABASE_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  startInProcess,
  startSims,
  type InProcessNode,
  type Sims,
} from "../receipts/harness";
import { insertAt, insertMonth } from "./fixtures";

const SECRET = "archive-test-url-secret";

describe("archive through HTTP: hot + archived reads, isolation, exports, analytics", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tarh");
  let sims: Sims;
  let n: InProcessNode;
  let pg: Pool;
  let dir: string;
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  let all: { id: string; apiKey: string };
  let admin: { id: string; apiKey: string };
  const idsOf = new Map<string, string[]>();

  before(async function () {
    sims = await startSims();
    dir = await mkdtemp(path.join(os.tmpdir(), "sy-archive-http-"));
    const port = await freePort();
    n = await startInProcess(
      receiptsEnv(ns, "arch-1", port, sims, {
        SERVICES: "runtime,gateway,receipts,archive",
        ARCHIVE_DIR: dir,
        ARCHIVE_INTERVAL_MS: "3600000",
        ARCHIVE_LEASE_MS: "3000",
        ARCHIVE_URL_SECRET: SECRET,
        ARCHIVE_SQL_TIMEOUT_MS: "500",
        ARCHIVE_EXPORT_URL_TTL_S: "600",
      }),
    );
    const mk = async (scopes: string[]) => {
      const c = await makeClient(n.node, scopes);
      return { id: c.client.id, apiKey: c.apiKey };
    };
    a = await mk(["receipts:read", "analytics:read"]);
    b = await mk(["receipts:read", "analytics:read"]);
    all = await mk(["analytics:read", "analytics:all"]);
    admin = await mk(["admin"]);
    pg = createPool(DATABASE_URL, ns, 2);
    // two old months (the New Year holidays of season 2024) and some hot receipts of this month
    const old = [
      ...(await insertMonth(pg, "2023-12", 120, [a.id, b.id])),
      ...(await insertMonth(pg, "2024-01", 120, [a.id, b.id])),
    ];
    const now = Date.now();
    const hot = await insertAt(
      pg,
      Array.from({ length: 40 }, (_, i) => now - (i + 1) * 3600_000),
      [a.id, b.id],
    );
    idsOf.set(
      a.id,
      [...old, ...hot].filter((_, i) => i % 2 === 0),
    );
    idsOf.set(
      b.id,
      [...old, ...hot].filter((_, i) => i % 2 === 1),
    );
    // the node holds the job's lease, then seals what is due
    await waitFor(
      "archive lease",
      async () => ((await n.node.broker.call("archive.status")) as any).job.holding,
      20_000,
    );
    const r: any = await n.node.broker.call("archive.sealNow");
    expect(r.error).to.equal(null);
    expect(r.sealed.map((s: any) => s.month)).to.deep.equal(["2023-12", "2024-01"]);
  });

  after(async function () {
    await pg?.end();
    await n?.stop();
    await sims?.close();
    await cleanupReceipts(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function pages(key: string, limit: number, query = ""): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let count = 0;
    do {
      const r = await call(
        `${n.url}/api/v1/receipts?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        key,
      );
      expect(r.status, r.text).to.equal(200);
      ids.push(...r.json.items.map((x: any) => x.id));
      cursor = r.json.nextCursor;
      count++;
    } while (cursor);
    return { ids, pages: count };
  }

  it("the old months are sealed: their partitions are gone", async function () {
    for (const p of ["receipts_202312", "receipts_202401"]) {
      const r = await pg.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [p]);
      expect(r.rows[0]?.t, p).to.equal(null);
    }
  });

  it("lists hot and archived receipts in one listing, newest first, across pages with one cursor, only the caller's", async function () {
    for (const c of [a, b]) {
      const got = await pages(c.apiKey, 37);
      const want = [...idsOf.get(c.id)!].sort().reverse();
      expect(got.ids).to.deep.equal(want);
      expect(got.pages).to.equal(Math.ceil(want.length / 37));
    }
  });

  it("filters and ranges apply to archived receipts too", async function () {
    const r = await call(
      `${n.url}/api/v1/receipts?from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z&limit=1000&status=ACCEPTED`,
      a.apiKey,
    );
    expect(r.status, r.text).to.equal(200);
    expect(r.json.items).to.have.length(60);
    expect(r.json.items.every((x: any) => x.createdAt.startsWith("2024-01") && x.status === "ACCEPTED")).to.equal(true);
    const none = await call(
      `${n.url}/api/v1/receipts?from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z&status=FAILED`,
      a.apiKey,
    );
    expect(none.json.items).to.deep.equal([]);
  });

  it("GET by id answers an archived receipt with its document and original; another client's is a 404", async function () {
    const id = idsOf.get(a.id)![0]!;
    const r = await call(`${n.url}/api/v1/receipts/${id}`, a.apiKey);
    expect(r.status, r.text).to.equal(200);
    expect(r.json.id).to.equal(id);
    expect(r.json.document.type).to.equal("retail");
    const o = await call(`${n.url}/api/v1/receipts/${id}/original`, a.apiKey);
    expect(o.status).to.equal(200);
    expect(JSON.parse(o.text)).to.deep.equal(r.json.document);
    const other = await call(`${n.url}/api/v1/receipts/${id}`, b.apiKey);
    expect(other.status).to.equal(404);
    expect(other.json.error.code).to.equal("NOT_FOUND");
  });

  it("exports a client's receipts to a file behind a signed URL; others cannot see it; the URL expires", async function () {
    const start = await call(`${n.url}/api/v1/archive/receipts/exports`, a.apiKey, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ format: "jsonl" }),
    });
    expect(start.status, start.text).to.equal(202);
    const id = start.json.id as string;
    const done = await waitFor("export done", async () => {
      const s = await call(`${n.url}/api/v1/archive/exports/${id}`, a.apiKey);
      return s.json.state === "done" ? s.json : undefined;
    });
    expect(done.rows).to.equal(idsOf.get(a.id)!.length);
    expect(Date.parse(done.expiresAt) - Date.now()).to.be.within(500_000, 601_000);
    const file = await call(done.downloadUrl, null);
    expect(file.status).to.equal(200);
    const lines = file.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id).sort()).to.deep.equal([...idsOf.get(a.id)!].sort());
    // isolation
    expect((await call(`${n.url}/api/v1/archive/exports/${id}`, b.apiKey)).status).to.equal(404);
    // a bad signature, and a link past its expiry (signed like a real one)
    const url = new URL(done.downloadUrl);
    url.searchParams.set("signature", "x".repeat(43));
    const bad = await call(url.toString(), null);
    expect(bad.status).to.equal(403);
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = await call(
      `${n.url}/api/v1/archive/downloads/${id}?expires=${past}&signature=${signDownload(SECRET, id, past)}`,
      null,
    );
    expect(expired.status).to.equal(403);
    expect(expired.json.error.message).to.match(/expired/);
    // the export needs the dataset's read scope
    const noScope = await call(`${n.url}/api/v1/archive/receipts/exports`, all.apiKey, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(noScope.status).to.equal(403);
  });

  it("runs the New Year query over the caller's own receipts; across clients only with analytics:all", async function () {
    const run = (key: string, body: object) =>
      call(`${n.url}/api/v1/analytics/receipts/queries/new-year`, key, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const own = await run(a.apiKey, { params: { fromSeason: 2024, toSeason: 2024 } });
    expect(own.status, own.text).to.equal(200);
    expect(own.json.scope).to.equal("own");
    const ownCount = own.json.rows.reduce((s: number, r: any) => s + r.receipts, 0);
    // what the holidays hold of A's receipts, counted from Postgres-side knowledge of the fixture
    const inWindow = (id: string): boolean => {
      const t = new Date(
        parseInt(
          id
            .slice(0, 10)
            .split("")
            .reduce((acc, ch) => acc * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".indexOf(ch), 0)
            .toString(),
        ),
      );
      return (t.getUTCMonth() === 11 && t.getUTCDate() >= 24) || (t.getUTCMonth() === 0 && t.getUTCDate() <= 7);
    };
    const old = idsOf.get(a.id)!.filter((id) => id.slice(0, 10) < idsOf.get(a.id)!.at(-1)!.slice(0, 10));
    expect(ownCount).to.equal(old.filter(inWindow).length);
    expect(own.json.rows[0].top_items.length).to.be.greaterThan(0);
    const refused = await run(a.apiKey, { allClients: true });
    expect(refused.status).to.equal(403);
    const wide = await run(all.apiKey, { allClients: true, params: { fromSeason: 2024, toSeason: 2024 } });
    expect(wide.status, wide.text).to.equal(200);
    const wideCount = wide.json.rows.reduce((s: number, r: any) => s + r.receipts, 0);
    expect(wideCount).to.be.greaterThan(ownCount);
    const bad = await run(a.apiKey, { params: { top: 0 } });
    expect(bad.status).to.equal(400);
  });

  it("per-client trend: one client's months only", async function () {
    const r = await call(`${n.url}/api/v1/analytics/receipts/queries/client-trend`, b.apiKey, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ params: { from: "2023-01-01T00:00:00Z" } }),
    });
    expect(r.status, r.text).to.equal(200);
    expect(r.json.rows.map((x: any) => x.month)).to.deep.equal(["2023-12", "2024-01"]);
    expect(r.json.rows.map((x: any) => x.receipts)).to.deep.equal([60, 60]);
  });

  it("operators' SQL reads; writes, file access, several statements and long queries are refused with a clear 4xx", async function () {
    const sql = (q: string, key = admin.apiKey) =>
      call(`${n.url}/api/v1/admin/analytics/sql`, key, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ dataset: "receipts", sql: q }),
      });
    const ok = await sql("SELECT client_id, count(*) AS n FROM dataset GROUP BY 1 ORDER BY 1");
    expect(ok.status, ok.text).to.equal(200);
    expect(ok.json.rows.reduce((s: number, r: any) => s + r.n, 0)).to.equal(240);
    for (const q of [
      "DELETE FROM dataset",
      "CREATE TABLE x AS SELECT 1",
      "COPY (SELECT 1) TO '/tmp/x.csv'",
      "SELECT 1; SELECT 2",
      "SELECT * FROM read_csv('/etc/passwd')",
      "ATTACH '/tmp/other.db'",
    ]) {
      const r = await sql(q);
      expect(r.status, `${q}: ${r.text}`).to.be.within(400, 499);
      expect(r.json.error.message, q).to.be.a("string").and.not.equal("");
    }
    const long = await sql(
      "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE (a.range * b.range) % 7 = 3",
    );
    expect(long.status, long.text).to.equal(422);
    expect(long.json.error.code).to.equal("QUERY_TIMEOUT");
    const notAdmin = await sql("SELECT 1", a.apiKey);
    expect(notAdmin.status).to.equal(403);
  });
});
