/**
 * `npm run bench:supporters`: supporter intake and delivery in one run. Two nodes as child
 * processes against the local NATS/Postgres/Redis, the user and ERP simulators in this process;
 * N supporters each send M messages one after the other through five producers (HTTP on both
 * gateways, two NATS requesters, one JetStream publisher), C supporters at a time. Reports
 * intake messages/s with p50/p99 acknowledgement latency (overall and per path), and delivered
 * messages/s (both steps done: user service then ERP service), checks per-supporter order, and
 * writes bench-results/supporters.json. Prints progress.
 *
 * Env: BENCH_SUPPORTERS (default 2000), BENCH_MESSAGES per supporter (default 10),
 * BENCH_CONCURRENCY (default 200), BENCH_SIM_LATENCY_MS (default 2: each downstream call takes
 * 0..N ms).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../lib/logger";
import {
  cleanupSupporters,
  expectedHash,
  freePort,
  makeClientIn,
  Producers,
  startChild,
  startSims,
  supportersEnv,
  type ChildNode,
} from "../test/supporters/harness";
import { fiveProducers, runLoad } from "../test/supporters/load";
import { allDelivered, orderProblems } from "../test/supporters/checks";
import { freshNamespace } from "../test/support/namespace";
import { waitFor } from "../test/support/wait";

const log = createLogger({ level: "info", name: "bench:supporters" });
const SUPPORTERS = Number(process.env["BENCH_SUPPORTERS"] ?? 2000);
const MESSAGES = Number(process.env["BENCH_MESSAGES"] ?? 10);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 200);
const SIM_LATENCY = Number(process.env["BENCH_SIM_LATENCY_MS"] ?? 2);

/** Cumulative counts per bucket bound (seconds) of the gateway's histogram for the intake route. */
async function gatewayBuckets(urls: readonly string[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split("\n")) {
      const m =
        /^http_request_duration_seconds_bucket\{le="([^"]+)",route="\/api\/v1\/supporter-events",method="POST",status="202"\} (\d+)/.exec(
          line,
        );
      if (!m) continue;
      const le = m[1] === "+Inf" ? Infinity : Number(m[1]);
      out.set(le, (out.get(le) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

/** The bucket bound (ms) under which a quantile of the requests between two snapshots fell. */
function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const b of bounds)
    if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= q * total) return b === Infinity ? null : b * 1000;
  return null;
}

async function main(): Promise<void> {
  const ns = freshNamespace("bsup");
  const sims = await startSims();
  sims.user.setConfig({ latencyMs: { min: 0, max: SIM_LATENCY } });
  sims.erp.setConfig({ latencyMs: { min: 0, max: SIM_LATENCY } });
  const nodes: ChildNode[] = [];
  let nats: Producers | null = null;
  try {
    log.info(
      { ns, supporters: SUPPORTERS, messagesPerSupporter: MESSAGES, concurrency: CONCURRENCY },
      "starting two nodes",
    );
    const ports = [await freePort(), await freePort()];
    nodes.push(
      ...(await Promise.all([
        startChild(supportersEnv(ns, "b1", ports[0]!, sims)),
        startChild(supportersEnv(ns, "b2", ports[1]!, sims)),
      ])),
    );
    nats = await Producers.connect(ns);
    const writer = await makeClientIn(ns, ["supporters:write"]);
    const producers = fiveProducers(
      nodes.map((n) => n.url),
      writer.apiKey,
    );
    // warm-up, not measured: JIT, credential caches, and as many keep-alive connections as the
    // measured run uses (otherwise its first second is a connection storm)
    const warm = Math.max(100, CONCURRENCY);
    await runLoad({
      nats,
      producers,
      supporters: Array.from({ length: warm }, (_, i) => 1_000_000 + i),
      perSupporter: 3,
      concurrency: CONCURRENCY,
    });
    // (no pause here: the server closes keep-alive connections idle for 5 s)
    const base = { erp: 0, user: 0 };
    const measured = (): { erp: number; user: number } => {
      let erp = 0;
      let user = 0;
      for (let i = 0; i < SUPPORTERS; i++) {
        erp += sims.erp.book.deliveries(expectedHash(i)).length;
        user += sims.user.book.deliveries(expectedHash(i)).length;
      }
      return { erp, user };
    };
    const gwBefore = await gatewayBuckets(nodes.map((n) => n.url));

    const total = SUPPORTERS * MESSAGES;
    const supporters = Array.from({ length: SUPPORTERS }, (_, i) => i);
    log.info({ messages: total }, "sending");
    const start = Date.now();
    let lastProgress = 0;
    const progress = setInterval(() => {
      const d = measured();
      const s = (Date.now() - start) / 1000;
      log.info(
        {
          seconds: Math.round(s),
          delivered: d.erp - base.erp,
          userCalls: d.user - base.user,
          deliveredPerSec: Math.round((d.erp - base.erp) / s),
        },
        "progress",
      );
    }, 2000);
    const load = await runLoad({
      nats,
      producers,
      supporters,
      perSupporter: MESSAGES,
      concurrency: CONCURRENCY,
      onProgress: (sent) => {
        if (Date.now() - lastProgress > 2000) {
          lastProgress = Date.now();
          log.info({ sent, of: total, perSec: Math.round(sent / ((Date.now() - start) / 1000)) }, "intake");
        }
      },
    });
    const intakeS = load.elapsedMs / 1000;
    const deliveredAtIntakeEnd = measured().erp;
    log.info(
      {
        sent: load.sent,
        seconds: intakeS,
        perSec: Math.round(load.sent / intakeS),
        p50: load.latency.percentile(0.5),
        p99: load.latency.percentile(0.99),
      },
      "intake done; waiting for delivery",
    );
    await waitFor("every message delivered", () => allDelivered(sims, producers, supporters, MESSAGES), 900_000, 100);
    const lastErp = Math.max(
      ...supporters.map((i) => Math.max(...sims.erp.book.deliveries(expectedHash(i)).map((d) => d.at))),
    );
    clearInterval(progress);
    const deliverS = (lastErp - start) / 1000;
    const problems = orderProblems(sims, producers, supporters, MESSAGES);
    const gwAfter = await gatewayBuckets(nodes.map((n) => n.url));
    const result = {
      benchmark: "supporters",
      at: new Date().toISOString(),
      machine: "2 cores, shared",
      setup: {
        nodes: 2,
        supporters: SUPPORTERS,
        messagesPerSupporter: MESSAGES,
        messages: total,
        concurrency: CONCURRENCY,
        producers: "HTTP x2 (one per node), NATS request x2, JetStream publish x1",
        simLatencyMs: `0..${SIM_LATENCY}`,
      },
      intake: {
        messages: load.sent,
        seconds: intakeS,
        messagesPerSec: Math.round(load.sent / intakeS),
        p50Ms: load.latency.percentile(0.5),
        p99Ms: load.latency.percentile(0.99),
        byPath: Object.fromEntries(
          Object.entries(load.byKind).map(([k, h]) => [
            k,
            { count: h.count, p50Ms: h.percentile(0.5), p99Ms: h.percentile(0.99) },
          ]),
        ),
        retriedSends: load.failures,
        firstErrors: load.errors,
        // the same HTTP requests as the gateway measured them (bucket upper bounds)
        gatewaySide: {
          p50UnderMs: bucketQuantile(gwBefore, gwAfter, 0.5),
          p99UnderMs: bucketQuantile(gwBefore, gwAfter, 0.99),
        },
      },
      delivery: {
        messages: total,
        secondsFromFirstSend: deliverS,
        messagesPerSec: Math.round(total / deliverS),
        downstreamCallsPerSec: Math.round((2 * total) / deliverS),
        deliveredDuringIntake: deliveredAtIntakeEnd,
        drainAfterIntakeS: Math.max(0, deliverS - intakeS),
        duplicatesAbsorbed: { user: sims.user.counters.duplicates, erp: sims.erp.counters.duplicates },
      },
      orderProblems: problems.length,
    };
    const dir = path.resolve(__dirname, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "supporters.json"), JSON.stringify(result, null, 2));
    process.stdout.write(
      [
        "",
        `bench:supporters (${SUPPORTERS} supporters x ${MESSAGES} messages, 5 producers over HTTP / NATS request / JetStream, 2 nodes)`,
        `  intake   : ${result.intake.messagesPerSec} msg/s, ack latency p50 ${result.intake.p50Ms} ms, p99 ${result.intake.p99Ms} ms (http p99 ${result.intake.byPath["http"]?.p99Ms}, request p99 ${result.intake.byPath["request"]?.p99Ms}, publish p99 ${result.intake.byPath["publish"]?.p99Ms})`,
        `             HTTP as measured by the gateway: p50 under ${result.intake.gatewaySide.p50UnderMs} ms, p99 under ${result.intake.gatewaySide.p99UnderMs} ms`,
        `  delivered: ${result.delivery.messagesPerSec} msg/s to both services (${result.delivery.downstreamCallsPerSec} calls/s), all ${total} in ${deliverS.toFixed(1)} s from the first send; per-supporter order problems: ${problems.length}`,
        `  written to bench-results/supporters.json`,
        "",
      ].join("\n"),
    );
  } finally {
    await nats?.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL").catch(() => undefined)));
    await sims.close();
    await cleanupSupporters(ns);
  }
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    log.error({ err: (err as Error).message }, "benchmark failed");
    process.exit(1);
  });
