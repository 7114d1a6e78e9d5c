/**
 * The simulators of the external systems every domain module declares (`simulators` in
 * node/domain.ts), in their own process: one HTTP server each, on the host and port of the
 * domain's configuration (e.g. the receipts domain's tax and warehouse services, the supporters
 * domain's user and ERP services); each reads its initial behaviour from its SIM_*_CONFIG
 * variable and changes it at run time through its own /admin/config. Forked by `npm start` in
 * dev mode (it reports "ready" over IPC), or run alone: `npx tsx bin/simulators.ts`.
 */
import { loadConfig, ConfigError } from "../node/config";
import { createLogger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { DOMAINS } from "../services";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId, name: "simulators" });
  const running: Array<{ name: string; url: string; stop(): Promise<void> }> = [];
  try {
    for (const sim of DOMAINS.flatMap((d) => d.simulators ?? [])) {
      running.push({ name: sim.name, ...(await sim.start(config, log, process.env)) });
    }
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, "simulators failed to start");
    await Promise.all(running.map((s) => s.stop()));
    process.exit(1);
  }
  const urls = Object.fromEntries(running.map((s) => [s.name, s.url]));
  log.info(urls, "simulators ready");
  process.send?.({ ready: true, ...urls });
  const stop = (): void => {
    void Promise.all(running.map((s) => s.stop())).finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("disconnect", stop);
}

void main();
