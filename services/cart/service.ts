/**
 * The cart's Moleculer service "carts": each action checks the caller owns the cart, prices an
 * added variant through `catalog.variant`, puts the change in the cart's mailbox and answers
 * the cart once its actor handled it (woken by the actor's `carts.changed` broadcast). `carts.summary` {cartId} (nodes and operators)
 * answers the cart's owner, line count, total and status.
 */
import { randomBytes } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import {
  requireNodeOrOperator,
  requireScope,
  type AuthenticatedClient,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import type { ActorClient } from "../../actors/refs";
import { AppError } from "../../lib/errors";
import { cartTotal, type CartItemInfo, type CartList, type CartMessage, type CartState } from "./cart.actor";
import { Waiters, waitApplied } from "./applied";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall<B = unknown, Q = Record<string, unknown>> = HttpCallParams<{ id: string; variantId?: string }, Q, B>;

/** A cart as the API shows it. */
export function cartView(id: string, s: CartState) {
  return {
    id,
    status: s.status,
    items: s.items,
    likely: s.likely,
    total: cartTotal(s),
    currency: s.items[0]?.currency ?? null,
    orderId: s.orderId,
    orderState: s.orderState,
    lastError: s.lastError,
  };
}

/** The variant shape `catalog.variant` answers (only what the cart needs). */
function itemOf(v: unknown): (CartItemInfo & { available: number }) | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const { id, productId, title, price, currency, available }: Record<string, unknown> = { ...v };
  if (typeof id !== "string" || typeof productId !== "string" || typeof title !== "string") return undefined;
  if (typeof price !== "number" || typeof currency !== "string" || typeof available !== "number") return undefined;
  return { variantId: id, productId, title, unitPrice: price, currency, available };
}

/** The service over the cart actors (`carts`) and the node's broker. */
export function cartsService(carts: ActorClient<CartState, CartMessage>, waitMs: number): ServiceSchema {
  async function owned(client: AuthenticatedClient, id: string): Promise<CartState> {
    const s = await carts.state(id);
    if (!s || s.owner !== client.id) throw new AppError("NOT_FOUND", "cart not found");
    return s;
  }
  const waiters = new Waiters();
  async function change(id: string, m: CartMessage) {
    const { seq } = await carts.send(id, m);
    const s = await waitApplied(() => carts.state(id), { wait: (q, ms) => waiters.wait(id, q, ms) }, seq, waitMs);
    if (s.seq === seq && s.lastError) throw new AppError("CONFLICT", s.lastError);
    return s;
  }
  return {
    name: "carts",
    events: {
      "carts.changed": {
        handler(c: Context<unknown>) {
          const p = c.params;
          if (typeof p !== "object" || p === null || !("cartId" in p) || !("seq" in p)) return;
          if (typeof p.cartId === "string" && typeof p.seq === "number") waiters.notify(p.cartId, p.seq);
        },
      },
    },
    actions: {
      async create(c: Ctx) {
        const client = requireScope(c, "shop:write");
        const id = `c${Date.now().toString(36)}${randomBytes(8).toString("hex")}`;
        const s = await change(id, { type: "open", owner: client.id });
        c.meta.$statusCode = 201;
        c.meta.$location = `/api/v1/carts/${id}`;
        return cartView(id, s);
      },

      async get(c: Ctx<IdCall>) {
        const client = requireScope(c, "shop:read");
        return cartView(c.params.params.id, await owned(client, c.params.params.id));
      },

      async addItem(c: Ctx<IdCall<{ variantId: string; qty?: number; list?: CartList }>>) {
        const client = requireScope(c, "shop:write");
        const id = c.params.params.id;
        const body = c.params.body;
        if (!body) throw new AppError("BAD_REQUEST", "a body is required");
        const s0 = await owned(client, id);
        if (s0.status !== "open") throw new AppError("CONFLICT", "the cart is checked out");
        const item = itemOf(await c.broker.call("catalog.variant", { id: body.variantId }));
        if (!item) throw new AppError("NOT_FOUND", "variant not found");
        const qty = body.qty ?? 1;
        const list = body.list ?? "buying";
        const { available, ...info } = item;
        const inCart = s0.items.find((l) => l.variantId === info.variantId)?.qty ?? 0;
        if (list === "buying" && inCart + qty > available)
          throw new AppError("CONFLICT", `only ${available} available`);
        const s = await change(id, { type: "add", owner: client.id, item: info, qty, list });
        return cartView(id, s);
      },

      async removeItem(c: Ctx<IdCall<unknown, { list?: CartList }>>) {
        const client = requireScope(c, "shop:write");
        const id = c.params.params.id;
        await owned(client, id);
        const variantId = c.params.params.variantId ?? "";
        const list = c.params.query.list ?? "buying";
        return cartView(id, await change(id, { type: "remove", owner: client.id, variantId, list }));
      },

      async checkout(c: Ctx<IdCall>) {
        const client = requireScope(c, "shop:write");
        const id = c.params.params.id;
        await owned(client, id);
        const s = await change(id, { type: "checkout", owner: client.id });
        if (!s.orderId) throw new AppError("CONFLICT", s.lastError ?? "the cart was not checked out");
        c.meta.$statusCode = 202;
        c.meta.$responseHeaders = { Location: `/api/v1/orders/${s.orderId}` };
        return { orderId: s.orderId, cart: cartView(id, s) };
      },

      async summary(c: Context<{ cartId?: unknown }>) {
        requireNodeOrOperator(c);
        const id = typeof c.params.cartId === "string" ? c.params.cartId : "";
        const s = id ? await carts.state(id) : undefined;
        if (!s) return null;
        return {
          cartId: id,
          owner: s.owner,
          status: s.status,
          lines: s.items.length,
          total: cartTotal(s),
          currency: s.items[0]?.currency ?? null,
        };
      },

      /** Operators (REPL `cart <id>`): the whole state. */
      async inspect(c: Context<{ cartId?: unknown }>) {
        requireNodeOrOperator(c);
        const id = typeof c.params.cartId === "string" ? c.params.cartId : "";
        return (id ? await carts.state(id) : undefined) ?? null;
      },
    },
  };
}
