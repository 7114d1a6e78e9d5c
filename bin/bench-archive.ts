/**
 * `npm run bench:archive`: receipts over 20 years, read through the real HTTP API.
 *
 * Builds a history scaled to this disk in a fresh namespace: BENCH_ARCHIVE_ROWS (default
 * 9,200,000) receipts over the 239 months before the hot window, generated in DuckDB and
 * written straight through the archive writer (Parquet, read back and checksummed, manifest),
 * to an S3 server (s3rver started here: the production S3 path); one more month of
 * BENCH_SEAL_ROWS put in Postgres and sealed by the archive job proper (Postgres -> Parquet ->
 * verified -> partition dropped); and BENCH_HOT_ROWS (default 1,000,000) receipts of the last 30
 * days in Postgres. 1,000 clients: one large client holds 2% (so that a 30-day page of 10,000
 * exists), the others share the rest evenly (about 10,000 each over 20 years).
 *
 * Then, through a node in this process (gateway, receipts, archive), measures p50/p99 of:
 * a 30-day page of 10,000 (the large client), a 20-year page of 10,000 (average clients: the
 * page spans every year), an archived receipt by id, and the New Year query across 20 years
 * and all clients (scope analytics:all). Reports archive throughput (rows/s of the generated
 * history and of the sealed month) and bytes per receipt. Prints the figures and writes
 * bench-results/archive.json; removes everything afterwards.
 *
 * Env: BENCH_ARCHIVE_ROWS, BENCH_HOT_ROWS, BENCH_SEAL_ROWS (40,000), BENCH_RUNS (20),
 * BENCH_ID_RUNS (200), BENCH_NY_RUNS (5), BENCH_KEEP (1: keep the namespace and files).
 */
// the answers are loosely typed JSON read for figures only
/* eslint-disable @typescript-eslint/no-explicit-any */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../node/config";
import { startNode } from "../node/start";
import { createLogger } from "../lib/logger";
import { createPool, migrate } from "../db";
import { clientAdminDeps, createClient } from "../services/gateway/clients";
import { receiptMigrations } from "../services/receipts/store";
import { receiptsDataset } from "../services/receipts/dataset";
import { archiveMigrations } from "../services/archive/manifest";
import { openArchiveParts } from "../services/archive/parts";
import { monthOf, monthRange } from "../services/archive/dataset";
import { rows, withConnection, lit } from "../services/archive/duck";
import { connectNats } from "../nats";
import { cleanupNamespace, DATABASE_URL, freshNamespace, NATS_URL, REDIS_URL } from "../test/support/namespace";
import { cleanupRedis } from "../test/gateway/harness";
import { freePort } from "../test/support/ports";
import { waitFor } from "../test/support/wait";
import { startS3rver } from "../test/storage/s3server";
import { insertAt } from "../test/archive/fixtures";

const log = createLogger({ level: "info", name: "bench:archive" });
const ARCHIVE_ROWS = Number(process.env["BENCH_ARCHIVE_ROWS"] ?? 9_200_000);
const HOT_ROWS = Number(process.env["BENCH_HOT_ROWS"] ?? 1_000_000);
const SEAL_ROWS = Number(process.env["BENCH_SEAL_ROWS"] ?? 40_000);
const RUNS = Number(process.env["BENCH_RUNS"] ?? 20);
const ID_RUNS = Number(process.env["BENCH_ID_RUNS"] ?? 200);
const NY_RUNS = Number(process.env["BENCH_NY_RUNS"] ?? 5);
const KEEP = process.env["BENCH_KEEP"] === "1";
const CLIENTS = 1000;
const DAY = 86_400_000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const stats = (xs: number[]) => ({
  n: xs.length,
  p50: Math.round(pct(xs, 50)),
  p99: Math.round(pct(xs, 99)),
  max: Math.round(Math.max(...xs)),
});

/** DuckDB SQL: ULID-like id of epoch ms `ms` (10 Crockford characters of time) and a unique tail. */
const ULID_TIME = (ms: string) =>
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    .map((k) => `substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', CAST((${ms} // ${32 ** k}) % 32 AS INTEGER) + 1, 1)`)
    .join(" || ");

const PRODUCTS = [
  "Bread",
  "Milk 2.5% 1 l",
  "Apples",
  "Cheese",
  "Coffee",
  "Tea",
  "Eggs",
  "Butter",
  "Rice",
  "Pasta",
  "Chicken",
  "Fish",
  "Juice",
  "Water",
  "Chocolate",
  "Candles",
  "Toys",
  "Wine",
];
const FESTIVE = ["Champagne", "Tangerines", "Olivier salad", "Gift box"];

/** DuckDB SQL generating `n` receipts of `month` (clients 1-5 are the measured ones, the rest `cl_benchNNNNNNNN`). */
let FIRST: string[] = [];
let FIRST_LIT = "[]";

function generateSql(month: string, n: number, seed: number): string {
  const [lo, hi] = monthRange(month);
  const festive = month.endsWith("-12") || month.endsWith("-01");
  const names = festive ? [...FESTIVE, ...PRODUCTS] : PRODUCTS;
  const namesLit = `[${names.map(lit).join(", ")}]`;
  return `
WITH g AS (
  SELECT i,
         ${lo} + CAST(floor((i + 0.5) * ${hi - lo} / ${n}) AS BIGINT) AS ms,
         CASE WHEN hash(i, ${seed}) % 50 = 0 THEN 1 ELSE 2 + CAST(hash(i, ${seed}, 7) % ${CLIENTS - 1} AS INTEGER) END AS ci,
         ${namesLit}[1 + CAST(hash(i, ${seed}, 1) % ${names.length} AS INTEGER)] AS p1,
         ${namesLit}[1 + CAST(hash(i, ${seed}, 2) % ${names.length} AS INTEGER)] AS p2,
         CAST(10 + hash(i, ${seed}, 3) % 400 AS INTEGER) AS a1,
         CAST(5 + hash(i, ${seed}, 4) % 100 AS INTEGER) AS a2
    FROM range(${n}) t(i)
), d AS (
  SELECT *, ${ULID_TIME("ms")} || upper(substr(md5(CAST(i AS VARCHAR) || '-${seed}'), 1, 16)) AS id,
         make_timestamptz(ms * 1000) AS ts,
         printf('{"type":"retail","receiptNumber":"R-%d-%d","issuedAt":"%s","currency":"UAH","store":{"id":"S-%03d","name":"Store %d"},"cashier":"Olena","lines":[{"sku":"%d","name":"%s","quantity":1,"unitPrice":%d,"vatRate":20,"amount":%d},{"sku":"%d","name":"%s","quantity":2,"unitPrice":%d,"vatRate":0,"amount":%d}],"totals":{"net":%d,"vat":%d,"gross":%d},"payments":[{"method":"card","amount":%d}]}',
           ${seed}, i, strftime(make_timestamptz(ms * 1000), '%Y-%m-%dT%H:%M:%SZ'), ci % 200, ci % 200, hash(p1) % 100000, p1, a1, a1, hash(p2) % 100000, p2, a2, 2 * a2,
           a1 + 2 * a2 - (a1 // 6), a1 // 6, a1 + 2 * a2, a1 + 2 * a2) AS doc
    FROM g
)
SELECT id, CASE WHEN ci <= ${FIRST.length} THEN ${FIRST_LIT}[ci] ELSE 'cl_bench' || lpad(CAST(ci - 1 AS VARCHAR), 8, '0') END AS client_id, ts AS created_at, ts + INTERVAL 3 SECOND AS updated_at, 'retail' AS type, 1 AS type_version,
       'json' AS format, 'ACCEPTED' AS status, 3 AS version, ts AS issued_at, CAST(a1 + 2 * a2 AS DECIMAL(20,2)) AS total,
       'UAH' AS currency, 'TAX-' || substr(id, 11, 8) AS tax_reference, 'WH-' || substr(id, 19, 8) AS warehouse_reference,
       CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS VARCHAR) AS idempotency_key, md5(doc) AS fingerprint,
       'application/json' AS content_type, CAST(NULL AS VARCHAR) AS callback_url, encode(doc) AS original, CAST(doc AS JSON) AS document,
       [{'sku': CAST(hash(p1) % 100000 AS VARCHAR), 'name': p1, 'quantity': 1.0, 'amount': CAST(a1 AS DOUBLE)},
        {'sku': CAST(hash(p2) % 100000 AS VARCHAR), 'name': p2, 'quantity': 2.0, 'amount': CAST(2 * a2 AS DOUBLE)}] AS items
  FROM d`;
}

async function main(): Promise<void> {
  const ns = freshNamespace("bar");
  const dir = await mkdtemp(path.join(os.tmpdir(), "sy-bench-archive-"));
  const s3 = await startS3rver("bench");
  const port = await freePort();
  const env: Record<string, string> = {
    NAMESPACE: ns,
    NODE_ID: "bench-archive-1",
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime,gateway,receipts,archive",
    OBJECT_STORE: "s3",
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: "bench",
    S3_ACCESS_KEY: s3.accessKeyId,
    S3_SECRET_KEY: s3.secretAccessKey,
    ARCHIVE_DIR: dir,
    ARCHIVE_INTERVAL_MS: String(7 * DAY),
    ARCHIVE_QUERY_TIMEOUT_MS: "120000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    RECEIPT_MAX_LAG_MS: "0",
  };
  const config = loadConfig(env);
  const pg = createPool(DATABASE_URL, ns, 4);
  const out: Record<string, unknown> = { namespace: ns, caveat: "shared 2-core box: indicative figures" };
  try {
    await migrate(pg, ns, [...receiptMigrations, ...archiveMigrations]);
    const node = await startNode(config);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      "node ready",
      async () => (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200,
      60_000,
      200,
    );
    const mk = async (scopes: string[]) => {
      const c = await createClient(clientAdminDeps(node.ctx), {
        name: `bench-${Math.random().toString(36).slice(2, 8)}`,
        scopes,
      });
      return { id: c.client.id, key: c.apiKey };
    };
    const big = await mk(["receipts:read"]);
    const avg = await Promise.all([0, 1, 2, 3].map(() => mk(["receipts:read"])));
    const analyst = await mk(["analytics:read", "analytics:all"]);
    const clientIds = [big.id, ...avg.map((a) => a.id)];
    for (let i = clientIds.length; i < CLIENTS; i++) clientIds.push(`cl_bench${String(i).padStart(8, "0")}`);
    FIRST = clientIds.slice(0, 5);
    FIRST_LIT = `[${FIRST.map(lit).join(", ")}]`;

    // ---- the old years, straight through the archive writer
    const nats = await connectNats(NATS_URL, `bench-archive-${ns}`);
    const d = receiptsDataset(30);
    const parts = await openArchiveParts(config.archive, pg, nats.nc, 1, log.child({ part: "writer" }));
    const now = Date.now();
    // ---- the last 30 days in Postgres (generated server-side, on its own connection, while the old years are written)
    const hotDone = (async () => {
      const h0 = Date.now();
      const hotFrom = now - 30 * DAY;
      await pg.query("SELECT receipts_ensure_partitions($1::date, 3)", [`${monthOf(hotFrom)}-01`]);
      const BATCH = 100_000;
      for (let off = 0; off < HOT_ROWS; off += BATCH) {
        await pg.query(
          `WITH g AS (
           SELECT i, ($1::bigint + floor((i + 0.5) * ($2::bigint - $1::bigint) / $3::bigint))::bigint AS ms,
                  CASE WHEN i % 50 = 0 THEN 1 ELSE 2 + (abs(hashint4(i)) % ${CLIENTS - 1}) END AS ci
             FROM generate_series($4::int, $5::int) i
         ), d AS (
           SELECT i, ms, ci, (substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 35184372088832::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 1099511627776::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 34359738368::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 1073741824::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 33554432::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 1048576::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 32768::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 1024::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 32::bigint) % 32)::int + 1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms / 1::bigint) % 32)::int + 1, 1))
                    || upper(substr(md5(i::text || '-hot'), 1, 16)) AS id,
                  to_timestamp(ms / 1000.0) AS at,
                  format('{"type":"retail","receiptNumber":"H-%s","currency":"UAH","lines":[{"sku":"1","name":"Bread","quantity":1,"unitPrice":%s,"vatRate":20,"amount":%s}],"totals":{"net":%s,"vat":0,"gross":%s}}', i, 10 + i % 300, 10 + i % 300, 10 + i % 300, 10 + i % 300) AS doc
             FROM g
         )
         INSERT INTO receipts (id, client_id, created_at, updated_at, type, type_version, format, status, version, issued_at, total, currency,
                               fingerprint, content_type, original, document)
         SELECT id, CASE WHEN ci <= cardinality($6::text[]) THEN ($6::text[])[ci] ELSE 'cl_bench' || lpad((ci - 1)::text, 8, '0') END, at, at, 'retail', 1, 'json', 'ACCEPTED', 3, at, 10 + i % 300, 'UAH', md5(doc), 'application/json', convert_to(doc, 'UTF8'), doc::jsonb
           FROM d`,
          [hotFrom, now - 60_000, HOT_ROWS, off, Math.min(HOT_ROWS, off + BATCH) - 1, clientIds.slice(0, 5)],
        );
        log.info({ rows: Math.min(HOT_ROWS, off + BATCH) }, "hot rows inserted");
      }
      return Date.now() - h0;
    })();
    hotDone.catch(() => undefined); // awaited below; a failure surfaces there
    const firstHot = monthOf(now - 30 * DAY); // months from here on stay in Postgres (or are sealed by the job)
    const sealMonth = monthOf(monthRange(firstHot)[0] - 1); // the month the job seals from Postgres
    const months: string[] = [];
    for (let m = monthOf(now - 20 * 365.25 * DAY); m < sealMonth; m = monthOf(monthRange(m)[1])) months.push(m);
    const perMonth = Math.ceil(ARCHIVE_ROWS / months.length);
    log.info({ months: months.length, perMonth, from: months[0], to: months.at(-1) }, "generating the archived years");
    const g0 = Date.now();
    let genRows = 0;
    let genBytes = 0;
    for (const [i, m] of months.entries()) {
      const o = await parts.sealer.archiveFrom(d, m, generateSql(m, perMonth, i + 1), true);
      genRows += o.rows;
      genBytes += o.bytes;
      if (i % 12 === 0)
        log.info(
          { month: m, rows: genRows, bytes: genBytes, rowsPerSec: Math.round(genRows / ((Date.now() - g0) / 1000)) },
          "archive writer progress",
        );
    }
    const genMs = Date.now() - g0;

    // ---- one month in Postgres, sealed by the job's own path
    const [slo, shi] = monthRange(sealMonth);
    const sealTimes = Array.from(
      { length: SEAL_ROWS },
      (_, i) => slo + Math.floor(((i + 0.5) * (shi - slo)) / SEAL_ROWS),
    );
    for (let i = 0; i < sealTimes.length; i += 20_000)
      await insertAt(pg, sealTimes.slice(i, i + 20_000), clientIds.slice(0, 50));
    const sealed = await parts.sealer.sealMonth(d, sealMonth);
    log.info(sealed, "month sealed from Postgres");

    const hotMs = await hotDone;
    await pg.query("ANALYZE receipts");

    // ---- measurements through HTTP
    const get = async (path: string, key: string): Promise<{ ms: number; json: any }> => {
      const t0 = performance.now();
      const r = await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${key}` } });
      const json: any = await r.json();
      const ms = performance.now() - t0;
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
      return { ms, json };
    };
    const from30 = new Date(now - 30 * DAY).toISOString();
    const from20y = new Date(now - 20 * 365.25 * DAY - DAY).toISOString();
    const page30: number[] = [];
    let page30Rows = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await get(`/api/v1/receipts?from=${encodeURIComponent(from30)}&limit=10000`, big.key);
      page30.push(r.ms);
      page30Rows = r.json.items.length;
    }
    const page20: number[] = [];
    let page20Rows = 0;
    let page20Span = "";
    for (let i = 0; i < RUNS; i++) {
      const c = avg[i % avg.length]!;
      const r = await get(`/api/v1/receipts?from=${encodeURIComponent(from20y)}&limit=10000`, c.key);
      page20.push(r.ms);
      page20Rows = r.json.items.length;
      page20Span = `${r.json.items.at(-1)?.createdAt} .. ${r.json.items[0]?.createdAt}`;
    }
    const files = await parts.reader.files(d);
    const sample = await withConnection(parts.duck, (c) =>
      rows(
        c,
        `SELECT id, client_id FROM read_parquet([${files.map(lit).join(", ")}]) WHERE client_id IN (${avg.map((a) => lit(a.id)).join(", ")}) ORDER BY hash(id) LIMIT ${ID_RUNS}`,
      ),
    );
    const byId: number[] = [];
    for (const s of sample) {
      const c = avg.find((a) => a.id === s["client_id"])!;
      const r = await get(`/api/v1/receipts/${String(s["id"])}`, c.key);
      if (r.json.id !== s["id"]) throw new Error("wrong receipt");
      byId.push(r.ms);
    }
    const ny: number[] = [];
    let nyRows: unknown = null;
    for (let i = 0; i < NY_RUNS; i++) {
      const t0 = performance.now();
      const r = await fetch(`${url}/api/v1/analytics/receipts/queries/new-year`, {
        method: "POST",
        headers: { Authorization: `Bearer ${analyst.key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ allClients: true, params: { top: 3 } }),
      });
      const json: any = await r.json();
      if (r.status !== 200) throw new Error(`new-year: ${r.status} ${JSON.stringify(json)}`);
      ny.push(performance.now() - t0);
      nyRows = { seasons: json.rows.length, first: json.rows[0], last: json.rows.at(-1) };
    }
    const totalArchived = genRows + sealed.rows;
    Object.assign(out, {
      history: {
        archivedRows: totalArchived,
        archivedMonths: months.length + 1,
        from: months[0],
        to: sealMonth,
        hotRows: HOT_ROWS,
        totalRows: totalArchived + HOT_ROWS,
        clients: CLIENTS,
      },
      archive: {
        generatedRowsPerSec: Math.round(genRows / (genMs / 1000)),
        sealFromPostgres: {
          month: sealMonth,
          rows: sealed.rows,
          ms: sealed.ms,
          rowsPerSec: Math.round(sealed.rows / (sealed.ms / 1000)),
        },
        parquetBytes: genBytes + sealed.bytes,
        bytesPerReceipt: Math.round((genBytes + sealed.bytes) / totalArchived),
        hotInsertRowsPerSec: Math.round(HOT_ROWS / (hotMs / 1000)),
      },
      latencyMs: {
        page30Days10k: { ...stats(page30), rows: page30Rows, target: "p99 < 500 (aim 100)" },
        page20Years10k: { ...stats(page20), rows: page20Rows, span: page20Span, target: "p99 < 30000 (aim 2000)" },
        archivedById: { ...stats(byId), target: "within the 30 s SLA" },
        newYear20YearsAllClients: { ...stats(ny), target: "< 5000", result: nyRows },
      },
    });
    await parts.close();
    await nats.nc.close();
    await node.stop();
  } finally {
    await pg.end();
    await s3.close();
    if (!KEEP) {
      await cleanupNamespace(ns).catch(() => undefined);
      await cleanupRedis(ns).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const resultDir = path.resolve(__dirname, "..", "bench-results");
  mkdirSync(resultDir, { recursive: true });
  writeFileSync(path.join(resultDir, "archive.json"), JSON.stringify(out, null, 2));
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n  written to bench-results/archive.json\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log.error({ err: err instanceof Error ? err.stack : String(err) }, "bench:archive failed");
    process.exit(1);
  },
);
