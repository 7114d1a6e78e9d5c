/**
 * A card processor simulator (its own API, as a real processor has):
 *
 *   POST /v1/authorizations            {amount, currency, reference}   Idempotency-Key required
 *        201 {id, status: "authorized" | "declined", amount, currency, reference}
 *        202 {id, status: "pending", ...}   (config async: the result comes by webhook only)
 *   POST /v1/authorizations/{id}/capture                               Idempotency-Key required
 *        200 {id, status: "captured", captured}       409 when not authorised
 *   POST /v1/authorizations/{id}/refunds {amount}                      Idempotency-Key required
 *        201 {id, refundId, status: "refunded", refunded}   409 over what was captured
 *   POST /v1/authorizations/{id}/void   200 {id, status: "voided"}    409 once captured
 *   GET  /v1/authorizations/{id}        GET /v1/authorizations?reference=...
 *   GET  /v1/reports/transactions       [{authorization, reference, type, amount, currency, at}]
 *
 * Every state change is announced by a signed webhook (signatures.ts, `Card-Signature`) to the
 * configured webhookUrl: `authorization.succeeded`, `authorization.declined`, `charge.captured`,
 * `charge.refunded`, `authorization.voided`, each `{id: evt_..., type, data: {authorization,
 * reference, status, amount, currency}}`, retried until answered 2xx.
 *
 * Admin (the common part in provider-simulator.ts): GET/PUT /admin/config (faults, see
 * simulator-kit.ts), GET /admin/summary (counters, repeated idempotency keys), POST /admin/reset,
 * GET /health; and POST /admin/phantom {reference, type, amount} (a report line with no call
 * behind it, for reconciliation tests).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { readBody, send } from "../../lib/sim-http";
import { signCard } from "./signatures";
import type { ProviderSimConfig, ProviderSimCounters } from "./simulator-kit";
import { startProviderSimulator, type ProviderSimContext, type ProviderSimCore } from "./provider-simulator";

/** One authorisation at the simulated processor. */
export interface CardAuthorization {
  readonly id: string;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  status: "pending" | "authorized" | "declined" | "captured" | "refunded" | "voided";
  captured: number;
  refunded: number;
}

/** A report line. */
export interface CardReportLine {
  readonly authorization: string;
  readonly reference: string;
  readonly type: "authorization" | "capture" | "refund" | "void";
  readonly amount: number;
  readonly currency: string;
  readonly at: string;
}

/** The card processor's own counters. */
type CardCounters = { authorizations: number; captures: number; refunds: number; voids: number };

/** A running card simulator. */
export interface CardSimulator {
  readonly url: string;
  readonly counters: ProviderSimCounters & CardCounters;
  readonly authorizations: ReadonlyMap<string, CardAuthorization>;
  config(): ProviderSimConfig;
  setConfig(patch: Partial<ProviderSimConfig>): ProviderSimConfig;
  close(): Promise<void>;
}

const id = (p: string): string => `${p}_${randomBytes(8).toString("hex")}`;

/** Starts the card simulator on host:port (0: a free port); webhooks are signed with `secret`. */
export async function startCardSimulator(opts: {
  host?: string;
  port: number;
  secret: string;
  logger: Logger;
  config?: Partial<ProviderSimConfig>;
}): Promise<CardSimulator> {
  const auths = new Map<string, CardAuthorization>();
  const report: CardReportLine[] = [];
  const extra: CardCounters = { authorizations: 0, captures: 0, refunds: 0, voids: 0 };

  const build = (core: ProviderSimCore<CardCounters>) => {
    const { counters } = core;
    const line = (a: CardAuthorization, type: CardReportLine["type"], amount: number): void => {
      report.push({
        authorization: a.id,
        reference: a.reference,
        type,
        amount,
        currency: a.currency,
        at: new Date().toISOString(),
      });
    };
    /** Announces `a`'s change ("before" mode waits for the delivery). */
    const announce = (a: CardAuthorization, type: string): Promise<void> => {
      const body = JSON.stringify({
        id: id("evt"),
        type,
        created: Math.floor(Date.now() / 1000),
        data: { authorization: a.id, reference: a.reference, status: a.status, amount: a.amount, currency: a.currency },
      });
      return core.announce(body, () => ({ "Card-Signature": signCard(opts.secret, body, Date.now()) }));
    };
    const view = (a: CardAuthorization) => ({ ...a });

    async function phantom(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      if (url.pathname !== "/admin/phantom" || req.method !== "POST") return false;
      const b: unknown = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8") || "{}");
      const p: Record<string, unknown> = typeof b === "object" && b !== null ? { ...b } : {};
      report.push({
        authorization: id("auth"),
        reference: String(p["reference"] ?? "unknown"),
        type: p["type"] === "refund" ? "refund" : "capture",
        amount: Number(p["amount"] ?? 0),
        currency: String(p["currency"] ?? "EUR"),
        at: new Date().toISOString(),
      });
      send(res, 201, { ok: true });
      return true;
    }

    async function handle({ req, res, url, parts, keyed }: ProviderSimContext): Promise<void> {
      const config = core.config();
      if (parts[0] === "v1" && parts[1] === "reports" && parts[2] === "transactions" && req.method === "GET")
        return send(res, 200, { transactions: report });
      if (parts[0] !== "v1" || parts[1] !== "authorizations") return send(res, 404, { error: "no such route" });
      if (req.method === "GET") {
        if (parts.length === 2) {
          const ref = url.searchParams.get("reference");
          return send(res, 200, { data: [...auths.values()].filter((a) => a.reference === ref).map(view) });
        }
        const a = auths.get(parts[2] ?? "");
        return a ? send(res, 200, view(a)) : send(res, 404, { error: "no such authorization" });
      }
      if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
      const call = await keyed();
      if (!call) return;
      const { body, answer } = call;

      if (parts.length === 2) {
        const amount = body["amount"];
        const currency = body["currency"];
        const reference = body["reference"];
        if (
          typeof amount !== "number" ||
          !Number.isInteger(amount) ||
          amount <= 0 ||
          typeof currency !== "string" ||
          typeof reference !== "string"
        )
          return send(res, 400, { error: "amount (positive integer), currency and reference are required" });
        counters.authorizations++;
        const declined = config.declineAmounts.includes(amount);
        const a: CardAuthorization = {
          id: id("auth"),
          reference,
          amount,
          currency,
          status: "pending",
          captured: 0,
          refunded: 0,
        };
        auths.set(a.id, a);
        const settle = async (): Promise<void> => {
          a.status = declined ? "declined" : "authorized";
          if (!declined) line(a, "authorization", amount);
          await announce(a, declined ? "authorization.declined" : "authorization.succeeded");
        };
        if (config.async) {
          answer(202, view(a));
          core.later(Math.max(1, config.webhookDelayMs), () => void settle());
          return;
        }
        await settle();
        return answer(201, view(a));
      }
      const a = auths.get(parts[2] ?? "");
      if (!a) return send(res, 404, { error: "no such authorization" });
      const op = parts[3];
      if (op === "capture") {
        if (a.status === "captured") return answer(200, view(a));
        if (a.status !== "authorized") return answer(409, { error: `cannot capture while ${a.status}` });
        a.status = "captured";
        a.captured = a.amount;
        counters.captures++;
        line(a, "capture", a.amount);
        await announce(a, "charge.captured");
        return answer(200, view(a));
      }
      if (op === "refunds") {
        const amount = typeof body["amount"] === "number" ? body["amount"] : a.captured - a.refunded;
        if (a.status !== "captured" && a.status !== "refunded")
          return answer(409, { error: `cannot refund while ${a.status}` });
        if (amount <= 0 || a.refunded + amount > a.captured) return answer(409, { error: "more than was captured" });
        a.refunded += amount;
        if (a.refunded === a.captured) a.status = "refunded";
        counters.refunds++;
        line(a, "refund", amount);
        await announce(a, "charge.refunded");
        return answer(201, { ...view(a), refundId: id("re") });
      }
      if (op === "void") {
        if (a.status === "voided") return answer(200, view(a));
        if (a.status !== "authorized" && a.status !== "pending")
          return answer(409, { error: `cannot void while ${a.status}` });
        a.status = "voided";
        counters.voids++;
        line(a, "void", a.amount);
        await announce(a, "authorization.voided");
        return answer(200, view(a));
      }
      return send(res, 404, { error: "no such operation" });
    }

    return {
      keyHeader: "Idempotency-Key",
      replayHeader: true,
      errors: {
        unavailable: { error: "processor unavailable" },
        missingKey: { error: "Idempotency-Key is required" },
        badJson: { error: "the body must be JSON" },
        internal: { error: "internal" },
      },
      handle,
      admin: phantom,
      summary: () => ({ open: auths.size }),
      reset() {
        auths.clear();
        report.length = 0;
      },
    };
  };

  const sim = await startProviderSimulator("card", opts, extra, build);
  return { ...sim, authorizations: auths };
}
