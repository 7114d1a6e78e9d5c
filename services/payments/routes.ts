/**
 * The payment hub's HTTP contract: the providers' webhooks (public, verified by signature),
 * subscriptions (scopes payments:write / payments:read), and operator surfaces (scope admin):
 * a payment with its ledger, the subscription charge run, the reconciliation run.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";

const ID = { type: "string", pattern: "^[A-Za-z0-9_=-]{1,200}$" } as const;
const STATUS = {
  type: "string",
  enum: ["requested", "pending", "authorized", "captured", "declined", "voided", "refunded", "failed"],
} as const;

const PAYMENT: JsonSchema = {
  type: "object",
  required: ["id", "status", "amount", "currency", "provider"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", enum: ["order", "subscription"] },
    reference: { type: "string" },
    customer: { type: "string" },
    amount: { type: "integer" },
    currency: { type: "string" },
    provider: { type: ["string", "null"], enum: ["card", "wallet", null] },
    providerRef: { type: ["string", "null"] },
    status: STATUS,
    redirectUrl: { type: ["string", "null"] },
    lastError: { type: ["string", "null"], description: "Why the last call did not go through (retried)" },
    attempts: { type: "integer" },
    ledger: {
      type: "array",
      items: {
        type: "object",
        properties: {
          entry: { type: "string", enum: ["authorize", "capture", "refund", "void"] },
          amount: { type: "integer" },
          currency: { type: "string" },
          provider: { type: "string" },
          key: { type: "string" },
          at: { type: "string", format: "date-time" },
        },
      },
    },
  },
};

const SUBSCRIPTION: JsonSchema = {
  type: "object",
  required: ["id", "amount", "currency", "intervalSec", "nextChargeAt", "status", "charges"],
  properties: {
    id: { type: "string" },
    customer: { type: "string" },
    amount: { type: "integer" },
    currency: { type: "string" },
    intervalSec: { type: "integer" },
    nextChargeAt: { type: "string", format: "date-time" },
    status: { type: "string", enum: ["active", "past_due", "cancelled"] },
    charges: { type: "integer" },
    lastPayment: { type: ["string", "null"] },
    lastError: { type: ["string", "null"] },
  },
};

function webhookRoute(provider: "card" | "wallet"): RouteSpec {
  return {
    method: "POST",
    path: `/api/v1/payments/webhooks/${provider}`,
    errors: { 401: "Missing or wrong webhook signature", 404: "An event of a payment the hub does not know" },
    action: provider === "card" ? "payments.webhookCard" : "payments.webhookWallet",
    access: "public",
    rateLimited: false,
    summary: `Events from the ${provider} provider`,
    description:
      provider === "card"
        ? "Signed `Card-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>` (5 minutes tolerance); a bad signature is a 401. 200 once recorded and handed to the order; 503 asks the provider to send it again."
        : "Signed `X-Wallet-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`, event id in `X-Wallet-Event`; a bad signature is a 401. 200 once recorded and handed over; 503: send again.",
    tags: ["payments", "callbacks"],
    body: { contentTypes: ["application/json"], raw: true, limitBytes: 64 * 1024 },
    headers: provider === "card" ? ["card-signature"] : ["x-wallet-signature", "x-wallet-event"],
    responses: {
      200: {
        description: "Recorded (a repeat too)",
        schema: { type: "object", properties: { received: { type: "boolean" }, duplicate: { type: "boolean" } } },
      },
    },
  };
}

/** Every route of the payment hub. */
export const paymentRoutes: readonly RouteSpec[] = [
  webhookRoute("card"),
  webhookRoute("wallet"),
  {
    method: "GET",
    path: "/api/v1/payments/{id}",
    action: "payments.get",
    access: "admin",
    summary: "Operators: a payment with its ledger entries",
    tags: ["payments", "admin"],
    params: { type: "object", required: ["id"], properties: { id: ID } },
    responses: { 200: { description: "The payment", schema: PAYMENT } },
  },
  {
    method: "POST",
    path: "/api/v1/payments/subscriptions",
    action: "payments.subscribe",
    access: "payments:write",
    summary: "Start a subscription: a recurring charge every intervalSec",
    tags: ["payments"],
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        additionalProperties: false,
        required: ["amount", "currency", "intervalSec"],
        properties: {
          amount: { type: "integer", minimum: 1, maximum: 100_000_000 },
          currency: { type: "string", pattern: "^[A-Z]{3}$" },
          intervalSec: { type: "integer", minimum: 1, maximum: 31_622_400 },
          startAt: { type: "string", format: "date-time", description: "First charge (default now)" },
        },
      },
    },
    responses: {
      201: {
        description: "Created",
        schema: SUBSCRIPTION,
        headers: { Location: { description: "Where to read it", schema: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/payments/subscriptions/{id}",
    action: "payments.getSubscription",
    access: "payments:read",
    summary: "A subscription of yours",
    tags: ["payments"],
    params: { type: "object", required: ["id"], properties: { id: ID } },
    responses: { 200: { description: "The subscription", schema: SUBSCRIPTION } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/payments/subscriptions/run",
    action: "payments.chargeRun",
    access: "admin",
    summary: "Operators: charge every subscription due (at `at`, default now)",
    description:
      "Safe to repeat and to run on several nodes: a period is paid by one payment whatever the number of runs.",
    tags: ["payments", "admin"],
    body: {
      contentTypes: ["application/json"],
      required: false,
      schema: {
        type: "object",
        additionalProperties: false,
        properties: { at: { type: "string", format: "date-time" } },
      },
    },
    responses: {
      200: {
        description: "What the run did",
        schema: {
          type: "object",
          properties: {
            due: { type: "integer" },
            charged: { type: "integer" },
            failed: { type: "integer" },
            retry: { type: "integer" },
          },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/payments/reconcile",
    action: "payments.reconcile",
    access: "admin",
    summary: "Operators: compare the ledger with the providers' reports now",
    tags: ["payments", "admin"],
    responses: {
      200: {
        description: "The run and its mismatches (also stored)",
        schema: {
          type: "object",
          properties: {
            runId: { type: "integer" },
            checked: { type: "integer" },
            mismatches: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  provider: { type: "string" },
                  paymentId: { type: "string" },
                  kind: { type: "string", enum: ["capture", "refund"] },
                  problem: { type: "string", enum: ["missing_in_ledger", "missing_at_provider", "amount_differs"] },
                  ledgerAmount: { type: "integer" },
                  providerAmount: { type: "integer" },
                },
              },
            },
          },
        },
      },
    },
  },
];
