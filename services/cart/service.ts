/**
 * The cart's Moleculer service "carts": each action checks the caller owns the cart, prices an
 * added variant through `catalog.variant`, puts the change in the cart's mailbox and answers
 * the cart once its actor handled it, with the state the actor's `carts.changed` broadcast
 * carries (applied.ts). A cart's owner is set by its first message and never changes, so it is
 * remembered here ({@link OwnerCache}): a change costs no state read. Checks that need the
 * cart's content (checked out, stock against what is already in the cart, currency) are the
 * actor's, in its mailbox order. `carts.summary` {cartId} (nodes and operators) answers the
 * cart's owner, line count, total and status.
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

/**
 * Cart owners seen by this node, at most `max` (the oldest go first). A cart's owner never
 * changes once set, so an entry is never stale; a cart not in it is read once.
 */
export class OwnerCache {
  private readonly owners = new Map<string, string>();
  constructor(private readonly max = 100_000) {}
  get(cartId: string): string | undefined {
    return this.owners.get(cartId);
  }
  set(cartId: string, owner: string): void {
    if (this.owners.has(cartId)) return;
    if (this.owners.size >= this.max) {
      const oldest = this.owners.keys().next();
      if (!oldest.done) this.owners.delete(oldest.value);
    }
    this.owners.set(cartId, owner);
  }
}

/** The state a `carts.changed` broadcast carries, when it is one (a cart with a numeric seq). */
function carriedCart(v: unknown): CartState | undefined {
  if (typeof v !== "object" || v === null || !("seq" in v) || typeof v.seq !== "number") return undefined;
  if (!("items" in v) || !Array.isArray(v.items) || !("likely" in v) || !Array.isArray(v.likely)) return undefined;
  return v as CartState; // written by the cart actor of this code base: its own state type
}

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
  const owners = new OwnerCache();
  async function owned(client: AuthenticatedClient, id: string): Promise<CartState> {
    const s = await carts.state(id);
    if (!s || s.owner !== client.id) throw new AppError("NOT_FOUND", "cart not found");
    owners.set(id, s.owner);
    return s;
  }
  /** 404 unless `client` owns cart `id` (no read once this node knows the owner). */
  async function mustOwn(client: AuthenticatedClient, id: string): Promise<void> {
    const known = owners.get(id);
    if (known === undefined) await owned(client, id);
    else if (known !== client.id) throw new AppError("NOT_FOUND", "cart not found");
  }
  const waiters = new Waiters<CartState>();
  async function change(id: string, m: CartMessage) {
    const w = waiters.listen(id);
    try {
      const { seq } = await carts.send(id, m);
      const s = await waitApplied(() => carts.state(id), w.waiter, seq, waitMs);
      if (s.seq === seq && s.lastError) throw new AppError("CONFLICT", s.lastError);
      if (s.owner !== null) owners.set(id, s.owner);
      return s;
    } finally {
      w.done();
    }
  }
  return {
    name: "carts",
    events: {
      "carts.changed": {
        handler(c: Context<unknown>) {
          const p = c.params;
          if (typeof p !== "object" || p === null || !("cartId" in p) || !("seq" in p)) return;
          if (typeof p.cartId === "string" && typeof p.seq === "number")
            waiters.notify(p.cartId, p.seq, "cart" in p ? carriedCart(p.cart) : undefined);
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
        // the owner check and the price lookup are independent: one round trip of waiting, not two
        const [, variant] = await Promise.all([
          mustOwn(client, id),
          c.broker.call("catalog.variant", { id: body.variantId }),
        ]);
        const item = itemOf(variant);
        if (!item) throw new AppError("NOT_FOUND", "variant not found");
        const qty = body.qty ?? 1;
        const list = body.list ?? "buying";
        const { available, ...info } = item;
        // the actor checks the stock against what the cart holds then (and that it is still open)
        const s = await change(id, {
          type: "add",
          owner: client.id,
          item: info,
          qty,
          list,
          ...(list === "buying" ? { available } : {}),
        });
        return cartView(id, s);
      },

      async removeItem(c: Ctx<IdCall<unknown, { list?: CartList }>>) {
        const client = requireScope(c, "shop:write");
        const id = c.params.params.id;
        await mustOwn(client, id);
        const variantId = c.params.params.variantId ?? "";
        const list = c.params.query.list ?? "buying";
        return cartView(id, await change(id, { type: "remove", owner: client.id, variantId, list }));
      },

      async checkout(c: Ctx<IdCall>) {
        const client = requireScope(c, "shop:write");
        const id = c.params.params.id;
        await mustOwn(client, id);
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
