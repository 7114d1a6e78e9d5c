/**
 * The cart actor, one per cart (pure). Its single mailbox takes every storefront change: items
 * the buyer is buying, and the "likely to buy" ones (saved for later, recently viewed), and the
 * checkout. A checkout turns the cart into one order, whose id is fixed by the cart and its
 * checkout count (`{cart}-{n}`), so a double submit, a retry or a redelivery never makes a second
 * order: the second checkout finds the cart already ordered and answers the same id. The order
 * is handed to the orders domain by the job `cartplace` (a local job on the cart's node; retried
 * through the jobs stream until it is stored there).
 */
import { defineJob, defineKind } from "../../actors/refs";
import type { HandlerResult, JobResult } from "../../actors/types";
import { TerminalError } from "../../lib/errors";

/** Which list of the cart an item is on: buying, or likely to buy (saved, viewed). */
export type CartList = "buying" | "saved" | "viewed";

/** What the cart knows of a variant (a price snapshot taken when it was added). */
export interface CartItemInfo {
  readonly variantId: string;
  readonly productId: string;
  readonly title: string;
  /** Minor units. */
  readonly unitPrice: number;
  readonly currency: string;
}

/** A line being bought. */
export interface CartLine extends CartItemInfo {
  readonly qty: number;
}

/** A likely-to-buy item. */
export interface LikelyItem extends CartItemInfo {
  readonly reason: "saved" | "viewed";
  readonly at: number;
}

/** A cart's state. */
export interface CartState {
  readonly owner: string | null;
  readonly status: "open" | "ordered";
  readonly items: readonly CartLine[];
  readonly likely: readonly LikelyItem[];
  readonly checkouts: number;
  /** The order of the current checkout, once checked out. */
  readonly orderId: string | null;
  /** "placing" until the orders domain stored the order, then "placed" (or "refused"). */
  readonly orderState: "placing" | "placed" | "refused" | null;
  readonly lastError: string | null;
  /** Stream sequence of the last message handled (callers wait for their message by it). */
  readonly seq: number;
  readonly updatedAt: number;
}

/** What `cartplace` hands the orders domain. */
export interface PlaceOrderData {
  readonly orderId: string;
  readonly cartId: string;
  readonly buyer: string;
  readonly items: readonly CartLine[];
  readonly total: number;
  readonly currency: string;
}

/** The job that hands the order to the orders domain (`orders.place`, idempotent per order id). */
export const placeOrderJob = defineJob<PlaceOrderData, { orderId: string }>("cartplace");

/** A message to a cart. */
export type CartMessage =
  | { readonly type: "open"; readonly owner: string }
  | {
      readonly type: "add";
      readonly owner: string;
      readonly item: CartItemInfo;
      readonly qty: number;
      readonly list: CartList;
      /** Stock not reserved when the variant was priced: more of it cannot be bought (absent: not checked). */
      readonly available?: number;
    }
  | { readonly type: "remove"; readonly owner: string; readonly variantId: string; readonly list: CartList }
  | { readonly type: "checkout"; readonly owner: string }
  | JobResult<{ orderId: string }>;

/** The cart kind's typed reference. */
export const cart = defineKind<CartState, CartMessage>("cart");

/** Most recently viewed items kept. */
export const MAX_VIEWED = 20;
/** Most lines a cart holds. */
export const MAX_LINES = 100;

/** A cart that never handled a message. */
export function emptyCart(): CartState {
  return {
    owner: null,
    status: "open",
    items: [],
    likely: [],
    checkouts: 0,
    orderId: null,
    orderState: null,
    lastError: null,
    seq: 0,
    updatedAt: 0,
  };
}

/** The total of what is being bought (minor units). */
export function cartTotal(s: CartState): number {
  return s.items.reduce((t, l) => t + l.unitPrice * l.qty, 0);
}

/** Why `msg` may not change `s`, or null. Refusals change nothing; the caller reads `lastError`. */
function refusal(s: CartState, owner: string): string | null {
  if (s.owner !== null && s.owner !== owner) return "not your cart";
  if (s.status !== "open") return "the cart is checked out";
  return null;
}

/** Applies one message (pure). */
export function applyCart(
  s0: CartState,
  m: CartMessage,
  at: { readonly key: string; readonly seq: number; readonly now: number },
): HandlerResult<CartState> {
  const { seq, now } = at;
  const s = { ...s0, seq, updatedAt: now };
  if (placeOrderJob.isResult(m)) {
    if (s.orderState !== "placing") return { state: s };
    if (m.$job.ok) return { state: { ...s, orderState: "placed", lastError: null } };
    // the orders domain refused the order for good: the cart opens again
    return {
      state: { ...s, status: "open", orderId: null, orderState: "refused", lastError: m.$job.error ?? "refused" },
    };
  }
  if (!("type" in m)) throw new TerminalError("unknown cart message");
  switch (m.type) {
    case "open":
      return { state: s.owner === null ? { ...s, owner: m.owner, lastError: null } : s };
    case "add": {
      const why = refusal(s, m.owner);
      if (why) return { state: { ...s, lastError: why } };
      const owner = m.owner;
      if (m.list === "buying") {
        if (s.items.length > 0 && s.items[0]!.currency !== m.item.currency)
          return { state: { ...s, lastError: "one currency per cart" } };
        const existing = s.items.find((l) => l.variantId === m.item.variantId);
        if (!existing && s.items.length >= MAX_LINES) return { state: { ...s, lastError: "the cart is full" } };
        if (m.available !== undefined && (existing?.qty ?? 0) + m.qty > m.available)
          return { state: { ...s, lastError: `only ${m.available} available` } };
        const items = existing
          ? s.items.map((l) => (l.variantId === m.item.variantId ? { ...m.item, qty: l.qty + m.qty } : l))
          : [...s.items, { ...m.item, qty: m.qty }];
        // bought now: no longer only saved
        const likely = s.likely.filter((l) => !(l.variantId === m.item.variantId && l.reason === "saved"));
        return { state: { ...s, owner, items, likely, lastError: null } };
      }
      const rest = s.likely.filter((l) => !(l.variantId === m.item.variantId && l.reason === m.list));
      const likely = [{ ...m.item, reason: m.list, at: now }, ...rest];
      let viewed = 0;
      const bounded = likely.filter((l) => l.reason !== "viewed" || ++viewed <= MAX_VIEWED).slice(0, MAX_LINES * 2);
      return { state: { ...s, owner, likely: bounded, lastError: null } };
    }
    case "remove": {
      const why = refusal(s, m.owner);
      if (why) return { state: { ...s, lastError: why } };
      if (m.list === "buying") return { state: { ...s, items: s.items.filter((l) => l.variantId !== m.variantId) } };
      return {
        state: { ...s, likely: s.likely.filter((l) => !(l.variantId === m.variantId && l.reason === m.list)) },
      };
    }
    case "checkout": {
      if (s.owner !== null && s.owner !== m.owner) return { state: { ...s, lastError: "not your cart" } };
      // a second submit of the same checkout: the same order, nothing new
      if (s.status === "ordered") return { state: { ...s, lastError: null } };
      if (s.items.length === 0) return { state: { ...s, lastError: "the cart is empty" } };
      const checkouts = s.checkouts + 1;
      const orderId = `${at.key}-${checkouts}`;
      const data: PlaceOrderData = {
        orderId,
        cartId: at.key,
        buyer: m.owner,
        items: s.items,
        total: cartTotal(s),
        currency: s.items[0]!.currency,
      };
      return {
        state: { ...s, status: "ordered", checkouts, orderId, orderState: "placing", lastError: null },
        // a local job: run on this node after the write, its outcome journaled in the next one
        effects: [placeOrderJob.effect(data, { id: `cartplace:${orderId}`, local: true })],
      };
    }
  }
}

/** The broadcast after each stored change (session caches drop the cart's summary; waiting requests wake). */
export const CART_CHANGED = "carts.changed";

/** Carts with at most this many entries (lines and likely items) travel in their {@link CART_CHANGED} broadcast. */
export const BROADCAST_MAX_ENTRIES = 40;

/**
 * The cart kind: {@link applyCart}, and the broadcast {@link CART_CHANGED} {cartId, owner, seq,
 * cart?}: `cart` is the state right after this message (what the request that sent it answers,
 * without reading it back), left out when the cart has more than {@link BROADCAST_MAX_ENTRIES} entries.
 */
export const cartKind = cart.implement({
  initialState: emptyCart,
  handle(state, msg, ctx) {
    const r = applyCart(state, msg.data, { key: msg.key, seq: msg.seq, now: ctx.now });
    const changed = {
      type: "emit" as const,
      event: CART_CHANGED,
      payload: {
        cartId: msg.key,
        owner: r.state.owner,
        seq: msg.seq,
        ...(r.state.items.length + r.state.likely.length <= BROADCAST_MAX_ENTRIES ? { cart: r.state } : {}),
      },
    };
    return { state: r.state, effects: [...(r.effects ?? []), changed] };
  },
  retry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 2000 },
});
