/**
 * `npm run bench:scoring`: transactions scored end to end with the ledger written. Two nodes
 * (child processes) against the local NATS/Postgres/Redis; a population of civilians, officers
 * and families; BENCH_TX transactions (encounters, donations, giveaways) sent through the NATS
 * scoring subject `{ns}.rewards.score` (what other domains use), BENCH_CONCURRENCY in flight.
 * Reports transactions/s until every outcome was answered and until the ledger held every
 * posting, p50/p99 of the answer latency, and checks the ledger invariant at the end (KV
 * balances equal ledger sums, every leg balances). Writes bench-results/scoring.json.
 *
 * Env: BENCH_TX (default 20000), BENCH_CONCURRENCY (default 100), BENCH_CIVILIANS (default 2000),
 * BENCH_STALL_MS (default 0: off; else the second node is stopped that long at 40% of the sends).
 * Concurrency is what a client keeps in flight: by Little's law the answer time is at least
 * in-flight / throughput, so p99 under 200 ms needs in-flight well under 0.2 s x throughput; 100
 * is what a scoring client (the tracking domain, an app backend) reasonably keeps, and 400 on a
 * box that scores about 1,000/s measures mostly its own queue (400 ms by construction).
 * The nats-server CPU is that of the server on NATS_URL's port (other tests run servers of their own).
 */
import path from "node:path";
import { createLogger } from "../lib/logger";
import { connectNats } from "../nats";
import { freshNamespace, NATS_URL } from "../test/support/namespace";
import { waitFor } from "../test/support/wait";
import {
  cleanupRewards,
  freePort,
  json,
  makeClientIn,
  rewardsEnv,
  startChild,
  type ChildNode,
} from "../test/rewards/harness";
import { makeTransactions, percentile, sendAll, setupPopulation } from "../test/rewards/load";
import type { NatsHandles } from "../nats";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpuMs, natsServerPid } from "./proc-cpu";

const log = createLogger({ level: "info", name: "bench:scoring" });
const TX = Number(process.env["BENCH_TX"] ?? 20_000);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 100);
const CIVILIANS = Number(process.env["BENCH_CIVILIANS"] ?? 2000);
/** When set, the second node is stopped (SIGSTOP) this long at 40% of the sends: a stalled owner whose leases expire while it lives. */
const STALL_MS = Number(process.env["BENCH_STALL_MS"] ?? 0);

/**
 * The pid of the nats-server that serves NATS_URL: the one whose command line names its port
 * (other helpers' test clusters run nats-servers of their own on this box); else any.
 */
function benchNatsPid(): number | undefined {
  const port = new URL(NATS_URL.replace(/^nats:/, "http:")).port || "4222";
  try {
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
        if (!argv[0]?.endsWith("nats-server")) continue;
        const i = argv.findIndex((a) => a === "-p" || a === "--port");
        if (i >= 0 && argv[i + 1] === port) return Number(d);
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    // not Linux
  }
  return natsServerPid();
}

/** Messages stored so far per JetStream stream of namespace `ns` (KV buckets included): every publish and KV write counts one. */
async function streamWrites(nats: NatsHandles, ns: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const up = ns.toUpperCase();
  for await (const si of nats.jsm.streams.list()) {
    const name = si.config.name;
    if (name.startsWith(`${up}_`) || name.startsWith(`KV_${ns}_`) || name.startsWith(`OBJ_${ns}_`))
      out[name] = si.state.last_seq;
  }
  return out;
}

/** JetStream writes per transaction, per stream and in total, between two {@link streamWrites}. */
function writesPerTx(before: Record<string, number>, after: Record<string, number>, tx: number) {
  const perStream: Record<string, number> = {};
  let total = 0;
  for (const [name, seq] of Object.entries(after)) {
    const d = seq - (before[name] ?? 0);
    if (d === 0) continue;
    perStream[name] = Math.round((d / tx) * 100) / 100;
    total += d;
  }
  return { total: Math.round((total / tx) * 100) / 100, perStream };
}

async function main(): Promise<void> {
  const ns = freshNamespace("brw");
  const nodes: ChildNode[] = [];
  const nats = await connectNats(NATS_URL, `bench-${ns}`);
  try {
    const ports = [await freePort(), await freePort()];
    log.info({ ns }, "starting two nodes");
    // one after the other: two cold starts at once exceed the start deadline on a loaded box
    for (const [i, id] of ["b1", "b2"].entries())
      nodes.push(
        await startChild(rewardsEnv(ns, id, ports[i]!, { LOG_LEVEL: "warn", ACTOR_PARTITIONS: "32" }), `${ns}-${id}`),
      );
    const url = nodes[0]!.url;
    const app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    const admin = (await makeClientIn(ns, ["admin"])).apiKey;
    log.info({ civilians: CIVILIANS }, "opening accounts");
    const pop = await setupPopulation(url, app, admin, {
      civilians: CIVILIANS,
      officers: Math.max(10, CIVILIANS / 10),
      families: 50,
    });
    // warm up both nodes (JIT, partitions, connections), then measure
    await sendAll(
      nats,
      ns,
      makeTransactions(pop, 500, 7).map((t) => ({ ...t, id: `w${t.id}` })),
      50,
    );
    const txs = makeTransactions(pop, TX, 42);
    log.info({ tx: TX, concurrency: CONCURRENCY }, "sending");
    const pids = nodes.map((n) => n.child.pid);
    const natsPid = benchNatsPid();
    const cpu0 = { nodes: pids.map((pid) => cpuMs(pid)), nats: cpuMs(natsPid), self: process.cpuUsage() };
    const writes0 = await streamWrites(nats, ns);
    const t0 = Date.now();
    let stalled = false;
    const r = await sendAll(nats, ns, txs, CONCURRENCY, (done) => {
      if (STALL_MS > 0 && !stalled && done >= TX * 0.4) {
        stalled = true;
        const child = nodes[1]!.child;
        log.info({ ms: STALL_MS }, "stalling the second node");
        child.kill("SIGSTOP");
        setTimeout(() => child.kill("SIGCONT"), STALL_MS);
      }
      if (done % 5000 === 0)
        log.info({ done, of: TX, perSec: Math.round(done / ((Date.now() - t0) / 1000)) }, "progress");
    });
    const answeredMs = Date.now() - t0;
    let report: Record<string, unknown> = {};
    await waitFor(
      "ledger written",
      async () => {
        const c = await json(`${url}/api/v1/admin/rewards/check`, admin, "GET");
        report = c.json;
        return c.json?.settled === true;
      },
      300_000,
      200,
    );
    const ledgerMs = Date.now() - t0;
    const writes = writesPerTx(writes0, await streamWrites(nats, ns), TX);
    const selfCpu = process.cpuUsage(cpu0.self);
    const per = (ms: number) => Math.round((ms / TX) * 1000) / 1000;
    const cpuMsPerTx = {
      nodes: per(pids.reduce<number>((sum, pid, i) => sum + cpuMs(pid) - (cpu0.nodes[i] ?? 0), 0)),
      natsServer: per(cpuMs(natsPid) - cpu0.nats),
      loadGenerator: per((selfCpu.user + selfCpu.system) / 1000),
    };
    const statuses: Record<string, number> = {};
    for (const s of r.outcomes.values()) statuses[s] = (statuses[s] ?? 0) + 1;
    const result = {
      tx: TX,
      concurrency: CONCURRENCY,
      ...(STALL_MS > 0 ? { stallMs: STALL_MS } : {}),
      answeredPerSec: Math.round(TX / (answeredMs / 1000)),
      ledgerWrittenPerSec: Math.round(TX / (ledgerMs / 1000)),
      p50Ms: Math.round(percentile(r.latencies, 50)),
      p99Ms: Math.round(percentile(r.latencies, 99)),
      retries: r.retries,
      statuses,
      jetstreamWritesPerTx: writes,
      cpuMsPerTx,
      invariant: {
        ok: report["ok"],
        mismatches: report["mismatches"],
        unbalancedLegs: report["unbalancedLegs"],
        postings: report["postings"],
        transactions: report["transactions"],
        settled: report["settled"],
        transit: report["transit"],
        held: report["held"],
        kvTotal: report["kvTotal"],
        ledgerTotal: report["ledgerTotal"],
      },
      note: "indicative only: shared 2-core box, both nodes, NATS, Postgres and the load generator on it; natsServer CPU includes other users of the shared server",
    };
    log.info(result, "result");
    mkdirSync(path.join(__dirname, "..", "bench-results"), { recursive: true });
    writeFileSync(path.join(__dirname, "..", "bench-results", "scoring.json"), JSON.stringify(result, null, 2));
    if (report["ok"] !== true) process.exitCode = 1;
  } finally {
    await nats.nc.close();
    await Promise.all(nodes.map((n) => n.stop("SIGTERM")));
    await cleanupRewards(ns);
  }
}

void main().catch((err: unknown) => {
  log.error({ err: String(err) }, "bench failed");
  process.exit(1);
});
