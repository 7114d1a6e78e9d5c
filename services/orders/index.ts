/**
 * The orders domain module: the order actor (one per order, an explicit state machine with
 * compensation), its jobs towards the catalogue and the payment hub, and its routes.
 */
import type { ServiceBroker } from "moleculer";
import { defineDomain } from "../../node/domain";
import type { EnvReader } from "../../config/env";
import { order, orderKind } from "./order.actor";
import { orderJobs, type OrderJobDeps } from "./jobs";
import { orderRoutes } from "./routes";
import { ordersService } from "./service";
import { orderRepl } from "./repl";

declare module "../../config" {
  interface DomainConfigs {
    /** Orders (services/orders/). */
    readonly orders: { readonly reservationTtlMs: number; readonly waitMs: number };
  }
}

/** The orders domain (see module doc). */
export const ordersDomain = defineDomain<OrderJobDeps>({
  name: "orders",
  summary: "the order actor: checkout through stock, payment, fulfilment and delivery, with compensation",
  config: (r: EnvReader) => ({
    reservationTtlMs: r.int("ORDERS_RESERVATION_TTL_MS", 15 * 60_000, 1000, 7 * 86_400_000),
    waitMs: r.int("ORDERS_WAIT_MS", 5000, 100, 60_000),
  }),
  declare: (config) => ({
    kinds: [orderKind({ reservationTtlMs: config.orders.reservationTtlMs })],
    jobs: orderJobs("orders.paymentEvent"),
    routes: orderRoutes,
  }),
  start(ctx) {
    let broker: ServiceBroker | undefined;
    const svc = ordersService(order.on(ctx.runtime), ctx.config.orders.waitMs);
    return {
      services: [
        {
          ...svc,
          created() {
            broker = this.broker;
          },
        },
      ],
      deps: { broker: () => broker },
    };
  },
  repl: orderRepl,
});
