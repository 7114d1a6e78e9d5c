/**
 * `npm run chaos`: the fault matrix on a real 3-server NATS cluster (R3) with two Switchyard
 * nodes, private Postgres and Redis, and every downstream simulated, under steady mixed load
 * (receipts, supporter messages, tenant events). One row at a time: inject, heal, drain, count
 * lost, external duplicates, order violations, ownership and readiness times, backlog peak and
 * catch-up. Prints a table and writes bench-results/chaos.json; exits 1 if a row failed.
 *
 *   npm run chaos                               # every row, full length
 *   CHAOS_ROWS=node-kill,nats-server-kill npm run chaos
 *   CHAOS_SCALE=0.5 npm run chaos               # fault durations halved
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { ChaosRig, DEFAULT_RIG, type RowResult } from "../test/chaos/rig";
import { ROWS, runRow } from "../test/chaos/rows";
import { problems, table } from "../test/chaos/report";

const log = pino({ name: "chaos" });
const needsOf = (row: string): string | undefined => ROWS.find((r) => r.name === row)?.needs;

async function main(): Promise<void> {
  const only = (process.env["CHAOS_ROWS"] ?? "").split(",").filter(Boolean);
  const unknown = only.filter((n) => !ROWS.some((r) => r.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown rows ${unknown.join(", ")}; rows: ${ROWS.map((r) => r.name).join(", ")}\n`);
    process.exit(2);
  }
  const picked = only.length > 0 ? ROWS.filter((r) => only.includes(r.name)) : ROWS;
  // The rows this nats-server cannot hold run last: on 2.9 they leave replicas reset and
  // consumers without quorum or past messages they never delivered, which later rows inherit.
  const rows = [...picked.filter((r) => r.needs === undefined), ...picked.filter((r) => r.needs !== undefined)];
  const scale = Number(process.env["CHAOS_SCALE"] ?? 1);
  const rig = new ChaosRig({
    ...DEFAULT_RIG,
    partitionable: rows.some((r) => r.name === "nats-server-partition"),
    receiptRate: Number(process.env["CHAOS_RECEIPT_RATE"] ?? DEFAULT_RIG.receiptRate),
  });
  const started = Date.now();
  const results: RowResult[] = [];
  // stopped from outside (Ctrl-C): tear the rig down (its servers, its network namespace) first
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      log.warn({ signal }, "stopping: closing the rig");
      void rig.close().finally(() => process.exit(130));
    });
  try {
    await rig.start((line) => log.info(line));
    for (const [i, row] of rows.entries()) {
      log.info({ row: row.name, step: `${i + 1}/${rows.length}` }, `row ${i + 1}/${rows.length}: ${row.what}`);
      const r = await runRow(rig, row, { scale, warmMs: 10_000, afterMs: 15_000, settleMs: 180_000 }, (l) =>
        log.info(l),
      );
      results.push(r);
      log.info({ ...r, verdict: problems(r, row.needs), needs: row.needs }, `row ${row.name} done`);
    }
  } finally {
    await rig.close();
  }
  const rowsOut = results.map((r) => ({ ...r, needs: needsOf(r.row) ?? null }));
  const out = { at: new Date().toISOString(), scale, elapsedMs: Date.now() - started, rig: rig.opts, rows: rowsOut };
  const dir = path.join(__dirname, "..", "bench-results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "chaos.json"), JSON.stringify(out, null, 2));
  process.stdout.write(
    `\n${table(results, needsOf)}\n\n${((Date.now() - started) / 60000).toFixed(1)} min; bench-results/chaos.json\n`,
  );
  if (results.some((r) => problems(r, needsOf(r.row)).length > 0)) process.exit(1);
}

main().catch((err) => {
  log.error({ err }, "chaos run failed");
  process.exit(1);
});
