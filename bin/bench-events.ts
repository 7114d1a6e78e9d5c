/**
 * `npm run bench:events`: per-tenant fairness of the event processor, measured.
 *
 * One node (child process: runtime + events) against the local NATS and Postgres; this process
 * publishes with a plain JetStream client, like producers do. Phases, in one run:
 *   A. quiet only: nine quiet tenants at BENCH_QUIET_RATE events/s each;
 *   B. noisy: the same, plus one noisy tenant at 20 times that rate;
 *   C. flood: the same quiet load while the noisy tenant dumps a backlog of BENCH_FLOOD events
 *      as fast as the server takes them (far beyond what the node stores per second).
 * For each phase it reports the quiet tenants' intake-to-stored latency (the processor's own
 * measurement: JetStream timestamp to store commit, all quiet tenants merged into one
 * distribution) and, measured here, publish-to-push-feed latency (a subscription on the feed).
 * The criterion: the quiet p99 of B within twice the p99 of A (C is reported beside it: the
 * flood saturates the machine, NATS and Postgres included, not only the scheduler).
 * Prints progress; writes bench-results/events.json.
 *
 * Env: BENCH_QUIET_RATE (default 50), BENCH_PHASE_S (default 15), BENCH_FLOOD (default 30000).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { TestCluster } from "../test/support/cluster";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../test/support/namespace";
import { waitFor } from "../test/support/wait";
import { createLogger } from "../lib/logger";
import { loadConfig } from "../node/config";
import { provision } from "../streams/provision";
import { eventDeclarations, eventNames } from "../services/tenant-events/streams";
import { EventTypeRegistry } from "../services/tenant-events/registry";
import { TypeStore } from "../services/tenant-events/types-store";
import type { FeedEvent } from "../services/tenant-events/model";
import { LatencyHistogram } from "../lib/histogram";

const log = createLogger({ level: "info", name: "bench:events" });
const QUIET_RATE = Number(process.env["BENCH_QUIET_RATE"] ?? 50);
const NOISY_RATE = QUIET_RATE * 20;
const PHASE_S = Number(process.env["BENCH_PHASE_S"] ?? 15);
const FLOOD = Number(process.env["BENCH_FLOOD"] ?? 30_000);
const WARMUP_S = 3;
const QUIET = Array.from({ length: 9 }, (_, i) => `quiet${i}`);
const NOISY = "noisy";

interface Lat {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

interface PhaseResult {
  readonly phase: string;
  readonly seconds: number;
  readonly quietRate: number;
  readonly noisyRate: number | string;
  /** Intake-to-stored, quiet tenants merged (processor). */
  readonly quietStored: Lat;
  /** Publish-to-feed, quiet tenants merged (measured by the bench). */
  readonly quietFeed: Lat;
  readonly noisyStored: Lat;
  readonly noisyStoredCount: number;
  readonly noisyBacklogAtEnd: number;
}

function summary(h: LatencyHistogram): Lat {
  return { count: h.count, p50: h.percentile(0.5), p99: h.percentile(0.99), max: Number(h.max.toFixed(2)) };
}

async function main(): Promise<void> {
  const ns = freshNamespace("bev");
  const names = eventNames(ns);
  const cluster = new TestCluster(ns, {
    SERVICES: "runtime,tenant-events",
    LOG_LEVEL: "warn",
    EVENTS_DISCOVER_MS: "500",
  });
  const results: PhaseResult[] = [];
  const seq = new Map<string, number>();
  const feedLat = new Map<string, LatencyHistogram>();
  try {
    await cluster.connect();
    const h = cluster.nats;
    await provision(h, eventDeclarations(cluster.topo, loadConfig({ NAMESPACE: ns, NATS_URL })));
    await new TypeStore(await h.kvm.open(names.typesBucket), new EventTypeRegistry(), pino({ level: "silent" })).define(
      "bench.tick",
      {
        schema: {
          type: "object",
          required: ["n", "sentAt"],
          properties: { n: { type: "integer" }, sentAt: { type: "number" }, pad: { type: "string" } },
        },
      },
    );
    log.info(
      { ns, quietRate: QUIET_RATE, noisyRate: NOISY_RATE, phaseSeconds: PHASE_S, flood: FLOOD },
      "starting one events node",
    );
    cluster.startNode("bench-ev-1");
    await waitFor(
      "events node owns every tenant partition",
      async () => {
        const s = (await cluster.broker.call("events.stats")) as { partitions: number[] };
        return s.partitions.length === loadConfig({}).tenantEvents.partitions;
      },
      60_000,
      200,
    );

    // publish-to-feed latency, measured here from each event's own send time
    const pad = "x".repeat(200);
    const sub = h.nc.subscribe(names.outFilter, {
      callback: (err, msg) => {
        if (err) return;
        const e = msg.json<FeedEvent>();
        const sentAt = (e.data as { sentAt?: number }).sentAt;
        if (typeof sentAt !== "number") return;
        let hist = feedLat.get(e.clientId);
        if (!hist) feedLat.set(e.clientId, (hist = new LatencyHistogram()));
        hist.record(Date.now() - sentAt);
      },
    });

    const publishOne = (tenant: string): Promise<unknown> => {
      const n = seq.get(tenant) ?? 0;
      seq.set(tenant, n + 1);
      const body = JSON.stringify({
        clientId: tenant,
        eventId: `${tenant}-${n}`,
        type: "bench.tick",
        timestamp: Date.now(),
        data: { n, sentAt: Date.now(), pad },
      });
      return h.js.publish(names.inSubject(tenant), body);
    };

    /** Publishes at the given per-tenant rates for `seconds`, in 20 ms ticks. */
    async function steady(
      rates: ReadonlyMap<string, number>,
      seconds: number,
      onTick?: (elapsed: number) => Promise<void> | void,
    ): Promise<void> {
      const tickMs = 20;
      const carry = new Map<string, number>();
      const start = Date.now();
      let next = start;
      let lastReport = start;
      const pending: Promise<unknown>[] = [];
      while (Date.now() - start < seconds * 1000) {
        for (const [tenant, rate] of rates) {
          const due = (carry.get(tenant) ?? 0) + (rate * tickMs) / 1000;
          const whole = Math.floor(due);
          carry.set(tenant, due - whole);
          for (let i = 0; i < whole; i++) pending.push(publishOne(tenant));
        }
        if (pending.length > 5000) await Promise.all(pending.splice(0));
        next += tickMs;
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (Date.now() - lastReport >= 5000) {
          lastReport = Date.now();
          // a report must not hold up publishing: run it aside, and log if it fails
          void Promise.resolve(onTick?.((Date.now() - start) / 1000)).catch((err: unknown) =>
            log.warn({ err: String(err) }, "progress report failed"),
          );
        }
      }
      await Promise.all(pending);
    }

    async function phase(name: string, rates: Map<string, number>, flood: number): Promise<PhaseResult> {
      log.info({ phase: name }, `phase ${name}: warming up ${WARMUP_S} s`);
      await steady(rates, WARMUP_S);
      await cluster.broker.call("events.resetStats");
      feedLat.clear();
      let floodDone: Promise<void> = Promise.resolve();
      if (flood > 0) {
        floodDone = (async () => {
          const pending: Promise<unknown>[] = [];
          for (let i = 0; i < flood; i++) {
            pending.push(publishOne(NOISY));
            if (pending.length >= 2000) await Promise.all(pending.splice(0));
          }
          await Promise.all(pending);
          log.info({ phase: name, published: flood }, "noisy flood published");
        })();
      }
      log.info({ phase: name }, `phase ${name}: measuring ${PHASE_S} s`);
      await steady(rates, PHASE_S, async (elapsed) => {
        const s = (await cluster.broker.call("events.latency", { tenants: QUIET })) as Lat;
        const st = (await cluster.broker.call("events.stats")) as {
          tenants: Record<string, { stored: number; queued: number }>;
        };
        log.info(
          {
            phase: name,
            elapsed: Math.round(elapsed),
            quietStored: s.count,
            quietP99: s.p99,
            noisyStored: st.tenants[NOISY]?.stored ?? 0,
          },
          "progress",
        );
      });
      await floodDone;
      const quietStored = (await cluster.broker.call("events.latency", { tenants: QUIET })) as Lat;
      const noisyStored = (await cluster.broker.call("events.latency", { tenants: [NOISY] })) as Lat;
      const quietFeed = new LatencyHistogram();
      for (const t of QUIET) {
        const x = feedLat.get(t);
        if (x) quietFeed.merge(x);
      }
      const info = await h.jsm.streams.info(names.inStream, { subjects_filter: names.inSubject(NOISY) });
      const r: PhaseResult = {
        phase: name,
        seconds: PHASE_S,
        quietRate: QUIET_RATE,
        noisyRate: flood > 0 ? `backlog of ${flood}` : (rates.get(NOISY) ?? 0),
        quietStored,
        quietFeed: summary(quietFeed),
        noisyStored,
        noisyStoredCount: noisyStored.count,
        noisyBacklogAtEnd: info.state.subjects?.[names.inSubject(NOISY)] ?? 0,
      };
      log.info({ ...r }, `phase ${name} done`);
      // let the node catch up before the next phase
      await waitFor(
        "noisy backlog drained",
        async () => {
          const i = await h.jsm.streams.info(names.inStream);
          return i.state.messages === 0;
        },
        300_000,
        500,
      );
      return r;
    }

    const quietRates = new Map(QUIET.map((t) => [t, QUIET_RATE]));
    results.push(await phase("A: quiet only", quietRates, 0));
    results.push(await phase("B: noisy at 20x", new Map([...quietRates, [NOISY, NOISY_RATE]]), 0));
    results.push(await phase("C: noisy flood", quietRates, FLOOD));
    sub.unsubscribe();

    const [a, b, c] = results as [PhaseResult, PhaseResult, PhaseResult];
    const verdict = {
      quietP99WithoutNoisyMs: a.quietStored.p99,
      quietP99WithNoisyMs: b.quietStored.p99,
      quietP99WithFloodMs: c.quietStored.p99,
      ratioNoisy: Number((b.quietStored.p99 / a.quietStored.p99).toFixed(2)),
      ratioFlood: Number((c.quietStored.p99 / a.quietStored.p99).toFixed(2)),
      withinTwiceNoisy: b.quietStored.p99 <= 2 * a.quietStored.p99,
      withinTwiceFlood: c.quietStored.p99 <= 2 * a.quietStored.p99,
    };
    const out = {
      at: new Date().toISOString(),
      node: "1 node (child process), local NATS 2.9 + Postgres",
      config: {
        quietTenants: QUIET.length,
        quietRate: QUIET_RATE,
        noisyRate: NOISY_RATE,
        flood: FLOOD,
        phaseSeconds: PHASE_S,
      },
      results,
      verdict,
    };
    const dir = path.resolve(__dirname, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "events.json"), `${JSON.stringify(out, null, 2)}\n`);
    const line = (r: PhaseResult): string =>
      `${r.phase.padEnd(18)} quiet intake->stored p50 ${String(r.quietStored.p50).padStart(7)} ms  p99 ${String(r.quietStored.p99).padStart(7)} ms (${r.quietStored.count} events) | publish->feed p99 ${String(r.quietFeed.p99).padStart(7)} ms | noisy stored ${r.noisyStoredCount}, p99 ${r.noisyStored.p99} ms`;
    process.stdout.write(`\n${results.map(line).join("\n")}\n`);
    process.stdout.write(
      `quiet p99 with a noisy tenant at 20x: ${verdict.ratioNoisy}x its value without -> ${verdict.withinTwiceNoisy ? "within" : "NOT within"} twice\n`,
    );
    process.stdout.write(
      `quiet p99 during a noisy flood (beyond the node's capacity): ${verdict.ratioFlood}x its value without\n`,
    );
    process.stdout.write(`wrote bench-results/events.json\n`);
  } finally {
    await cluster.close();
    await cleanupNamespace(ns);
  }
}

main().catch((err: unknown) => {
  log.error({ err: err instanceof Error ? err.stack : String(err) }, "bench failed");
  process.exit(1);
});
