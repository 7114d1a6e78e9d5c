/**
 * The rewards domain's simulator (bin/simulators.ts starts it): the ID validators, the identity
 * provider and the catalog providers in one HTTP server on REWARDS_SIM_PORT (simulator.ts).
 * Dev mode wants it while REWARDS_VALIDATORS_URL, REWARDS_IDP_URL and REWARDS_CATALOGS_URL are
 * unset. It starts with a few charities and families so that signups of those kinds can pass.
 */
import type { DomainSimulator } from "../../node/domain";
import { startRewardsSimulator } from "./simulator";

const at = "2026-01-01T00:00:00Z";

/** The identity and catalog simulator. */
export const rewardSimulators: readonly DomainSimulator[] = [
  {
    name: "rewardsidentity",
    wanted: (config) => config.rewards.useSimulators,
    async start(config, logger) {
      const sim = await startRewardsSimulator({
        port: config.rewards.simPort,
        host: config.rewards.simHost,
        logger,
        catalogs: {
          irs: [
            { id: "EIN-10-0000001", name: "Blue Line Fund", updatedAt: at },
            { id: "EIN-10-0000002", name: "Neighbourhood Food Bank", updatedAt: at },
          ],
          hud: [{ id: "HUD-0001", name: "The Rivera family", updatedAt: at }],
        },
      });
      return { url: sim.url, stop: () => sim.close() };
    },
  },
];
