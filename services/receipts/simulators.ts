/**
 * The receipts domain's simulators (bin/simulators.ts starts them): the tax and warehouse
 * registration APIs (simulator.ts), one HTTP server each on SIM_HOST:SIM_TAX_PORT and
 * SIM_WAREHOUSE_PORT, callbacks signed with the configured callback secrets (dev defaults shared
 * with the platform), initial behaviour from SIM_TAX_CONFIG / SIM_WAREHOUSE_CONFIG (JSON, as for
 * `PUT /admin/config`). Dev mode wants them while TAX_API_URL and WAREHOUSE_API_URL are unset.
 */
import type { DomainSimulator } from "../../node/domain";
import { initialSimConfig } from "../../lib/sim-http";
import type { RegistrationService } from "./receipt.actor";
import { startSimulator } from "./simulator";
import { DEFAULT_SIM_CONFIG, mergeSimConfig } from "./simulator-config";

const CONFIG_VARS: Readonly<Record<RegistrationService, string>> = {
  tax: "SIM_TAX_CONFIG",
  warehouse: "SIM_WAREHOUSE_CONFIG",
};

/** The simulator of one registration service. */
function registrationSimulator(service: RegistrationService): DomainSimulator {
  return {
    name: service,
    wanted: (config) => config.receipts.useSimulators,
    async start(config, logger, env) {
      const rc = config.receipts;
      const sim = await startSimulator({
        name: service,
        host: rc.sim.host,
        port: service === "tax" ? rc.sim.taxPort : rc.sim.warehousePort,
        secret: service === "tax" ? rc.taxCallbackSecret : rc.warehouseCallbackSecret,
        logger,
        config: initialSimConfig(CONFIG_VARS[service], env[CONFIG_VARS[service]], DEFAULT_SIM_CONFIG, mergeSimConfig),
      });
      return { url: sim.url, stop: () => sim.close() };
    },
  };
}

/** The tax and warehouse simulators. */
export const receiptSimulators: readonly DomainSimulator[] = [
  registrationSimulator("tax"),
  registrationSimulator("warehouse"),
];
