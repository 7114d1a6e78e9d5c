/**
 * The payment hub's Moleculer service "payments": webhook and operator routes, and the
 * internal actions other domains call by name (nodes and operators only), each idempotent per
 * payment id:
 *
 *   payments.authorize {paymentId, amount, currency, reference, customer, notify}
 *   payments.status {paymentId}   payments.capture {paymentId}
 *   payments.refund {paymentId, refundId, amount}   payments.cancel {paymentId}
 *
 * Each answers a payment update {paymentId, reference, status, provider, providerRef,
 * redirectUrl, error}; 409 is a final refusal, 503 means retry. Webhook events go to the
 * action named `notify` with the same update and an `eventId`.
 */
import type { Context, ServiceSchema } from "moleculer";
import {
  requireNodeOrOperator,
  requireOperator,
  requireScope,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import { AppError } from "../../lib/errors";
import type { Hub } from "./hub";
import type { ProviderName } from "./providers";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

function text(v: unknown, what: string): string {
  if (typeof v !== "string" || v === "" || v.length > 200) throw new AppError("BAD_REQUEST", `${what} is required`);
  return v;
}

function amountOf(v: unknown, what = "amount"): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
    throw new AppError("BAD_REQUEST", `${what} must be a positive integer`);
  return v;
}

const ACTION = /^[a-z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9]*$/;

/** The service over `hub`. */
export function paymentsService(hub: Hub): ServiceSchema {
  const webhook = (name: ProviderName) => async (c: Ctx) => {
    const raw = c.params.raw;
    if (!raw) throw new AppError("BAD_REQUEST", "a JSON body is required");
    return hub.webhook(name, c.params.headers ?? {}, raw.text);
  };
  return {
    name: "payments",
    actions: {
      webhookCard: webhook("card"),
      webhookWallet: webhook("wallet"),

      authorize(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        const p = c.params;
        const notify = p["notify"];
        if (notify !== undefined && notify !== null && (typeof notify !== "string" || !ACTION.test(notify)))
          throw new AppError("BAD_REQUEST", "notify must name an action");
        const currency = text(p["currency"], "currency");
        if (!/^[A-Z]{3}$/.test(currency)) throw new AppError("BAD_REQUEST", "currency must be ISO 4217");
        return hub.authorize({
          paymentId: text(p["paymentId"], "paymentId"),
          kind: "order",
          reference: text(p["reference"], "reference"),
          customer: text(p["customer"], "customer"),
          amount: amountOf(p["amount"]),
          currency,
          notify: typeof notify === "string" ? notify : null,
        });
      },

      status(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        return hub.status(text(c.params["paymentId"], "paymentId"));
      },

      capture(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        return hub.capture(text(c.params["paymentId"], "paymentId"));
      },

      refund(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        return hub.refund(
          text(c.params["paymentId"], "paymentId"),
          text(c.params["refundId"], "refundId"),
          amountOf(c.params["amount"]),
        );
      },

      cancel(c: Context<Record<string, unknown>>) {
        requireNodeOrOperator(c);
        return hub.cancel(text(c.params["paymentId"], "paymentId"));
      },

      async get(c: Ctx<HttpCallParams<{ id: string }>>) {
        requireOperator(c);
        const id = c.params.params.id;
        return { ...(await hub.get(id)), ledger: await hub.ledger(id) };
      },

      async subscribe(
        c: Ctx<
          HttpCallParams<
            Record<string, string>,
            Record<string, unknown>,
            { amount: number; currency: string; intervalSec: number; startAt?: string }
          >
        >,
      ) {
        const client = requireScope(c, "payments:write");
        const b = c.params.body;
        if (!b) throw new AppError("BAD_REQUEST", "a body is required");
        const sub = await hub.subscribe({
          customer: client.id,
          amount: b.amount,
          currency: b.currency,
          intervalSec: b.intervalSec,
          startAt: b.startAt ? new Date(b.startAt) : new Date(),
        });
        c.meta.$statusCode = 201;
        c.meta.$location = `/api/v1/payments/subscriptions/${sub.id}`;
        return sub;
      },

      async getSubscription(c: Ctx<HttpCallParams<{ id: string }>>) {
        const client = requireScope(c, "payments:read");
        const s = await hub.subscription(c.params.params.id);
        if (!s || s.customer !== client.id) throw new AppError("NOT_FOUND", "subscription not found");
        return s;
      },

      chargeRun(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { at?: string }>>) {
        requireOperator(c);
        const at = c.params.body?.at;
        return hub.chargeRun(at ? new Date(at) : new Date());
      },

      reconcile(c: Ctx) {
        requireOperator(c);
        return hub.reconcile();
      },
    },
  };
}
