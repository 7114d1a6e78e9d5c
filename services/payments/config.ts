/**
 * The payment hub's section of the configuration (`config.payments`): the providers' URLs and
 * webhook secrets, the preference order for new payments, timeouts, the reconciliation and
 * subscription schedules, and the simulators' ports.
 */
import type { Env, EnvReader } from "../../config/env";
import type { PlatformConfig } from "../../config";
import type { ProviderName } from "./providers";

declare module "../../config" {
  interface DomainConfigs {
    /** The payment hub (services/payments/). */
    readonly payments: PaymentsConfig;
  }
}

/** Settings of the payment hub. */
export interface PaymentsConfig {
  readonly cardUrl: string;
  readonly walletUrl: string;
  readonly cardSecret: string;
  readonly walletSecret: string;
  /** True when neither provider URL is set: dev mode runs the simulators. */
  readonly useSimulators: boolean;
  /** Preference order for new payments (PAYMENTS_PROVIDERS, default card,wallet). */
  readonly order: readonly ProviderName[];
  readonly callTimeoutMs: number;
  /** A provider found down is skipped by new payments for this long. */
  readonly downForMs: number;
  /** How often the reconciliation job runs on worker nodes (0: only on request). */
  readonly reconcileMs: number;
  /** How often due subscriptions are charged on worker nodes (0: only on request). */
  readonly subscriptionsMs: number;
  /** Where providers send webhooks (the simulators are told). */
  readonly publicUrl: string;
  readonly sim: { readonly host: string; readonly cardPort: number; readonly walletPort: number };
}

/** Development webhook secrets (never outside dev mode). */
export const DEV_PAYMENT_SECRETS = { card: "dev-card-webhook-secret", wallet: "dev-wallet-webhook-secret" } as const;

/** Reads the section (PAYMENTS_*, SIM_CARD_*, SIM_WALLET_*). */
export function paymentsConfig(r: EnvReader, env: Env, platform: PlatformConfig): PaymentsConfig {
  const sim = {
    host: r.str("SIM_HOST", "127.0.0.1"),
    cardPort: r.int("SIM_CARD_PORT", 4110, 1, 65535),
    walletPort: r.int("SIM_WALLET_PORT", 4111, 1, 65535),
  };
  const set = (n: string): boolean => (env[n] ?? "").trim() !== "";
  const secret = (n: string, dev: string): string => {
    const v = r.str(n, "");
    if (v !== "") return v;
    if (!platform.devMode && platform.services.includes("payments"))
      r.problems.push(`${n} is required outside dev mode`);
    return dev;
  };
  const order = r
    .list("PAYMENTS_PROVIDERS", ["card", "wallet"], ["card", "wallet"])
    .filter((p): p is ProviderName => p === "card" || p === "wallet");
  return {
    cardUrl: r.url("PAYMENTS_CARD_URL", `http://${sim.host}:${sim.cardPort}`, ["http:", "https:"]).replace(/\/+$/, ""),
    walletUrl: r
      .url("PAYMENTS_WALLET_URL", `http://${sim.host}:${sim.walletPort}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    cardSecret: secret("PAYMENTS_CARD_SECRET", DEV_PAYMENT_SECRETS.card),
    walletSecret: secret("PAYMENTS_WALLET_SECRET", DEV_PAYMENT_SECRETS.wallet),
    useSimulators: !set("PAYMENTS_CARD_URL") && !set("PAYMENTS_WALLET_URL"),
    order,
    callTimeoutMs: r.int("PAYMENTS_CALL_TIMEOUT_MS", 10_000, 100, 120_000),
    downForMs: r.int("PAYMENTS_DOWN_MS", 5000, 0, 600_000),
    reconcileMs: r.int("PAYMENTS_RECONCILE_MS", 0, 0, 7 * 86_400_000),
    subscriptionsMs: r.int("PAYMENTS_SUBSCRIPTIONS_MS", 60_000, 0, 7 * 86_400_000),
    publicUrl: r
      .url("PUBLIC_URL", `http://127.0.0.1:${env["PORT"] ?? "3000"}`, ["http:", "https:"])
      .replace(/\/+$/, ""),
    sim,
  };
}
