/**
 * `npm run dr -- <command>`: the standby region's commands (ops/standby.ts), run with NATS_URL
 * pointing at the standby region's servers and the cluster's NAMESPACE:
 *
 *   setup   --primary-domain D [--replicas N]   mirror every stream of the namespace from domain D
 *   follow  [--interval-ms 1000] [--once]       measure the mirrors' lag, trim queue mirrors (runs until stopped)
 *   promote --work DIR [--force] [--replicas N] fence, then turn the mirrors into the streams
 *   node                                        a standby node: idle until promoted, then a node as `npm start`
 *
 * Logs go to stderr; `follow --once` and `promote` print their report on stdout as one JSON line.
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { loadConfig, ConfigError } from "../node/config";
import { connectNats } from "../nats";
import { errorMessage } from "../lib/errors";
import { createLogger } from "../lib/logger";
import { startNode } from "../node/start";
import { followStandby, promoteStandby, setupStandby, waitForPromotion } from "../ops/standby";

class UsageError extends Error {}

const USAGE =
  "usage: dr <setup --primary-domain D | follow [--interval-ms N] [--once] | promote --work DIR [--force] | node>";

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      "primary-domain": { type: "string" },
      replicas: { type: "string" },
      "interval-ms": { type: "string" },
      once: { type: "boolean" },
      work: { type: "string" },
      force: { type: "boolean" },
    },
  });
  const command = positionals[0];
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { name: "dr" } }, pino.destination(2));
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  const standby = await connectNats(config.natsUrl, `switchyard-dr-${command ?? ""}`, 5000);
  const ns = config.namespace;
  switch (command) {
    case "setup": {
      if (!values["primary-domain"]) throw new UsageError(USAGE);
      const plan = await setupStandby({
        standby,
        namespace: ns,
        primaryDomain: values["primary-domain"],
        log,
        ...(replicas !== undefined ? { replicas } : {}),
      });
      process.stdout.write(`${JSON.stringify({ streams: plan.streams.map((s) => s.name) })}\n`);
      await standby.nc.close();
      return;
    }
    case "follow": {
      const every = Number(values["interval-ms"] ?? 1000);
      let stop = false;
      process.on("SIGTERM", () => (stop = true));
      process.on("SIGINT", () => (stop = true));
      do {
        try {
          const r = await followStandby({ standby, namespace: ns, log });
          if (values.once) process.stdout.write(`${JSON.stringify(r)}\n`);
          else log.info({ lagMessages: r.messages, lagMs: r.ms }, "mirror lag");
        } catch (err) {
          // the primary not answering is what a standby exists for: keep measuring, say so
          log.warn({ err: errorMessage(err) }, "primary not reachable");
          if (values.once) throw err;
        }
        if (!values.once && !stop) await new Promise((r) => setTimeout(r, every));
      } while (!values.once && !stop);
      await standby.nc.close();
      return;
    }
    case "promote": {
      if (!values.work) throw new UsageError(USAGE);
      const report = await promoteStandby({
        standby,
        namespace: ns,
        log,
        workDir: values.work,
        ...(values.force ? { force: true } : {}),
        ...(replicas !== undefined ? { replicas } : {}),
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      await standby.nc.close();
      return;
    }
    case "node": {
      process.on("SIGTERM", () => process.exit(0));
      log.info({ namespace: ns }, "standby node idle until the standby is promoted");
      const r = await waitForPromotion(standby, ns);
      log.info({ promotedAt: r.at }, "promoted: starting the node");
      await standby.nc.close();
      process.removeAllListeners("SIGTERM");
      // as `npm start` does: SIGTERM drains the node
      const node = await startNode(config, createLogger({ level: config.logLevel, nodeId: config.nodeId }));
      const shutdown = (): void =>
        void node.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      process.once("SIGTERM", shutdown);
      process.once("SIGINT", shutdown);
      return;
    }
    default:
      throw new UsageError(USAGE);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${err instanceof ConfigError || err instanceof UsageError ? err.message : `dr failed: ${errorMessage(err)}`}\n`,
  );
  process.exit(1);
});
