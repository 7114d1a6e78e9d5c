/**
 * `npm run bench:dr`: disaster-recovery figures.
 *
 * 1. Backup and restore throughput (ops/backup.ts, ops/restore.ts) of a namespace of its own on
 *    NATS_URL: a work-queue stream (read by sequence, as actor mailboxes and jobs are), a
 *    retained stream (read with an ordered consumer, as logs and feeds are) and a KV bucket
 *    (latest revision per key, as actor state is), DR_MESSAGES messages of DR_BYTES bytes each
 *    (2 KB: a receipt) split between them; restored into a nats-server of its own. MB/s and
 *    messages/s of each (payload bytes; the files are gzip). No Postgres (pg_dump's own speed).
 * 2. Mirror lag under load: a primary and a standby nats-server joined by a leaf node
 *    (ops/standby.ts mirrors), and the JetStream writes of DR_RATE receipts per second (500):
 *    per receipt a 2 KB record on a retained stream, a 2 KB message to a work-queue mailbox and
 *    a state write to a KV bucket, acked, for DR_SECONDS (20). The lag (messages the standby
 *    lacks, and the age of the oldest of them) is sampled every 100 ms: p50, p99, max. The
 *    writes stand in for the receipts pipeline (which does not reach 500/s on a 2-core box, see
 *    bench:receipts); the mirrors copy bytes, whatever produced them.
 *
 * Prints figures and writes bench-results/dr.json. Figures on a shared machine are indicative.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { RetentionPolicy, StorageType, connectNats, type NatsHandles } from "../nats";
import { createLogger } from "../lib/logger";
import { backup } from "../ops/backup";
import { restore } from "../ops/restore";
import { followStandby, primaryAnswers, setupStandby } from "../ops/standby";
import { startNatsServer } from "../test/dr/harness";
import { freePort } from "../test/support/ports";

const NATS_URL = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
const MESSAGES = Number(process.env["DR_MESSAGES"] ?? 60_000);
const BYTES = Number(process.env["DR_BYTES"] ?? 2048);
const RATE = Number(process.env["DR_RATE"] ?? 500);
const SECONDS = Number(process.env["DR_SECONDS"] ?? 20);
const log = createLogger({ level: process.env["LOG_LEVEL"] ?? "warn", name: "bench-dr" });
const out = (line: string): void => void process.stdout.write(`${line}\n`);

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Fills `ns`'s three streams with `n` messages of `bytes`; returns their payload bytes. */
async function fill(h: NatsHandles, ns: string, n: number, bytes: number): Promise<number> {
  const NS = ns.toUpperCase();
  await h.jsm.streams.add({
    name: `${NS}_ACTOR_BENCH`,
    subjects: [`${ns}.actor.bench.*.*`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await h.jsm.streams.add({ name: `${NS}_LOG`, subjects: [`${ns}.log.>`], storage: StorageType.File });
  const kv = await h.kvm.create(`${ns}_state_bench`, { history: 1 });
  const body = new Uint8Array(bytes).fill(97);
  let inflight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    if (k === 0) inflight.push(h.js.publish(`${ns}.actor.bench.${i % 32}.k${i}`, body));
    else if (k === 1) inflight.push(h.js.publish(`${ns}.log.${i % 100}`, body));
    else inflight.push(kv.put(`k${i}`, body));
    if (inflight.length >= 1000) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  return n * bytes;
}

async function throughput(): Promise<Record<string, unknown>> {
  const ns = `bdr${Date.now().toString(36)}`.slice(0, 16);
  const dir = mkdtempSync(path.join(os.tmpdir(), "sy-bench-dr-"));
  const h = await connectNats(NATS_URL, "bench-dr");
  const target = await startNatsServer(`bench-restore-${ns}`);
  try {
    out(`filling ${MESSAGES} messages of ${BYTES} B in namespace ${ns} ...`);
    const bytes = await fill(h, ns, MESSAGES, BYTES);
    const t0 = Date.now();
    const m = await backup({ nats: h, namespace: ns, dir: path.join(dir, "b"), log });
    const backupS = (Date.now() - t0) / 1000;
    const files = m.streams.reduce((n, s) => n + s.fileBytes, 0);
    const th = await connectNats(target.url, "bench-dr-restore");
    const t1 = Date.now();
    const r = await restore({ nats: th, dir: path.join(dir, "b"), log });
    const restoreS = (Date.now() - t1) / 1000;
    await th.nc.close();
    if (r.mismatches.length > 0) throw new Error(`restore mismatches: ${JSON.stringify(r.mismatches)}`);
    const mb = bytes / 1e6;
    const res = {
      messages: MESSAGES,
      payloadMB: mb,
      fileMB: files / 1e6,
      backup: { seconds: backupS, mbPerSec: mb / backupS, messagesPerSec: MESSAGES / backupS },
      restore: { seconds: restoreS, mbPerSec: mb / restoreS, messagesPerSec: MESSAGES / restoreS },
      perStream: m.streams.map((s) => ({
        name: s.name,
        messages: s.messages,
        seconds: (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000,
      })),
    };
    out(
      `backup:  ${res.backup.mbPerSec.toFixed(1)} MB/s, ${Math.round(res.backup.messagesPerSec)} messages/s (${backupS.toFixed(1)} s, files ${res.fileMB.toFixed(1)} MB gzip)`,
    );
    for (const s of res.perStream) out(`  ${s.name}: ${s.messages} in ${s.seconds.toFixed(2)} s`);
    out(
      `restore: ${res.restore.mbPerSec.toFixed(1)} MB/s, ${Math.round(res.restore.messagesPerSec)} messages/s (${restoreS.toFixed(1)} s, verified)`,
    );
    return res;
  } finally {
    for await (const name of h.jsm.streams.names())
      if (name.startsWith(`${ns.toUpperCase()}_`) || name.startsWith(`KV_${ns}_`)) await h.jsm.streams.delete(name);
    await h.nc.close();
    await target.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function mirrorLag(): Promise<Record<string, unknown>> {
  const ns = `bsb${Date.now().toString(36)}`.slice(0, 16);
  const leaf = await freePort();
  const east = await startNatsServer(`bench-east-${ns}`, {
    domain: "east",
    extra: `leafnodes { listen: 127.0.0.1:${leaf} }`,
  });
  const west = await startNatsServer(`bench-west-${ns}`, {
    domain: "west",
    extra: `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leaf}" } ] }`,
  });
  const p = await connectNats(east.url, "bench-primary");
  const s = await connectNats(west.url, "bench-standby");
  try {
    const NS = ns.toUpperCase();
    await p.jsm.streams.add({ name: `${NS}_RECORDS`, subjects: [`${ns}.rec.>`], storage: StorageType.File });
    await p.jsm.streams.add({
      name: `${NS}_ACTOR_RECEIPT`,
      subjects: [`${ns}.actor.receipt.*.*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
    });
    const kv = await p.kvm.create(`${ns}_state_receipt`, { history: 1 });
    for (let i = 0; i < 50; i++) if (await primaryAnswers(s, "east", 500)) break;
    await setupStandby({ standby: s, namespace: ns, primaryDomain: "east", log });
    const body = new Uint8Array(BYTES).fill(98);
    const lagMsgs: number[] = [];
    const lagMs: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await followStandby({ standby: s, namespace: ns, log }).catch(() => null);
        if (r) {
          lagMsgs.push(r.messages);
          lagMs.push(r.ms);
        }
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    out(`writing ${RATE} receipts/s (3 acked writes each) for ${SECONDS} s on the primary ...`);
    const t0 = Date.now();
    let sent = 0;
    let failed = 0;
    const inflight = new Set<Promise<unknown>>();
    while (Date.now() - t0 < SECONDS * 1000) {
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
      while (sent < due) {
        const i = sent++;
        const w = Promise.all([
          p.js.publish(`${ns}.rec.r${i}`, body),
          p.js.publish(`${ns}.actor.receipt.${i % 32}.r${i}`, body),
          kv.put(`r${i % 5000}`, body),
        ]).catch(() => void failed++);
        inflight.add(w);
        void w.finally(() => inflight.delete(w));
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    await Promise.all([...inflight]);
    const achieved = sent / ((Date.now() - t0) / 1000);
    sampling = false;
    await sampler;
    const res = {
      rate: RATE,
      achievedRate: achieved,
      seconds: SECONDS,
      failedWrites: failed,
      samples: lagMs.length,
      lagMessages: { p50: percentile(lagMsgs, 50), p99: percentile(lagMsgs, 99), max: Math.max(0, ...lagMsgs) },
      lagMs: { p50: percentile(lagMs, 50), p99: percentile(lagMs, 99), max: Math.max(0, ...lagMs) },
    };
    out(
      `mirror lag at ${Math.round(achieved)} receipts/s: p50 ${res.lagMs.p50} ms / ${res.lagMessages.p50} messages, p99 ${res.lagMs.p99} ms / ${res.lagMessages.p99} messages, max ${res.lagMs.max} ms / ${res.lagMessages.max} messages (${res.samples} samples)`,
    );
    return res;
  } finally {
    await p.nc.close();
    await s.nc.close();
    await east.remove();
    await west.remove();
  }
}

async function main(): Promise<void> {
  const results = {
    at: new Date().toISOString(),
    cores: os.cpus().length,
    load: os.loadavg(),
    throughput: await throughput(),
    mirror: await mirrorLag(),
  };
  mkdirSync("bench-results", { recursive: true });
  writeFileSync(path.join("bench-results", "dr.json"), `${JSON.stringify(results, null, 2)}\n`);
  out(
    `load average at start ${results.load.map((l) => l.toFixed(1)).join(" ")} on ${results.cores} cores: figures are indicative`,
  );
  out("wrote bench-results/dr.json");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:dr failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
