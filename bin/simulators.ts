/**
 * The simulators of the tax and warehouse registration APIs, in their own process: one HTTP
 * server each (SIM_TAX_PORT, SIM_WAREHOUSE_PORT on SIM_HOST), callbacks signed with
 * TAX_CALLBACK_SECRET / WAREHOUSE_CALLBACK_SECRET (dev defaults shared with the platform).
 * Initial behaviour from SIM_TAX_CONFIG / SIM_WAREHOUSE_CONFIG (JSON, as for PUT /admin/config);
 * the supporters domain's user and ERP services on SIM_USER_PORT / SIM_ERP_PORT (SIM_USER_CONFIG, SIM_ERP_CONFIG);
 * change it at run time through each server's /admin/config. Forked by `npm start` in dev mode
 * (it reports "ready" over IPC), or run alone: `npx tsx bin/simulators.ts`.
 */
import { loadConfig, ConfigError } from "../node/config";
import { createLogger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { startSimulator, mergeSimConfig, DEFAULT_SIM_CONFIG, type SimConfig, type Simulator } from "../services/receipts/simulators";
import { startSupporterSimulator, mergeSupporterSimConfig, DEFAULT_SUPPORTER_SIM_CONFIG, type SupporterSimConfig, type SupporterSimulator } from "../services/receipts/simulators";

function initialConfig(name: string, raw: string | undefined): SimConfig {
  if (!raw) return DEFAULT_SIM_CONFIG;
  let patch: unknown;
  try {
    patch = JSON.parse(raw);
  } catch {
    throw new Error(`${name} is not JSON`);
  }
  const r = mergeSimConfig(DEFAULT_SIM_CONFIG, patch);
  if ("problems" in r) throw new Error(`${name}: ${r.problems.join("; ")}`);
  return r.config;
}

function initialSupporterConfig(name: string, raw: string | undefined): SupporterSimConfig {
  if (!raw) return DEFAULT_SUPPORTER_SIM_CONFIG;
  let patch: unknown;
  try {
    patch = JSON.parse(raw);
  } catch {
    throw new Error(`${name} is not JSON`);
  }
  const r = mergeSupporterSimConfig(DEFAULT_SUPPORTER_SIM_CONFIG, patch);
  if ("problems" in r) throw new Error(`${name}: ${r.problems.join("; ")}`);
  return r.config;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId, name: "simulators" });
  const rc = config.receipts;
  const sims: Simulator[] = [];
  // Supporters domain: the user service and the ERP service (SIM_USER_PORT, SIM_ERP_PORT).
  const sup = config.supporters.sim;
  const supporterSims: SupporterSimulator[] = [];
  try {
    sims.push(await startSimulator({ name: "tax", host: rc.sim.host, port: rc.sim.taxPort, secret: rc.taxCallbackSecret, logger: log, config: initialConfig("SIM_TAX_CONFIG", process.env["SIM_TAX_CONFIG"]) }));
    sims.push(await startSimulator({ name: "warehouse", host: rc.sim.host, port: rc.sim.warehousePort, secret: rc.warehouseCallbackSecret, logger: log, config: initialConfig("SIM_WAREHOUSE_CONFIG", process.env["SIM_WAREHOUSE_CONFIG"]) }));
    supporterSims.push(await startSupporterSimulator({ service: "user", host: sup.host, port: sup.userPort, logger: log, config: initialSupporterConfig("SIM_USER_CONFIG", process.env["SIM_USER_CONFIG"]) }));
    supporterSims.push(await startSupporterSimulator({ service: "erp", host: sup.host, port: sup.erpPort, logger: log, config: initialSupporterConfig("SIM_ERP_CONFIG", process.env["SIM_ERP_CONFIG"]) }));
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, "simulators failed to start");
    await Promise.all([...sims, ...supporterSims].map((s) => s.close()));
    process.exit(1);
  }
  log.info({ tax: sims[0]?.url, warehouse: sims[1]?.url, user: supporterSims[0]?.url, erp: supporterSims[1]?.url }, "simulators ready");
  process.send?.({ ready: true, tax: sims[0]?.url, warehouse: sims[1]?.url, user: supporterSims[0]?.url, erp: supporterSims[1]?.url });
  const stop = (): void => {
    void Promise.all([...sims, ...supporterSims].map((s) => s.close())).finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("disconnect", stop);
}

void main();
