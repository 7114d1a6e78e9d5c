/**
 * End-to-end harness for the commerce domains: the card and wallet simulators on free ports,
 * one real node in this process (NATS, Postgres, Redis, the actor runtime, the gateway, the
 * catalogue, cart, orders and payment hub), all in a fresh namespace, and three clients: a
 * seller, a buyer and an operator. Helpers speak plain HTTP to the gateway, as a storefront would.
 */
import pino from "pino";
import { clientAdminDeps, createClient } from "../../services/gateway/clients";
import { startCardSimulator, type CardSimulator } from "../../services/payments/card-simulator";
import { startWalletSimulator, type WalletSimulator } from "../../services/payments/wallet-simulator";
import { DEV_PAYMENT_SECRETS } from "../../services/payments/config";
import { startMessageSimulator, type MessageSimulator } from "../../services/notifications/simulator";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace, freshNamespace } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { freePort } from "../support/ports";
import { startInProcess, type InProcessNode } from "../support/node";
import { call, type Answer } from "../support/http";
import { waitFor } from "../support/wait";

export { waitFor, call, type Answer };

/** The services a commerce node hosts in these tests. */
export const COMMERCE_SERVICES = "runtime,gateway,catalog,cart,orders,payments,notifications,sessions";

/** A running commerce test world. */
export interface Shop {
  readonly ns: string;
  readonly url: string;
  readonly node: InProcessNode;
  readonly card: CardSimulator;
  readonly wallet: WalletSimulator;
  readonly email: MessageSimulator;
  readonly sms: MessageSimulator;
  readonly push: MessageSimulator;
  readonly seller: string;
  readonly buyer: string;
  /** The buyer's client id. */
  readonly buyerId: string;
  readonly buyer2: string;
  readonly admin: string;
  /** `method path` with `key`'s API key and an optional JSON body. */
  http(key: string, method: string, path: string, body?: unknown): Promise<Answer>;
  close(): Promise<void>;
}

const BUYER_SCOPES = [
  "shop:read",
  "shop:write",
  "orders:read",
  "orders:write",
  "payments:read",
  "payments:write",
  "notifications:read",
  "notifications:write",
];

/** Starts the simulators and a node; `extra` env overrides the defaults. */
export async function startShop(extra: Record<string, string> = {}, services = COMMERCE_SERVICES): Promise<Shop> {
  const ns = freshNamespace("tc");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const card = await startCardSimulator({
    port: 0,
    secret: DEV_PAYMENT_SECRETS.card,
    logger,
    config: { webhookUrl: `${url}/api/v1/payments/webhooks/card` },
  });
  const wallet = await startWalletSimulator({
    port: 0,
    secret: DEV_PAYMENT_SECRETS.wallet,
    logger,
    config: { webhookUrl: `${url}/api/v1/payments/webhooks/wallet` },
  });
  const [email, sms, push] = await Promise.all(
    (["email", "sms", "push"] as const).map((channel) => startMessageSimulator({ channel, port: 0, logger })),
  );
  const node = await startInProcess({
    NAMESPACE: ns,
    NODE_ID: `${ns}-n1`,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: services,
    ACTOR_PARTITIONS: "4",
    LEASE_TTL_MS: "3000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    PAYMENTS_CARD_URL: card.url,
    PAYMENTS_WALLET_URL: wallet.url,
    PAYMENTS_CALL_TIMEOUT_MS: "3000",
    PAYMENTS_SUBSCRIPTIONS_MS: "0",
    CATALOG_SWEEP_MS: "200",
    NOTIFICATIONS_EMAIL_URL: email!.url,
    NOTIFICATIONS_SMS_URL: sms!.url,
    NOTIFICATIONS_PUSH_URL: push!.url,
    NOTIFICATIONS_CHANNEL_DEADLINE_MS: "1500",
    ...extra,
  });
  const deps = clientAdminDeps(node.node.ctx);
  const client = (scopes: string[]) =>
    createClient(deps, { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes });
  const mk = async (scopes: string[]) => (await client(scopes)).apiKey;
  const seller = await mk(["catalog:read", "catalog:write"]);
  const b1 = await client(BUYER_SCOPES);
  const buyer = b1.apiKey;
  const buyer2 = await mk(BUYER_SCOPES);
  const admin = await mk(["admin", "orders:read", "orders:write"]);
  return {
    ns,
    url,
    node,
    card,
    wallet,
    email: email!,
    sms: sms!,
    push: push!,
    seller,
    buyer,
    buyerId: b1.client.id,
    buyer2,
    admin,
    http: (key, method, path, body) =>
      call(`${url}${path}`, key, {
        method,
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
      }),
    async close() {
      await node.stop();
      await Promise.all([card.close(), wallet.close(), email!.close(), sms!.close(), push!.close()]);
      await cleanupNamespace(ns);
      await cleanupRedis(ns);
    },
  };
}

/** A product with one variant of `stock` at `price`; answers the variant id. */
export async function sellOne(shop: Shop, title: string, price: number, stock: number): Promise<string> {
  const r = await shop.http(shop.seller, "POST", "/api/v1/catalog/products", {
    title,
    description: `${title} for tests`,
    variants: [{ sku: "STD", title: "Standard", price, currency: "EUR", stock }],
  });
  if (r.status !== 201) throw new Error(`product not created: ${r.status} ${r.text}`);
  return r.json.variants[0].id as string;
}

/** Opens a cart for `buyer` with `qty` of `variantId`; answers the cart id. */
export async function cartWith(shop: Shop, buyer: string, variantId: string, qty = 1): Promise<string> {
  const c = await shop.http(buyer, "POST", "/api/v1/carts");
  if (c.status !== 201) throw new Error(`cart not created: ${c.status} ${c.text}`);
  const id = c.json.id as string;
  const a = await shop.http(buyer, "POST", `/api/v1/carts/${id}/items`, { variantId, qty });
  if (a.status !== 200) throw new Error(`not added: ${a.status} ${a.text}`);
  return id;
}

/** Waits until order `id` reaches one of `statuses`; answers the order. */
export async function orderIn(
  shop: Shop,
  key: string,
  id: string,
  statuses: readonly string[],
  ms = 20_000,
): Promise<any> {
  return waitFor(
    `order ${id} in ${statuses.join("|")}`,
    async () => {
      const r = await shop.http(key, "GET", `/api/v1/orders/${id}`);
      return r.status === 200 && statuses.includes(r.json.status) ? r.json : undefined;
    },
    ms,
    50,
  );
}

/** The variant as the shop shows it now. */
export async function variantNow(
  shop: Shop,
  productVariant: string,
): Promise<{ stock: number; reserved: number; available: number }> {
  const r = await shop.node.node.ctx.pg.query<{ stock: number; reserved: number }>(
    "SELECT stock, reserved FROM cat_variants WHERE id = $1",
    [productVariant],
  );
  const row = r.rows[0]!;
  return { stock: row.stock, reserved: row.reserved, available: row.stock - row.reserved };
}
