/**
 * The payment hub's simulators (bin/simulators.ts starts them in dev mode while neither
 * PAYMENTS_CARD_URL nor PAYMENTS_WALLET_URL is set): the card processor on SIM_CARD_PORT (4110)
 * and the wallet on SIM_WALLET_PORT (4111), sending their webhooks to PUBLIC_URL, with initial
 * faults from SIM_CARD_CONFIG / SIM_WALLET_CONFIG (JSON, as for `PUT /admin/config`).
 */
import type { DomainSimulator } from "../../node/domain";
import { initialSimConfig } from "../../lib/sim-http";
import { startCardSimulator } from "./card-simulator";
import { startWalletSimulator } from "./wallet-simulator";
import { DEFAULT_PROVIDER_SIM, mergeProviderSim } from "./simulator-kit";

/** The card and wallet simulators. */
export const paymentSimulators: readonly DomainSimulator[] = [
  {
    name: "card",
    wanted: (config) => config.payments.useSimulators,
    async start(config, logger, env) {
      const pc = config.payments;
      const initial = initialSimConfig(
        "SIM_CARD_CONFIG",
        env["SIM_CARD_CONFIG"],
        { ...DEFAULT_PROVIDER_SIM, webhookUrl: `${pc.publicUrl}/api/v1/payments/webhooks/card` },
        mergeProviderSim,
      );
      const sim = await startCardSimulator({
        host: pc.sim.host,
        port: pc.sim.cardPort,
        secret: pc.cardSecret,
        logger,
        config: initial,
      });
      return { url: sim.url, stop: () => sim.close() };
    },
  },
  {
    name: "wallet",
    wanted: (config) => config.payments.useSimulators,
    async start(config, logger, env) {
      const pc = config.payments;
      const initial = initialSimConfig(
        "SIM_WALLET_CONFIG",
        env["SIM_WALLET_CONFIG"],
        { ...DEFAULT_PROVIDER_SIM, webhookUrl: `${pc.publicUrl}/api/v1/payments/webhooks/wallet` },
        mergeProviderSim,
      );
      const sim = await startWalletSimulator({
        host: pc.sim.host,
        port: pc.sim.walletPort,
        secret: pc.walletSecret,
        logger,
        config: initial,
      });
      return { url: sim.url, stop: () => sim.close() };
    },
  },
];
