/**
 * The cart domain module: the cart actor (one per cart, single writer: storefront changes and
 * the checkout go through its mailbox), its routes, and the job `cartplace` that hands a
 * checked-out cart to the orders domain (`orders.place`).
 */
import type { ServiceBroker } from "moleculer";
import { defineDomain } from "../../node/domain";
import type { EnvReader } from "../../config/env";
import { cart, cartKind } from "./cart.actor";
import { cartJobs, type CartJobDeps } from "./jobs";
import { cartRoutes } from "./routes";
import { cartsService } from "./service";
import { cartRepl } from "./repl";

declare module "../../config" {
  interface DomainConfigs {
    /** Carts (services/cart/). */
    readonly cart: { readonly waitMs: number };
  }
}

/** The cart domain (see module doc). */
export const cartDomain = defineDomain<CartJobDeps>({
  name: "cart",
  summary: "the cart actor: buying and likely-to-buy items, one order per checkout",
  config: (r: EnvReader) => ({ waitMs: r.int("CART_WAIT_MS", 5000, 100, 60_000) }),
  declare: () => ({ kinds: [cartKind], jobs: cartJobs, routes: cartRoutes }),
  start(ctx) {
    let broker: ServiceBroker | undefined;
    const svc = cartsService(cart.on(ctx.runtime), ctx.config.cart.waitMs);
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
  repl: cartRepl,
});
