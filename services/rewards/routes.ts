/**
 * The rewards domain's HTTP routes (served by the gateway under /api/v1; moleculer-web aliases
 * and the OpenAPI document are generated from these).
 *
 * Access: `rewards:write` for the app backends that act for users (open accounts, submit and
 * settle transactions, QR), `rewards:read` for balances, ledgers and the rules in force, and
 * `admin` for rule changes and the ledger check.
 */
import type { JsonSchema, RouteSpec } from "../../gateway/routes";
import { cursorQuery, intCursorQuery, NEXT_CURSOR } from "../../gateway/pagination";
import {
  openAccountSchema,
  PARTY_KINDS,
  signupSchema,
  TX_ID_PATTERN,
  TX_KINDS,
  txRequestSchema,
  USER_ID_PATTERN,
} from "./model";
import { RULE_SCHEMA, ruleBodySchema } from "./rules";
import { imageSchema, productSchema, redemptionSchema } from "./content";
import { str, obj, type Schema } from "../../lib/json-schema";

/** A builder schema as a route schema (the OpenAPI document takes it as it is). */
function json(s: Schema<unknown>): JsonSchema {
  return { ...s.schema };
}

const USER_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: USER_ID_PATTERN, description: "User (account) id" } },
};

const TX_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: TX_ID_PATTERN, description: "Transaction id" } },
};

const RULE_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^r-[0-9a-f]{12}$", description: "Rule id" } },
};

const OUTCOME: JsonSchema = {
  type: "object",
  required: ["id", "kind", "status", "from", "to", "amount", "fromPoints", "toPoints"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", enum: [...TX_KINDS] },
    status: { type: "string", enum: ["posted", "pending", "voided", "refused"] },
    from: { type: "string" },
    to: { type: "string" },
    amount: { type: "integer", description: "Points moved from `from` to `to`" },
    fromPoints: { type: "integer", description: "Points the rules credited to `from`" },
    toPoints: { type: "integer", description: "Points the rules give `to` (before `to`'s own caps)" },
    rules: { type: "array", items: { type: "string" }, description: "Rules applied, as `id@version`" },
    code: { type: "string", enum: ["INSUFFICIENT_BALANCE", "ACCOUNT_NOT_OPEN", "NOT_PENDING", "WRONG_KIND"] },
    reason: { type: "string" },
    at: { type: "integer" },
    duplicate: { type: "boolean", description: "True when this id was handled before (a resend changes nothing)" },
  },
};

const ACCEPTED: JsonSchema = {
  type: "object",
  required: ["id", "status"],
  properties: { id: { type: "string" }, status: { type: "string", const: "accepted" } },
};

const ACCOUNT: JsonSchema = {
  type: "object",
  required: ["id", "kind", "balance", "held"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", enum: [...PARTY_KINDS] },
    name: { type: "string" },
    balance: { type: "integer", description: "Hot balance (KV): equals the account's ledger sum" },
    held: { type: "integer", description: "Points held by pending transfers this account sent" },
    pending: {
      type: "array",
      items: {
        type: "object",
        properties: { tx: { type: "string" }, to: { type: "string" }, amount: { type: "integer" } },
      },
    },
  },
};

const LEDGER: JsonSchema = {
  type: "object",
  required: ["items", "next", "sum"],
  properties: {
    items: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "integer", description: "Posting id (the keyset cursor)" },
          tx: { type: "string" },
          leg: { type: "string", enum: ["from", "to", "void"] },
          amount: { type: "integer" },
          kind: { type: "string", enum: [...TX_KINDS] },
          at: { type: "string" },
        },
      },
    },
    next: { type: ["integer", "null"], deprecated: true, description: "Deprecated: the old name of `nextCursor`" },
    nextCursor: NEXT_CURSOR,
    sum: { type: "integer", description: "Sum of every posting of the account" },
  },
};

const CHECK: JsonSchema = {
  type: "object",
  required: ["ok", "settled", "accounts", "mismatches", "unbalancedLegs"],
  properties: {
    ok: {
      type: "boolean",
      description: "Settled, every KV balance equals its ledger sum, every leg balances, transit equals held",
    },
    settled: { type: "boolean", description: "No account message and no ledger record was waiting" },
    accounts: { type: "integer" },
    mismatches: {
      type: "array",
      items: {
        type: "object",
        properties: { account: { type: "string" }, kv: { type: "integer" }, ledger: { type: "integer" } },
      },
    },
    unbalancedLegs: { type: "integer" },
    postings: { type: "integer" },
    transactions: { type: "integer" },
    kvTotal: { type: "integer" },
    ledgerTotal: { type: "integer" },
    issuance: { type: "integer", description: "The issuance account (minus every point ever awarded)" },
    transit: { type: "integer" },
    held: { type: "integer" },
    waiting: { type: "object", properties: { mailbox: { type: "integer" }, ledger: { type: "integer" } } },
  },
};

const QR: JsonSchema = {
  type: "object",
  required: ["token", "user", "kind", "expiresAt", "pngBase64", "dataUrl"],
  properties: {
    token: { type: "string", description: "Signed single-use token (what the QR encodes)" },
    user: { type: "string" },
    kind: { type: "string", enum: ["civilian", "officer"] },
    expiresAt: { type: "string" },
    pngBase64: { type: "string", description: "The QR as PNG, base64" },
    dataUrl: { type: "string", description: "The same PNG as a data URL" },
  },
};

/** `POST /api/v1/rewards/qr` body. */
export const qrIssueSchema = obj({ user: str({ pattern: USER_ID_PATTERN, maxLength: 64 }) });
/** `POST /api/v1/rewards/qr/redeem` body. */
export const qrRedeemSchema = obj({
  token: str({ maxLength: 1000, description: "The token read from the other party's QR" }),
  user: str({ pattern: USER_ID_PATTERN, maxLength: 64, description: "The redeeming user" }),
});
/** Settle body: the sender of the pending transfer. */
export const settleBodySchema = obj(
  { from: str({ pattern: USER_ID_PATTERN, maxLength: 64, description: "The sender of the pending transfer" }) },
  { reason: str({ maxLength: 200 }) },
);

const TX_ANSWERS = {
  200: { description: "Handled: posted, pending, or refused (see `status`, `code`, `reason`)", schema: OUTCOME },
  202: {
    description: "Stored in the sender's mailbox; the outcome was not known within the wait (read it later)",
    schema: ACCEPTED,
  },
};

const TAGS = ["rewards"];

const SIGNUP: JsonSchema = {
  type: "object",
  required: ["id", "status"],
  properties: {
    id: { type: "string" },
    userId: { type: "string", description: "The user id the signup creates (its account id)" },
    status: { type: "string", enum: ["validating", "checking", "creating", "created", "rejected", "failed"] },
    step: { type: ["string", "null"], enum: ["validate", "catalog", "idp", null] },
    reason: { type: "string", description: "Rejected: the validator's or catalog's reason. Failed: the last error" },
    subject: { type: "string", description: "The identity provider's subject of the created user" },
    validatorRef: { type: "string" },
    catalogEntry: { type: "object" },
    tries: { type: "integer", description: "Operator retries so far" },
    history: { type: "array", items: { type: "object" } },
  },
};

const SIGNUP_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[A-Za-z0-9_-]{8,64}$" } },
};

const PRODUCT: JsonSchema = {
  type: "object",
  required: ["id", "merchant", "name", "price", "stock"],
  properties: {
    id: { type: "string" },
    merchant: { type: "string" },
    name: { type: "string" },
    price: { type: "integer", description: "Points" },
    stock: { type: "integer" },
    imageUrl: { type: ["string", "null"] },
  },
};
const REDEMPTION: JsonSchema = {
  type: "object",
  required: ["id", "product", "merchant", "buyer", "price", "status"],
  properties: {
    id: { type: "string" },
    product: { type: "string" },
    merchant: { type: "string" },
    buyer: { type: "string" },
    price: { type: "integer" },
    status: { type: "string", enum: ["pending", "posted", "voided", "refused"] },
    voucher: { type: ["string", "null"], description: "The code the buyer shows the merchant" },
    createdAt: { type: "string" },
  },
};
const MERCHANT_PARAMS: JsonSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: USER_ID_PATTERN, description: "Merchant (account) id" } },
};
const MERCHANT_PRODUCT_PARAMS: JsonSchema = {
  type: "object",
  required: ["id", "product"],
  properties: {
    id: { type: "string", pattern: USER_ID_PATTERN },
    product: { type: "string", pattern: "^p-[0-9a-f]{12}$" },
  },
};
const MERCHANT_REDEMPTION_PARAMS: JsonSchema = {
  type: "object",
  required: ["id", "redemption"],
  properties: {
    id: { type: "string", pattern: USER_ID_PATTERN },
    redemption: { type: "string", pattern: "^[A-Za-z0-9_-]{8,64}$" },
  },
};
const MERCHANT_ONLY =
  "Merchants act as themselves: the calling client must be linked to this merchant (POST /api/v1/admin/rewards/merchants/{id}/clients) or hold scope admin; any other client is answered 404.";

/** Every route of the rewards domain. */
export const rewardRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/admin/rewards/merchants/{id}/clients",
    action: "rewards.linkMerchant",
    access: "admin",
    summary: "Link a gateway client to a merchant: the client then acts as that merchant",
    tags: TAGS,
    params: MERCHANT_PARAMS,
    body: {
      contentTypes: ["application/json"],
      schema: {
        type: "object",
        required: ["client"],
        additionalProperties: false,
        properties: { client: { type: "string", maxLength: 100 } },
      },
    },
    responses: {
      200: {
        description: "Linked",
        schema: { type: "object", properties: { merchant: { type: "string" }, client: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/merchants/{id}/products",
    action: "rewards.products",
    access: "rewards:write",
    summary: "A merchant's products",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_PARAMS,
    responses: {
      200: {
        description: "Products",
        schema: { type: "object", properties: { items: { type: "array", items: PRODUCT } } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/merchants/{id}/products",
    action: "rewards.createProduct",
    access: "rewards:write",
    summary: "Add a product with its point price and stock",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(productSchema) },
    responses: { 201: { description: "Created", schema: PRODUCT } },
  },
  {
    method: "PUT",
    path: "/api/v1/rewards/merchants/{id}/products/{product}",
    action: "rewards.updateProduct",
    access: "rewards:write",
    summary: "Change a product's name, price or stock",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_PRODUCT_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(productSchema) },
    responses: { 200: { description: "Changed", schema: PRODUCT } },
  },
  {
    method: "PUT",
    path: "/api/v1/rewards/merchants/{id}/products/{product}/image",
    action: "rewards.putImage",
    access: "rewards:write",
    summary: "Upload a product's image (stored in object storage)",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_PRODUCT_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(imageSchema), limitBytes: 1_500_000 },
    responses: { 200: { description: "Stored", schema: PRODUCT } },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/products/{product}/image",
    action: "rewards.image",
    access: "public",
    summary: "A product's image, with cache headers (Cache-Control, ETag)",
    tags: TAGS,
    params: {
      type: "object",
      required: ["product"],
      properties: { product: { type: "string", pattern: "^p-[0-9a-f]{12}$" } },
    },
    responses: {
      200: {
        description: "The image",
        contentType: "image/png",
        headers: {
          "Cache-Control": {
            description: "public, max-age=86400, immutable (a new upload has a new URL version)",
            schema: { type: "string" },
          },
          ETag: { description: "The stored object's name", schema: { type: "string" } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/marketplace",
    action: "rewards.marketplace",
    access: "rewards:read",
    summary: "Every product in stock (keyset pages)",
    tags: TAGS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery({ type: "string", maxLength: 20 }),
      },
    },
    responses: {
      200: {
        description: "One page",
        schema: {
          type: "object",
          properties: {
            items: { type: "array", items: PRODUCT },
            next: { type: ["string", "null"], deprecated: true },
            nextCursor: NEXT_CURSOR,
          },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/redemptions",
    errors: { 409: "Out of stock, or not enough points" },
    action: "rewards.redeemProduct",
    access: "rewards:write",
    summary: "Redeem a product: one unit of stock taken atomically, the price reserved (pending), a voucher issued",
    description:
      "409 CONFLICT when the product is out of stock (`details[0].message` OUT_OF_STOCK) or the buyer's balance does not cover the price (INSUFFICIENT_BALANCE); nothing changes then. The id is an idempotency key.",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(redemptionSchema) },
    responses: {
      201: { description: "Redeemed (pending until the merchant confirms the voucher)", schema: REDEMPTION },
    },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/merchants/{id}/redemptions/{redemption}/confirm",
    action: "rewards.confirmRedemption",
    access: "rewards:write",
    summary: "The merchant confirms a voucher: the reserved points are posted to it",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_REDEMPTION_PARAMS,
    responses: { 200: { description: "Posted", schema: REDEMPTION } },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/merchants/{id}/redemptions/{redemption}/refund",
    errors: { 409: "The redemption cannot be refunded in its state" },
    action: "rewards.refundRedemption",
    access: "rewards:write",
    summary: "Refund a redemption: the reservation is voided and the unit returns to stock",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_REDEMPTION_PARAMS,
    responses: { 200: { description: "Voided", schema: REDEMPTION } },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/merchants/{id}/sales",
    action: "rewards.sales",
    access: "rewards:write",
    summary: "The goods a merchant sold, newest first (keyset pages)",
    description: MERCHANT_ONLY,
    tags: TAGS,
    params: MERCHANT_PARAMS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...intCursorQuery("before"),
      },
    },
    responses: {
      200: {
        description: "One page",
        schema: {
          type: "object",
          properties: {
            items: { type: "array", items: REDEMPTION },
            next: { type: ["integer", "null"], deprecated: true },
            nextCursor: NEXT_CURSOR,
          },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/signups",
    action: "rewards.signup",
    access: "rewards:write",
    summary: "Sign up a civilian, officer, merchant, charity or family in need (a durable onboarding process)",
    description:
      "Answers 202 at once; the signup then validates the identity with the kind's ID validator, checks charities and families against the user catalogs, creates the user and credentials at the identity provider, and publishes `users.created` on the users stream (`{ns}.users.created`). Read its status with GET. The id is an idempotency key.",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(signupSchema) },
    responses: { 202: { description: "Started", schema: SIGNUP } },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/signups/{id}",
    action: "rewards.signupStatus",
    access: "rewards:read",
    summary: "A signup's status: validating, checking, creating, created, rejected (with the reason) or failed",
    tags: TAGS,
    params: SIGNUP_PARAMS,
    responses: { 200: { description: "The signup", schema: SIGNUP } },
  },
  {
    method: "POST",
    path: "/api/v1/admin/rewards/signups/{id}/retry",
    errors: { 409: "The signup is not in a state an operator can retry" },
    action: "rewards.retrySignup",
    access: "admin",
    summary: "Operators: resume a failed signup at its failed step",
    tags: TAGS,
    params: SIGNUP_PARAMS,
    responses: {
      202: {
        description: "Resumed",
        schema: { type: "object", properties: { id: { type: "string" }, status: { type: "string" } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/catalogs/{kind}",
    action: "rewards.catalog",
    access: "rewards:read",
    summary: "The user catalog of charities or families in need, with each entry's source and version (keyset pages)",
    tags: TAGS,
    params: {
      type: "object",
      required: ["kind"],
      properties: { kind: { type: "string", enum: ["charity", "family"] } },
    },
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...cursorQuery({ type: "string", maxLength: 200 }),
      },
    },
    responses: {
      200: {
        description: "One page",
        schema: {
          type: "object",
          properties: {
            items: { type: "array", items: { type: "object" } },
            next: { type: ["string", "null"], deprecated: true },
            nextCursor: NEXT_CURSOR,
          },
        },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/rewards/catalogs/poll",
    action: "rewards.pollCatalogs",
    access: "admin",
    summary: "Operators: poll the catalog providers now (on the node holding the poller's lease)",
    tags: TAGS,
    responses: {
      200: {
        description: "Done",
        schema: { type: "object", properties: { polled: { type: "boolean" }, changes: { type: "integer" } } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/accounts",
    errors: { 409: "The account exists already" },
    action: "rewards.open",
    access: "rewards:write",
    summary: "Open a points account for a user of one kind",
    description:
      "Idempotent: opening the same id with the same kind again answers 200 with `created: false`; another kind is 409.",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(openAccountSchema) },
    responses: {
      201: {
        description: "Opened",
        schema: {
          type: "object",
          properties: { id: { type: "string" }, kind: { type: "string" }, created: { type: "boolean" } },
        },
      },
      200: { description: "Already open with this kind", schema: { type: "object" } },
    },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/accounts/{id}",
    action: "rewards.account",
    access: "rewards:read",
    summary: "A user's balance (hot, from KV), held points and pending transfers",
    tags: TAGS,
    params: USER_PARAMS,
    responses: { 200: { description: "The account", schema: ACCOUNT } },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/accounts/{id}/ledger",
    action: "rewards.ledger",
    access: "rewards:read",
    summary: "A user's ledger postings, newest first (keyset pages)",
    tags: TAGS,
    params: USER_PARAMS,
    query: {
      type: "object",
      additionalProperties: false,
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
        ...intCursorQuery("before"),
      },
    },
    responses: { 200: { description: "One page", schema: LEDGER } },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/transactions",
    errors: { 404: "A party has no account" },
    action: "rewards.submit",
    access: "rewards:write",
    summary: "Score and submit a transaction: encounter, donation, giveaway or exchange",
    description:
      "The rules in force decide the points of each party; the amount of a donation, giveaway or exchange moves from `from` to `to` (an exchange is held pending until posted or voided). The id is the idempotency key: a resend changes nothing and answers the first outcome with `duplicate: true`. Insufficient balance is a refusal (`status: refused`, `code: INSUFFICIENT_BALANCE`), never a negative balance. Other domains score through the Moleculer action `rewards.score` or the NATS request subject `{ns}.rewards.score`.",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(txRequestSchema) },
    responses: TX_ANSWERS,
  },
  {
    method: "GET",
    path: "/api/v1/rewards/accounts/{id}/transactions/{tx}",
    action: "rewards.outcome",
    access: "rewards:read",
    summary: "The outcome of a transaction sent by this user (as long as the account remembers it)",
    tags: TAGS,
    params: {
      type: "object",
      required: ["id", "tx"],
      properties: { id: { type: "string", pattern: USER_ID_PATTERN }, tx: { type: "string", pattern: TX_ID_PATTERN } },
    },
    responses: { 200: { description: "The outcome", schema: OUTCOME } },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/transactions/{id}/post",
    action: "rewards.post",
    access: "rewards:write",
    summary: "Post a pending transfer (an exchange): the held points go to the receiver",
    tags: TAGS,
    params: TX_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(settleBodySchema) },
    responses: TX_ANSWERS,
  },
  {
    method: "POST",
    path: "/api/v1/rewards/transactions/{id}/void",
    action: "rewards.void",
    access: "rewards:write",
    summary: "Void a pending transfer: the held points return to the sender",
    tags: TAGS,
    params: TX_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(settleBodySchema) },
    responses: TX_ANSWERS,
  },
  {
    method: "POST",
    path: "/api/v1/rewards/qr",
    action: "rewards.qr",
    access: "rewards:write",
    summary: "A QR for a civilian or officer to show: signed, short-lived, single-use token as PNG and base64",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(qrIssueSchema) },
    responses: { 201: { description: "The token and its image", schema: QR } },
  },
  {
    method: "POST",
    path: "/api/v1/rewards/qr/redeem",
    errors: { 409: "The token was used already, has expired, or is your own" },
    action: "rewards.redeem",
    access: "rewards:write",
    summary: "Redeem the other party's QR: an encounter between the civilian and the officer",
    description:
      "Refused: an expired or forged token (422), a token already used (409), one's own token (422), two users of the same kind (422).",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(qrRedeemSchema) },
    responses: TX_ANSWERS,
  },
  {
    method: "GET",
    path: "/api/v1/rewards/rules",
    action: "rewards.rules",
    access: "rewards:read",
    summary: "The business rules in force on the answering node",
    tags: TAGS,
    responses: {
      200: {
        description: "Rules by id",
        schema: { type: "object", properties: { items: { type: "array", items: RULE_SCHEMA } } },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/rewards/rules/{id}",
    action: "rewards.rule",
    access: "rewards:read",
    summary: "One rule in force",
    tags: TAGS,
    params: RULE_PARAMS,
    responses: { 200: { description: "The rule", schema: RULE_SCHEMA } },
  },
  {
    method: "GET",
    path: "/api/v1/admin/rewards/rules/{id}/versions",
    action: "rewards.ruleVersions",
    access: "admin",
    summary: "Every version of a rule, deletions included",
    tags: TAGS,
    params: RULE_PARAMS,
    responses: {
      200: {
        description: "Versions, oldest first",
        schema: { type: "object", properties: { items: { type: "array" } } },
      },
    },
  },
  {
    method: "POST",
    path: "/api/v1/admin/rewards/rules",
    action: "rewards.createRule",
    access: "admin",
    summary: "Create a business rule (version 1); it applies on every node at once",
    tags: TAGS,
    body: { contentTypes: ["application/json"], schema: json(ruleBodySchema) },
    responses: { 201: { description: "Created", schema: RULE_SCHEMA } },
  },
  {
    method: "PUT",
    path: "/api/v1/admin/rewards/rules/{id}",
    action: "rewards.updateRule",
    access: "admin",
    summary: "Replace a rule with a new version; it applies on every node at once",
    tags: TAGS,
    params: RULE_PARAMS,
    body: { contentTypes: ["application/json"], schema: json(ruleBodySchema) },
    responses: { 200: { description: "The new version", schema: RULE_SCHEMA } },
  },
  {
    method: "DELETE",
    path: "/api/v1/admin/rewards/rules/{id}",
    action: "rewards.deleteRule",
    access: "admin",
    summary: "Delete a rule (recorded as a last version)",
    tags: TAGS,
    params: RULE_PARAMS,
    responses: {
      200: {
        description: "Deleted",
        schema: {
          type: "object",
          properties: { id: { type: "string" }, version: { type: "integer" }, deleted: { type: "boolean" } },
        },
      },
    },
  },
  {
    method: "GET",
    path: "/api/v1/admin/rewards/check",
    action: "rewards.check",
    access: "admin",
    summary: "Check the ledger invariant: every KV balance equals its ledger sum, every leg balances",
    description:
      "Also sets the metrics `switchyard_rewards_ledger_mismatches` and `switchyard_rewards_ledger_unbalanced_legs` (when settled).",
    tags: TAGS,
    responses: { 200: { description: "The report", schema: CHECK } },
  },
];
