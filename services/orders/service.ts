/**
 * The orders' Moleculer service "orders". Buyers read their orders, complete, cancel and ask
 * for refunds; operators (scope admin) move fulfilment along. Internal actions (nodes and
 * operators only):
 *
 *   orders.place         {orderId, cartId, buyer, items, total, currency}  idempotent per order id
 *   orders.paymentEvent  {paymentId, reference, status, provider, ...}     the payment hub's events
 *   orders.inspect       {orderId}                                         the whole state (REPL)
 */
import type { Context, ServiceSchema } from "moleculer";
import {
  OPERATOR,
  requireCaller,
  requireNodeOrOperator,
  requireScope,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import type { ActorClient } from "../../actors/refs";
import { isValidKey } from "../../streams/subjects";
import { AppError } from "../../lib/errors";
import type { OrderLine, OrderMessage, OrderState, PaymentStatus } from "./order.actor";
import { waitApplied } from "./applied";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall<B = unknown> = HttpCallParams<{ id: string }, Record<string, unknown>, B>;

/** An order as the API shows it. */
export function orderView(s: OrderState) {
  return {
    id: s.id,
    status: s.status,
    cartId: s.cartId,
    items: s.items,
    total: s.total,
    currency: s.currency,
    payment: s.payment,
    completed: s.completed,
    reason: s.reason,
    refundedAmount: s.refundedAmount,
    history: s.history.map((h) => ({ ...h, at: new Date(h.at).toISOString() })),
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

const PAYMENT_STATUSES = new Set<string>([
  "pending",
  "authorized",
  "captured",
  "declined",
  "voided",
  "refunded",
  "failed",
]);

function isPaymentStatus(v: unknown): v is PaymentStatus {
  return typeof v === "string" && PAYMENT_STATUSES.has(v);
}

function text(v: unknown, what: string, max = 200): string {
  if (typeof v !== "string" || v === "" || v.length > max) throw new AppError("BAD_REQUEST", `${what} is required`);
  return v;
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new AppError("BAD_REQUEST", `${what} must be a non-negative integer`);
  return v;
}

function linesOf(v: unknown): OrderLine[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 200) throw new AppError("BAD_REQUEST", "items are required");
  return v.map((l: unknown) => {
    if (typeof l !== "object" || l === null) throw new AppError("BAD_REQUEST", "an item is an object");
    const x: Record<string, unknown> = { ...l };
    return {
      variantId: text(x["variantId"], "variantId"),
      productId: text(x["productId"], "productId"),
      title: text(x["title"], "title", 400),
      unitPrice: num(x["unitPrice"], "unitPrice"),
      currency: text(x["currency"], "currency", 3),
      qty: num(x["qty"], "qty"),
    };
  });
}

/** The service over the order actors. */
export function ordersService(orders: ActorClient<OrderState, OrderMessage>, waitMs: number): ServiceSchema {
  async function ownedBy(buyer: string | null, id: string): Promise<OrderState> {
    const s = isValidKey(id) ? await orders.state(id) : undefined;
    if (!s || s.status === "new" || (buyer !== null && s.buyer !== buyer))
      throw new AppError("NOT_FOUND", "order not found");
    return s;
  }
  async function change(id: string, m: OrderMessage): Promise<OrderState> {
    const { seq } = await orders.send(id, m);
    return waitApplied(() => orders.state(id), seq, waitMs);
  }
  /** The buyer (orders:write) or an operator / admin client. */
  function actor(c: Ctx<IdCall>): string | null {
    const who = requireCaller(c, ["orders:write", "admin"]);
    if (who === OPERATOR) return null;
    const client = requireScope(c, "orders:write");
    return client.scopes.includes("admin") ? null : client.id;
  }
  return {
    name: "orders",
    actions: {
      async get(c: Ctx<IdCall>) {
        const who = requireCaller(c, ["orders:read", "admin"]);
        const client = who === OPERATOR ? null : requireScope(c, "orders:read");
        const buyer = client && !client.scopes.includes("admin") ? client.id : null;
        return orderView(await ownedBy(buyer, c.params.params.id));
      },

      async complete(c: Ctx<IdCall>) {
        const id = c.params.params.id;
        await ownedBy(actor(c), id);
        c.meta.$statusCode = 202;
        return orderView(await change(id, { type: "complete" }));
      },

      async cancel(c: Ctx<IdCall>) {
        const id = c.params.params.id;
        const by = actor(c);
        const before = await ownedBy(by, id);
        if (before.status === "cancelling" || before.status === "cancelled")
          throw new AppError("CONFLICT", `already ${before.status}`);
        const s = await change(id, { type: "cancel", by: by ?? OPERATOR });
        if (s.status !== "cancelling" && s.status !== "cancelled")
          throw new AppError("CONFLICT", s.reason ?? "not cancelled");
        c.meta.$statusCode = 202;
        return orderView(s);
      },

      async refund(c: Ctx<IdCall>) {
        const id = c.params.params.id;
        const by = actor(c);
        const before = await ownedBy(by, id);
        if (before.status === "refunding" || before.status === "refunded")
          throw new AppError("CONFLICT", `already ${before.status}`);
        const s = await change(id, { type: "refund", by: by ?? OPERATOR });
        if (s.status !== "refunding" && s.status !== "refunded")
          throw new AppError("CONFLICT", s.reason ?? "not refunded");
        c.meta.$statusCode = 202;
        return orderView(s);
      },

      async fulfil(c: Ctx<IdCall<{ step: "fulfilling" | "shipped" | "delivered" }>>) {
        requireCaller(c, ["admin"]);
        const id = c.params.params.id;
        const before = await ownedBy(null, id);
        const step = c.params.body?.step;
        if (!step) throw new AppError("BAD_REQUEST", "step is required");
        const s = await change(id, { type: "fulfil", step });
        if (s.status !== step) throw new AppError("CONFLICT", s.reason ?? `cannot mark ${step} while ${before.status}`);
        return orderView(s);
      },

      async place(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        const p = c.params;
        const orderId = text(p["orderId"], "orderId");
        if (!isValidKey(orderId)) throw new AppError("BAD_REQUEST", "orderId is not a valid key");
        const m: OrderMessage = {
          type: "place",
          orderId,
          cartId: text(p["cartId"], "cartId"),
          buyer: text(p["buyer"], "buyer"),
          items: linesOf(p["items"]),
          total: num(p["total"], "total"),
          currency: text(p["currency"], "currency", 3),
        };
        await orders.send(orderId, m, { id: `place:${orderId}` });
        return { orderId };
      },

      async paymentEvent(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        const p = c.params;
        const orderId = text(p["reference"], "reference");
        if (!isValidKey(orderId)) throw new AppError("BAD_REQUEST", "reference is not an order id");
        const status = p["status"];
        if (!isPaymentStatus(status)) throw new AppError("BAD_REQUEST", "unknown payment status");
        const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
        const eventId = str(p["eventId"]);
        await orders.send(
          orderId,
          {
            type: "payment",
            paymentId: text(p["paymentId"], "paymentId"),
            status,
            provider: str(p["provider"]),
            providerRef: str(p["providerRef"]),
            redirectUrl: str(p["redirectUrl"]),
            error: str(p["error"]),
          },
          eventId ? { id: `pay:${eventId}` } : {},
        );
        return { received: true };
      },

      async inspect(c: Context<{ orderId?: unknown }>) {
        requireNodeOrOperator(c);
        const id = typeof c.params.orderId === "string" ? c.params.orderId : "";
        return (isValidKey(id) ? await orders.state(id) : undefined) ?? null;
      },
    },
  };
}
