/**
 * The payment hub domain module: payments for orders and subscriptions and their refunds,
 * done by external providers (a card processor and a wallet, simulators included) and
 * coordinated here with idempotency keys, failover for new payments, verified webhooks, a
 * ledger and a reconciliation job. Worker nodes charge due subscriptions every
 * PAYMENTS_SUBSCRIPTIONS_MS and reconcile every PAYMENTS_RECONCILE_MS (0: on request only).
 */
import type { ServiceBroker } from "moleculer";
import { defineDomain } from "../../node/domain";
import { errorMessage } from "../../lib/errors";
import { paymentsConfig } from "./config";
import { createHub } from "./hub";
import { cardProvider, walletProvider, type Provider, type ProviderName } from "./providers";
import { paymentRoutes } from "./routes";
import { paymentsService } from "./service";
import { createPaymentStore, paymentMigrations } from "./store";
import { paymentSimulators } from "./simulators";

/** The payment hub domain (see module doc). */
export const paymentsDomain = defineDomain({
  name: "payments",
  summary:
    "payment hub: card and wallet providers, idempotency, failover, webhooks, ledger, reconciliation, subscriptions",
  config: paymentsConfig,
  declare: () => ({ migrations: paymentMigrations, routes: paymentRoutes }),
  start(ctx) {
    const pc = ctx.config.payments;
    const log = ctx.logger.child({ domain: "payments" });
    let broker: ServiceBroker | undefined;
    const providers = new Map<ProviderName, Provider>([
      ["card", cardProvider(pc.cardUrl, pc.cardSecret, pc.callTimeoutMs)],
      ["wallet", walletProvider(pc.walletUrl, pc.walletSecret, pc.callTimeoutMs)],
    ]);
    const hub = createHub({
      store: createPaymentStore({ pg: ctx.pg }),
      providers,
      order: pc.order,
      logger: log,
      downForMs: pc.downForMs,
      async notify(action, update) {
        if (!broker) throw new Error("payments service not started yet");
        await broker.call(action, update);
      },
    });
    const timers: NodeJS.Timeout[] = [];
    const every = (ms: number, what: string, fn: () => Promise<unknown>): void => {
      if (ms <= 0 || !ctx.config.workers) return;
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        fn()
          .catch((err: unknown) => log.warn({ err: errorMessage(err) }, `${what} failed`))
          .finally(() => (busy = false));
      }, ms);
      t.unref();
      timers.push(t);
    };
    const svc = paymentsService(hub);
    return {
      services: [
        {
          ...svc,
          created() {
            broker = this.broker;
          },
          started() {
            every(pc.subscriptionsMs, "subscription charge run", () => hub.chargeRun(new Date()));
            every(pc.reconcileMs, "reconciliation", () => hub.reconcile());
            return Promise.resolve();
          },
        },
      ],
      stop() {
        for (const t of timers) clearInterval(t);
        return Promise.resolve();
      },
    };
  },
  simulators: paymentSimulators,
});
