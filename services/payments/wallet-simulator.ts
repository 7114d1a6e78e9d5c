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
 * Admin as every provider simulator (provider-simulator.ts): /admin/config, /admin/summary,
 * /admin/reset, /health.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { send } from "../../lib/sim-http";
import { signWallet } from "./signatures";
import type { ProviderSimConfig, ProviderSimCounters } from "./simulator-kit";
import { startProviderSimulator, type ProviderSimContext, type ProviderSimCore } from "./provider-simulator";

/** A checkout at the simulated wallet. */
export interface WalletCheckout {
  readonly checkoutId: string;
  readonly merchantReference: string;
  readonly total: { readonly value: string; readonly currency: string };
  state: "CREATED" | "APPROVED" | "COMPLETED" | "REFUNDED" | "VOIDED";
  refunded: string;
  readonly approveUrl: string;
}

/** The wallet's own counters. */
type WalletCounters = { checkouts: number; captures: number; refunds: number };

/** A running wallet simulator. */
export interface WalletSimulator {
  readonly url: string;
  readonly counters: ProviderSimCounters & WalletCounters;
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
  const checkouts = new Map<string, WalletCheckout>();
  const lines: Array<{
    checkoutId: string;
    merchantReference: string;
    kind: "SALE" | "REFUND";
    value: string;
    currency: string;
  }> = [];
  const extra: WalletCounters = { checkouts: 0, captures: 0, refunds: 0 };
  let approve: (id: string) => Promise<boolean> = () => Promise.resolve(false);

  const build = (core: ProviderSimCore<WalletCounters>) => {
    const { counters } = core;
    const announce = (c: WalletCheckout, event: string): Promise<void> => {
      const eventId = newId("WH");
      const body = JSON.stringify({ eventId, event, checkout: { ...c } });
      return core.announce(body, () => ({
        "X-Wallet-Signature": signWallet(opts.secret, body),
        "X-Wallet-Event": eventId,
      }));
    };
    approve = async (id: string): Promise<boolean> => {
      const c = checkouts.get(id);
      if (!c || c.state !== "CREATED") return c?.state === "APPROVED";
      c.state = "APPROVED";
      await announce(c, "CHECKOUT.APPROVED");
      return true;
    };

    async function handle({ req, res, url, parts, keyed }: ProviderSimContext): Promise<void> {
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
        // the buyer at the wallet: no request id
        const ok = await approve(parts[1] ?? "");
        return ok ? send(res, 200, checkouts.get(parts[1] ?? "")) : send(res, 409, { name: "NOT_APPROVABLE" });
      }
      const call = await keyed();
      if (!call) return;
      const { body, answer } = call;
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
          approveUrl: `${core.baseUrl()}/checkouts/${checkoutId}/approve`,
        };
        checkouts.set(checkoutId, c);
        answer(201, { ...c });
        const config = core.config();
        if (config.async) core.later(Math.max(1, config.webhookDelayMs), () => void approve(checkoutId));
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

    return {
      keyHeader: "X-Request-Id",
      replayHeader: false,
      errors: {
        unavailable: { name: "SERVICE_UNAVAILABLE" },
        missingKey: { name: "MISSING_REQUEST_ID" },
        badJson: { name: "MALFORMED_REQUEST" },
        internal: { name: "INTERNAL" },
      },
      handle,
      summary: () => ({ open: checkouts.size }),
      reset() {
        checkouts.clear();
        lines.length = 0;
      },
    };
  };

  const sim = await startProviderSimulator("wallet", opts, extra, build);
  return { ...sim, checkouts, approve: (id) => approve(id) };
}
