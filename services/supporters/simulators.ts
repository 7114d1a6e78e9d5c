/**
 * The supporters domain's simulators (bin/simulators.ts starts them): the user service and the
 * ERP service (simulator.ts) on SIM_USER_PORT / SIM_ERP_PORT, initial behaviour from
 * SIM_USER_CONFIG / SIM_ERP_CONFIG (JSON, as for `PUT /admin/config`). Dev mode wants each
 * while its USER_SERVICE_URL / ERP_SERVICE_URL is unset.
 */
import type { DomainSimulator } from "../../node/domain";
import { initialSimConfig } from "../../lib/sim-http";
import { DEFAULT_SUPPORTER_SIM_CONFIG, mergeSupporterSimConfig, startSupporterSimulator } from "./simulator";

const VARS = {
  user: { url: "USER_SERVICE_URL", config: "SIM_USER_CONFIG" },
  erp: { url: "ERP_SERVICE_URL", config: "SIM_ERP_CONFIG" },
} as const;

/** The simulator of one downstream service. */
function downstreamSimulator(service: "user" | "erp"): DomainSimulator {
  return {
    name: service,
    wanted: (_config, env) => (env[VARS[service].url] ?? "").trim() === "",
    async start(config, logger, env) {
      const sc = config.supporters.sim;
      const sim = await startSupporterSimulator({
        service,
        host: sc.host,
        port: service === "user" ? sc.userPort : sc.erpPort,
        logger,
        config: initialSimConfig(
          VARS[service].config,
          env[VARS[service].config],
          DEFAULT_SUPPORTER_SIM_CONFIG,
          mergeSupporterSimConfig,
        ),
      });
      return { url: sim.url, stop: () => sim.close() };
    },
  };
}

/** The user-service and ERP-service simulators. */
export const supporterSimulators: readonly DomainSimulator[] = [
  downstreamSimulator("user"),
  downstreamSimulator("erp"),
];
