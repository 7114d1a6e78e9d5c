/**
 * `npm run bench:actors`: messages/s through the actor runtime on one node and on two nodes
 * (2 KB messages, every message changes its actor's state) – draining a backlog (the runtime
 * alone) and live (publishing at the same time) – and publish-to-handled latency
 * p50/p99 at a steady rate. Nodes run as child processes against the local NATS; the bench
 * publishes from this process. Prints progress and figures; writes bench-results/actors.json.
 *
 * Env: BENCH_MESSAGES (default 150000), BENCH_KEYS (default 2000), BENCH_RATE (steady-rate
 * phase, default 5000 msg/s), BENCH_STEADY_S (default 10).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { TestCluster } from "../test/support/cluster";
import { cleanupNamespace, freshNamespace } from "../test/support/namespace";
import { waitFor } from "../test/support/wait";
import { partitionOf } from "../streams/subjects";
import { createLogger } from "../lib/logger";

const log = createLogger({ level: "info", name: "bench:actors" });
const MESSAGES = Number(process.env["BENCH_MESSAGES"] ?? 150_000);
const KEYS = Number(process.env["BENCH_KEYS"] ?? 2000);
const RATE = Number(process.env["BENCH_RATE"] ?? 5000);
const STEADY_S = Number(process.env["BENCH_STEADY_S"] ?? 10);
const PARTITIONS = 32;
const PAD = "x".repeat(2048 - 40);

interface NodeStats {
  stats: Record<
    string,
    { handled: number; writes: number; latencyP50: number; latencyP99: number; latencyCount: number }
  >;
}

async function handledTotal(
  cluster: TestCluster,
  nodes: readonly string[],
): Promise<{ handled: number; writes: number }> {
  let handled = 0;
  let writes = 0;
  for (const nodeID of nodes) {
    const r = (await cluster.broker.call("runtime.actors", {}, { nodeID })) as NodeStats;
    handled += r.stats["probe"]?.handled ?? 0;
    writes += r.stats["probe"]?.writes ?? 0;
  }
  return { handled, writes };
}

/** Publishes `count` messages round-robin over the keys as fast as acks allow (pipelined). */
async function blast(
  cluster: TestCluster,
  keys: string[],
  counters: Map<string, number>,
  count: number,
  onProgress: (sent: number) => void,
): Promise<void> {
  const window = 4000;
  let inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const key = keys[i % keys.length]!;
    const n = counters.get(key) ?? 0;
    counters.set(key, n + 1);
    inflight.push(
      cluster.nats.js.publish(
        cluster.topo.actors.subject("probe", partitionOf(key, PARTITIONS), key),
        JSON.stringify({ n, pad: PAD }),
      ),
    );
    if (inflight.length >= window) {
      await Promise.all(inflight);
      inflight = [];
      onProgress(i + 1);
    }
  }
  await Promise.all(inflight);
}

/** Publishes at `rate` msg/s for `seconds`. */
async function steady(
  cluster: TestCluster,
  keys: string[],
  counters: Map<string, number>,
  rate: number,
  seconds: number,
): Promise<number> {
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  let next = Date.now();
  const pending: Promise<unknown>[] = [];
  while (Date.now() < end) {
    for (let j = 0; j < perTick; j++) {
      const key = keys[sent % keys.length]!;
      const n = counters.get(key) ?? 0;
      counters.set(key, n + 1);
      pending.push(
        cluster.nats.js.publish(
          cluster.topo.actors.subject("probe", partitionOf(key, PARTITIONS), key),
          JSON.stringify({ n, pad: PAD }),
        ),
      );
      sent++;
    }
    next += tickMs;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (pending.length > 20_000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return sent;
}

async function phase(nodes: string[], env: Record<string, string> = {}): Promise<Record<string, number>> {
  const ns = freshNamespace("bench");
  const cluster = new TestCluster(ns, { ACTOR_PARTITIONS: String(PARTITIONS), LOG_LEVEL: "warn", ...env });
  try {
    await cluster.connect();
    for (const id of nodes) cluster.startNode(id);
    await cluster.waitOwned("probe", PARTITIONS, nodes, 60_000);
    const keys = Array.from({ length: KEYS }, (_, i) => `bench${i}`);
    const counters = new Map<string, number>();

    // 1. Backlog: the runtime alone, draining messages published while no node ran.
    await Promise.all(nodes.map((id) => cluster.stopNode(id, "SIGTERM")));
    log.info({ messages: MESSAGES }, "backlog phase: publishing with no node running");
    await blast(cluster, keys, counters, MESSAGES, () => undefined);
    for (const id of nodes) cluster.startNode(id);
    let firstHandledAt = 0;
    await waitFor(
      "backlog drained",
      async () => {
        const { handled } = await handledTotal(cluster, nodes).catch(() => ({ handled: 0 }));
        if (handled > 0 && firstHandledAt === 0) firstHandledAt = Date.now();
        return handled >= MESSAGES;
      },
      600_000,
      50,
    );
    const drainS = (Date.now() - firstHandledAt) / 1000;
    const drainRate = Math.round(MESSAGES / drainS);
    const drainWrites = (await handledTotal(cluster, nodes)).writes;
    log.info({ nodes: nodes.length, drainRate, stateWrites: drainWrites }, "backlog drain measured");

    // 2. Live: publishing and handling at the same time, as fast as acks allow.
    const base = (await handledTotal(cluster, nodes)).handled;
    log.info({ nodes: nodes.length, messages: MESSAGES, keys: KEYS }, "live phase: publishing while handling");
    const start = Date.now();
    let lastLog = 0;
    const publishing = blast(cluster, keys, counters, MESSAGES, (sent) => {
      if (Date.now() - lastLog > 2000) {
        lastLog = Date.now();
        log.info({ sent, of: MESSAGES }, "publishing");
      }
    });
    let lastProgress = 0;
    await waitFor(
      "all messages handled",
      async () => {
        const handled = (await handledTotal(cluster, nodes)).handled - base;
        if (Date.now() - lastProgress > 2000) {
          lastProgress = Date.now();
          log.info({ handled, of: MESSAGES, perSec: Math.round(handled / ((Date.now() - start) / 1000)) }, "handling");
        }
        return handled >= MESSAGES;
      },
      600_000,
      100,
    );
    await publishing;
    const elapsed = (Date.now() - start) / 1000;
    const writes = (await handledTotal(cluster, nodes)).writes - drainWrites;
    const throughput = Math.round(MESSAGES / elapsed);
    log.info({ nodes: nodes.length, throughput, stateWrites: writes, elapsedS: elapsed }, "live throughput measured");

    for (const nodeID of nodes) await cluster.broker.call("runtime.resetLatency", {}, { nodeID });
    log.info({ rate: RATE, seconds: STEADY_S }, "latency phase: steady rate");
    const sent = await steady(cluster, keys, counters, RATE, STEADY_S);
    await waitFor(
      "steady messages handled",
      async () => (await handledTotal(cluster, nodes)).handled >= 2 * MESSAGES + sent,
      120_000,
      100,
    );
    let p50 = 0;
    let p99 = 0;
    for (const nodeID of nodes) {
      const r = (await cluster.broker.call("runtime.actors", {}, { nodeID })) as NodeStats;
      p50 = Math.max(p50, r.stats["probe"]?.latencyP50 ?? 0);
      p99 = Math.max(p99, r.stats["probe"]?.latencyP99 ?? 0);
    }
    log.info({ nodes: nodes.length, rate: RATE, p50Ms: p50, p99Ms: p99 }, "latency measured");
    return {
      nodes: nodes.length,
      messages: MESSAGES,
      keys: KEYS,
      messageBytes: 2048,
      backlogDrainMsgPerSec: drainRate,
      backlogStateWrites: drainWrites,
      liveMsgPerSec: throughput,
      liveStateWrites: writes,
      liveElapsedS: elapsed,
      steadyRate: RATE,
      latencyP50Ms: p50,
      latencyP99Ms: p99,
    };
  } finally {
    await cluster.close();
    await cleanupNamespace(ns);
  }
}

async function main(): Promise<void> {
  const one = await phase(["b1"]);
  // Coalescing off: exactly one KV write per message.
  const oneUncoalesced = await phase(["b1"], { ACTOR_MAX_BATCH: "1" });
  const two = await phase(["b1", "b2"]);
  const result = {
    benchmark: "actors",
    at: new Date().toISOString(),
    machine: "2 cores",
    target: { oneNodeMsgPerSec: 10_000 },
    oneNode: one,
    oneNodeOneWritePerMessage: oneUncoalesced,
    twoNodes: two,
  };
  const dir = path.resolve(__dirname, "..", "bench-results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "actors.json"), JSON.stringify(result, null, 2));
  process.stdout.write(
    [
      "",
      "bench:actors (2 KB messages, one state change per message)",
      `  one node : backlog drain ${one["backlogDrainMsgPerSec"]} msg/s (${one["backlogStateWrites"]} KV writes for ${one["messages"]} messages), live with publisher ${one["liveMsgPerSec"]} msg/s; latency at ${RATE}/s p50 ${one["latencyP50Ms"]} ms, p99 ${one["latencyP99Ms"]} ms`,
      `  one node, coalescing off (a KV write per message): backlog drain ${oneUncoalesced["backlogDrainMsgPerSec"]} msg/s (${oneUncoalesced["backlogStateWrites"]} KV writes), live with publisher ${oneUncoalesced["liveMsgPerSec"]} msg/s; latency at ${RATE}/s p50 ${oneUncoalesced["latencyP50Ms"]} ms, p99 ${oneUncoalesced["latencyP99Ms"]} ms`,
      `  two nodes: backlog drain ${two["backlogDrainMsgPerSec"]} msg/s (${two["backlogStateWrites"]} KV writes), live with publisher ${two["liveMsgPerSec"]} msg/s; latency at ${RATE}/s p50 ${two["latencyP50Ms"]} ms, p99 ${two["latencyP99Ms"]} ms`,
      `  written to bench-results/actors.json`,
      "",
    ].join("\n"),
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  log.error({ err: (err as Error).message }, "benchmark failed");
  process.exit(1);
});
