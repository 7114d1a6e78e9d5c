/**
 * The archive job killed between its steps (kill -9 of a child process, on real Postgres and
 * the JetStream object store): after each kill every receipt is in exactly one place (its
 * Postgres partition or the sealed archive), and the run that resumes ends with every month
 * sealed, its partition dropped, and the archived rows' count and checksum equal to what
 * Postgres held before.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import { pgChecksumSql, partitionOf, duckChecksumSql } from "../../services/archive/dataset";
import { rows, withConnection, lit } from "../../services/archive/duck";
import type { Pool } from "../../db";
import { cleanupNamespace, freshNamespace, nodeEnv } from "../support/namespace";
import { DATASET, census, insertMonth, openArchiveParts, prepareSchema } from "./fixtures";

const CHILD = path.join(__dirname, "seal-child.ts");
const CLIENTS = ["c-one", "c-two", "c-three"];
const MONTHS = ["2024-01", "2024-02"];

/** Runs the job; resolves with its output once it printed `until` (then kills it with SIGKILL) or exited. */
function runJob(ns: string, env: Record<string, string>, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
      env: nodeEnv(ns, { NOW: "2024-06-15T00:00:00Z", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (until && until.test(out)) child.kill("SIGKILL");
    });
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL" || code === 0) resolve(out);
      else reject(new Error(`job exited ${code}: ${err}`));
    });
  });
}

async function pgSums(pg: Pool): Promise<Map<string, { n: number; checksum: string }>> {
  const out = new Map<string, { n: number; checksum: string }>();
  for (const m of MONTHS) {
    const r = await pg.query<{ n: string; checksum: string }>(pgChecksumSql(DATASET, partitionOf(DATASET, m)));
    out.set(m, { n: Number(r.rows[0]!.n), checksum: r.rows[0]!.checksum });
  }
  return out;
}

describe("archive job: crash between steps", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tarc");
  let pg: Pool;
  const all: string[] = [];
  let baseline: Map<string, { n: number; checksum: string }>;

  before(async function () {
    pg = await prepareSchema(ns);
    for (const m of MONTHS) all.push(...(await insertMonth(pg, m, 600, CLIENTS)));
    // a month inside the hot window stays in Postgres
    all.push(...(await insertMonth(pg, "2024-06", 30, CLIENTS)));
    baseline = await pgSums(pg);
  });
  after(async function () {
    await pg?.end();
    await cleanupNamespace(ns);
  });

  async function expectEachOnce(): Promise<{ pg: number; archive: number }> {
    const parts = await openArchiveParts(ns);
    try {
      const c = await census(parts, CLIENTS);
      const seen = [...c.pg, ...c.archive].sort();
      expect(seen.length, "no receipt doubled or lost").to.equal(all.length);
      expect(seen).to.deep.equal([...all].sort());
      return { pg: c.pg.length, archive: c.archive.length };
    } finally {
      await parts.close();
    }
  }

  for (const step of ["written", "verified", "manifested", "sealed"]) {
    it(`killed after "${step}" of ${MONTHS[0]}: each receipt in exactly one place`, async function () {
      const out = await runJob(ns, { PAUSE_AT: step, PAUSE_MONTH: MONTHS[0]! }, /PAUSED/);
      expect(out).to.contain(`PAUSED ${MONTHS[0]} ${step}`);
      const where = await expectEachOnce();
      // only once sealed is the month served by the archive (and gone from Postgres)
      expect(where.archive).to.equal(step === "sealed" ? 600 : 0);
    });
  }

  it("killed after writing the next month, then resumed to the end: all due months sealed, counts and checksums match", async function () {
    await runJob(ns, { PAUSE_AT: "written", PAUSE_MONTH: MONTHS[1]! }, /PAUSED/);
    const out = await runJob(ns, {});
    expect(out).to.contain("DONE");
    const where = await expectEachOnce();
    expect(where).to.deep.equal({ pg: 30, archive: 1200 });
    const parts = await openArchiveParts(ns);
    try {
      for (const m of MONTHS) {
        const e = await parts.months.get(DATASET.name, m);
        expect(e?.state).to.equal("sealed");
        expect(e?.rows).to.equal(baseline.get(m)!.n);
        expect(e?.checksum).to.equal(baseline.get(m)!.checksum);
        const exists = await pg.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [partitionOf(DATASET, m)]);
        expect(exists.rows[0]?.t, `partition of ${m} dropped`).to.equal(null);
        // the stored file, read back, has the same count and checksum as Postgres had
        const file = await parts.reader.files(DATASET);
        const cols = DATASET.columns.map((c) => `"${c.name}"`).join(", ");
        const sum = await withConnection(parts.duck, (c) =>
          rows(
            c,
            duckChecksumSql(
              DATASET,
              `(SELECT ${cols} FROM read_parquet([${file.map(lit).join(", ")}]) WHERE strftime(created_at, '%Y-%m') = '${m}')`,
            ),
          ),
        );
        expect(sum[0]?.["n"]).to.equal(baseline.get(m)!.n);
        expect(sum[0]?.["checksum"]).to.equal(baseline.get(m)!.checksum);
      }
      // the manifest objects are there
      expect((await parts.store.list("receipts/_manifests/")).map((o) => o.key)).to.deep.equal(
        MONTHS.map((m) => `receipts/_manifests/${m}.json`),
      );
      // a second run finds nothing to do and changes nothing
      const again = await parts.sealer.sealDue(DATASET, Date.parse("2024-06-15T00:00:00Z"));
      expect(again).to.deep.equal([]);
    } finally {
      await parts.close();
    }
  });
});
