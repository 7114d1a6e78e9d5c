/**
 * A redirect/wallet provider simulator, with an API unlike the card processor's (decimal
 * amounts, a buyer approval step, its own signature scheme):
 *
 *   POST /checkouts                  {merchantReference, total: {value: "12.34", currency}}
 *        X-Request-Id required (idempotency)  201 {checkoutId, state: "CREATED", approveUrl}
 *   POST /checkouts/{id}/approve     the buyer approves at the wallet (the redirect): APPROVED
 *   POST /checkouts/{id}/capture     X-Request-Id   200 {state: "COMPLETED"}  409 unless APPROVED
 *   POST /checkouts/{id}/refund      {value}  X-Request-Id   200 {state: "REFUNDED"}
 *   POST /checkouts/{id}/cancel      200 {state: "VOIDED"} (not once COMPLETED)
 *   GET  /checkouts/{id}             GET /checkouts?merchantReference=...
 *   GET  /reports/settlement         {lines: [{checkoutId, merchantReference, kind: "SALE" | "REFUND", value, currency}]}
 *
 * Webhooks `CHECKOUT.APPROVED`, `CHECKOUT.COMPLETED`, `CHECKOUT.REFUNDED`, `CHECKOUT.VOIDED`:
 * `{eventId, event, checkout: {...}}`, signed `X-Wallet-Signature: sha256=<base64 HMAC>` with
 * `X-Wallet-Event: <eventId>`. Config `async: true` approves every checkout at once (no buyer).
 * Admin as the card simulator: /admin/config, /admin/summary, /admin/reset, /health.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { configRoute, listen, readBody, send } from "../../lib/sim-http";
import { signWallet } from "./signatures";
import {
  DEFAULT_PROVIDER_SIM,
  IdempotencyBook,
  WebhookSender,
  mergeProviderSim,
  sleep,
  type ProviderSimConfig,
  type ProviderSimCounters,
} from "./simulator-kit";

/** A checkout at the simulated wallet. */
export interface WalletCheckout {
  readonly checkoutId: string;
  readonly merchantReference: string;
  readonly total: { readonly value: string; readonly currency: string };
  state: "CREATED" | "APPROVED" | "COMPLETED" | "REFUNDED" | "VOIDED";
  refunded: string;
  readonly approveUrl: string;
}

/** A running wallet simulator. */
export interface WalletSimulator {
  readonly url: string;
  readonly counters: ProviderSimCounters & { checkouts: number; captures: number; refunds: number };
  readonly checkouts: ReadonlyMap<string, WalletCheckout>;
  /** The buyer approves checkout `id` (as the approve URL does). */
  approve(id: string): Promise<boolean>;
  config(): ProviderSimConfig;
  setConfig(patch: Partial<ProviderSimConfig>): ProviderSimConfig;
  close(): Promise<void>;
}

const newId = (p: string): string => `${p}-${randomBytes(8).toString("hex").toUpperCase()}`;

/** Starts the wallet simulator; webhooks are signed with `secret`. */
export async function startWalletSimulator(opts: {
  host?: string;
  port: number;
  secret: string;
  logger: Logger;
  config?: Partial<ProviderSimConfig>;
}): Promise<WalletSimulator> {
  const log = opts.logger.child({ sim: "wallet" });
  const host = opts.host ?? "127.0.0.1";
  let config: ProviderSimConfig = { ...DEFAULT_PROVIDER_SIM, ...opts.config };
  const counters = {
    requests: 0,
    outageRefusals: 0,
    duplicates: 0,
    webhooksSent: 0,
    webhooksFailed: 0,
    checkouts: 0,
    captures: 0,
    refunds: 0,
  };
  const book = new IdempotencyBook(counters);
  const checkouts = new Map<string, WalletCheckout>();
  const lines: Array<{
    checkoutId: string;
    merchantReference: string;
    kind: "SALE" | "REFUND";
    value: string;
    currency: string;
  }> = [];
  const hooks = new WebhookSender(log, counters);
  let baseUrl = "";

  async function announce(c: WalletCheckout, event: string): Promise<void> {
    if (config.webhook === "none" || config.webhookUrl === "") return;
    const eventId = newId("WH");
    const body = JSON.stringify({ eventId, event, checkout: { ...c } });
    const url = config.webhookUrl;
    const deliver = async (): Promise<void> => {
      const headers = { "X-Wallet-Signature": signWallet(opts.secret, body), "X-Wallet-Event": eventId };
      for (let i = 0; i < (config.duplicateWebhooks ? 2 : 1); i++) await hooks.send(url, body, headers);
    };
    if (config.webhook === "before") await deliver();
    else hooks.later(config.webhookDelayMs, () => void deliver());
  }

  async function approve(id: string): Promise<boolean> {
    const c = checkouts.get(id);
    if (!c || c.state !== "CREATED") return c?.state === "APPROVED";
    c.state = "APPROVED";
    await announce(c, "CHECKOUT.APPROVED");
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    const parts = url.pathname.split("/").filter(Boolean);
    if (url.pathname === "/health") return send(res, 200, { ok: true });
    if (
      await configRoute(req, res, url, {
        get: () => config,
        merge: mergeProviderSim,
        set: (c) => void (config = c),
        maxBytes: 64 * 1024,
      })
    )
      return;
    if (url.pathname === "/admin/summary") return send(res, 200, { ...counters, open: checkouts.size });
    counters.requests++;
    await sleep(config.latencyMs);
    if (config.outage) {
      counters.outageRefusals++;
      return send(res, 503, { name: "SERVICE_UNAVAILABLE" });
    }
    if (parts[0] === "reports" && parts[1] === "settlement") return send(res, 200, { lines });
    if (parts[0] !== "checkouts") return send(res, 404, { name: "RESOURCE_NOT_FOUND" });
    if (req.method === "GET") {
      if (parts.length === 1) {
        const ref = url.searchParams.get("merchantReference");
        return send(res, 200, { items: [...checkouts.values()].filter((c) => c.merchantReference === ref) });
      }
      const c = checkouts.get(parts[1] ?? "");
      return c ? send(res, 200, c) : send(res, 404, { name: "RESOURCE_NOT_FOUND" });
    }
    if (req.method !== "POST") return send(res, 405, { name: "METHOD_NOT_ALLOWED" });
    if (parts[2] === "approve") {
      const ok = await approve(parts[1] ?? "");
      return ok ? send(res, 200, checkouts.get(parts[1] ?? "")) : send(res, 409, { name: "NOT_APPROVABLE" });
    }
    const key = String(req.headers["x-request-id"] ?? "");
    if (key === "") return send(res, 400, { name: "MISSING_REQUEST_ID" });
    let body: Record<string, unknown> = {};
    try {
      const raw = (await readBody(req, 64 * 1024)).toString("utf8");
      const parsed: unknown = raw === "" ? {} : JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null) body = { ...parsed };
    } catch {
      return send(res, 400, { name: "MALFORMED_REQUEST" });
    }
    const scope = `${url.pathname} ${key}`;
    const prior = book.replay(scope);
    if (prior) return send(res, prior.status, prior.body);
    const answer = (status: number, b: unknown): void => {
      book.record(scope, status, b);
      send(res, status, b);
    };
    if (parts.length === 1) {
      const ref = body["merchantReference"];
      const total = body["total"];
      const t: Record<string, unknown> = typeof total === "object" && total !== null ? { ...total } : {};
      if (
        typeof ref !== "string" ||
        typeof t["value"] !== "string" ||
        !/^\d+\.\d{2}$/.test(t["value"]) ||
        typeof t["currency"] !== "string"
      )
        return send(res, 422, {
          name: "UNPROCESSABLE_ENTITY",
          details: 'merchantReference and total {value: "0.00", currency} are required',
        });
      counters.checkouts++;
      const checkoutId = newId("CO");
      const c: WalletCheckout = {
        checkoutId,
        merchantReference: ref,
        total: { value: t["value"], currency: t["currency"] },
        state: "CREATED",
        refunded: "0.00",
        approveUrl: `${baseUrl}/checkouts/${checkoutId}/approve`,
      };
      checkouts.set(checkoutId, c);
      answer(201, { ...c });
      if (config.async) hooks.later(Math.max(1, config.webhookDelayMs), () => void approve(checkoutId));
      return;
    }
    const c = checkouts.get(parts[1] ?? "");
    if (!c) return send(res, 404, { name: "RESOURCE_NOT_FOUND" });
    if (parts[2] === "capture") {
      if (c.state === "COMPLETED") return answer(200, { ...c });
      if (c.state !== "APPROVED") return answer(409, { name: "NOT_APPROVED", state: c.state });
      c.state = "COMPLETED";
      counters.captures++;
      lines.push({
        checkoutId: c.checkoutId,
        merchantReference: c.merchantReference,
        kind: "SALE",
        value: c.total.value,
        currency: c.total.currency,
      });
      await announce(c, "CHECKOUT.COMPLETED");
      return answer(200, { ...c });
    }
    if (parts[2] === "refund") {
      if (c.state !== "COMPLETED") return answer(409, { name: "NOT_REFUNDABLE", state: c.state });
      const value = typeof body["value"] === "string" ? body["value"] : c.total.value;
      c.state = "REFUNDED";
      c.refunded = value;
      counters.refunds++;
      lines.push({
        checkoutId: c.checkoutId,
        merchantReference: c.merchantReference,
        kind: "REFUND",
        value,
        currency: c.total.currency,
      });
      await announce(c, "CHECKOUT.REFUNDED");
      return answer(200, { ...c });
    }
    if (parts[2] === "cancel") {
      if (c.state === "VOIDED") return answer(200, { ...c });
      if (c.state === "COMPLETED" || c.state === "REFUNDED")
        return answer(409, { name: "NOT_CANCELLABLE", state: c.state });
      c.state = "VOIDED";
      await announce(c, "CHECKOUT.VOIDED");
      return answer(200, { ...c });
    }
    return send(res, 404, { name: "RESOURCE_NOT_FOUND" });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn({ err: String(err) }, "wallet simulator failed a request");
      send(res, 500, { name: "INTERNAL" });
    });
  });
  const l = await listen(server, opts.port, host);
  baseUrl = `http://${host}:${l.port}`;
  return {
    url: baseUrl,
    counters,
    checkouts,
    approve,
    config: () => config,
    setConfig(patch) {
      const r = mergeProviderSim(config, patch);
      if ("problems" in r) throw new Error(r.problems.join("; "));
      config = r.config;
      return config;
    },
    async close() {
      hooks.close();
      await l.close();
    },
  };
}
