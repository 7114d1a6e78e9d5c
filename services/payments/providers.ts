/**
 * The payment providers as the hub sees them: one interface over two different APIs (the card
 * processor, minor units and `Idempotency-Key`; the wallet, decimal amounts, `X-Request-Id` and
 * a buyer approval). Each call's failure is classified, because failover depends on it:
 *
 *   ProviderDown     503 or connection refused: the call did nothing, another provider may take a new payment
 *   ProviderRefused  a 4xx answer: final (declined, not capturable, ...)
 *   ProviderUnsure   a timeout, reset or other 5xx: it may have been done; retry the same provider, same key
 */
import { httpRequest, jsonOf, type HttpResponse } from "../../lib/http-client";
import { errorMessage } from "../../lib/errors";
import { verifyCard, verifyWallet } from "./signatures";

/** A payment's status, as the hub keeps it. */
export type PayStatus =
  "requested" | "pending" | "authorized" | "captured" | "declined" | "voided" | "refunded" | "failed";

/** The providers. */
export type ProviderName = "card" | "wallet";
export const PROVIDERS: readonly ProviderName[] = ["card", "wallet"];

/** What a provider says of a payment. */
export interface ProviderAnswer {
  readonly status: PayStatus;
  readonly providerRef: string;
  readonly redirectUrl: string | null;
}

/** A verified webhook event. */
export interface ProviderEvent {
  readonly eventId: string;
  readonly paymentId: string;
  readonly answer: ProviderAnswer;
}

/** One settled movement in a provider's report. */
export interface ReportLine {
  readonly paymentId: string;
  readonly kind: "capture" | "refund";
  readonly amount: number;
}

/** The call did nothing: the provider is down. */
export class ProviderDown extends Error {
  override readonly name = "ProviderDown";
}
/** The provider refused: final. */
export class ProviderRefused extends Error {
  override readonly name = "ProviderRefused";
}
/** The outcome is unknown: retry the same provider with the same key. */
export class ProviderUnsure extends Error {
  override readonly name = "ProviderUnsure";
}

/** One payment provider. */
export interface Provider {
  readonly name: ProviderName;
  authorize(p: { paymentId: string; amount: number; currency: string }): Promise<ProviderAnswer>;
  capture(ref: string, key: string, amount: number, currency: string): Promise<ProviderAnswer>;
  refund(ref: string, key: string, amount: number, currency: string): Promise<ProviderAnswer>;
  void(ref: string, key: string): Promise<ProviderAnswer>;
  /** The provider's view of the payment, or null when it has none. */
  lookup(paymentId: string): Promise<ProviderAnswer | null>;
  /** Settled captures and refunds (reconciliation). */
  report(): Promise<ReportLine[]>;
  /** Verifies and reads a webhook; a string says why it is refused. */
  webhook(headers: Readonly<Record<string, string>>, raw: string, now: number): ProviderEvent | string;
}

async function call(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: unknown,
  timeoutMs: number,
): Promise<HttpResponse> {
  let res: HttpResponse;
  try {
    res = await httpRequest(url, {
      method,
      headers: { "Content-Type": "application/json", ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const m = errorMessage(err);
    const cause = err instanceof Error && err.cause instanceof Error ? errorMessage(err.cause) : "";
    if (/ECONNREFUSED/.test(m) || /ECONNREFUSED/.test(cause)) throw new ProviderDown(`connection refused: ${url}`);
    throw new ProviderUnsure(`no answer from ${url}: ${m}`);
  }
  if (res.status === 503) throw new ProviderDown(`${url} answered 503`);
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    throw new ProviderUnsure(`${url} answered ${res.status}`);
  if (res.status >= 400) throw new ProviderRefused(`${url} answered ${res.status}: ${res.text.slice(0, 200)}`);
  return res;
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null ? { ...v } : {};
}

const CARD_STATUS: Readonly<Record<string, PayStatus>> = {
  pending: "pending",
  authorized: "authorized",
  declined: "declined",
  captured: "captured",
  refunded: "refunded",
  voided: "voided",
};

/** The card processor at `baseUrl`, its webhooks signed with `secret`. */
export function cardProvider(baseUrl: string, secret: string, timeoutMs: number): Provider {
  const answerOf = (v: unknown): ProviderAnswer => {
    const b = obj(v);
    const status = CARD_STATUS[String(b["status"])];
    if (!status || typeof b["id"] !== "string") throw new ProviderUnsure("card processor answered an unknown shape");
    return { status, providerRef: b["id"], redirectUrl: null };
  };
  const post = async (path: string, key: string, body: unknown): Promise<ProviderAnswer> =>
    answerOf(jsonOf(await call(`${baseUrl}${path}`, "POST", { "Idempotency-Key": key }, body, timeoutMs)));
  return {
    name: "card",
    authorize: (p) =>
      post("/v1/authorizations", p.paymentId, { amount: p.amount, currency: p.currency, reference: p.paymentId }),
    capture: (ref, key) => post(`/v1/authorizations/${encodeURIComponent(ref)}/capture`, key, {}),
    refund: (ref, key, amount) => post(`/v1/authorizations/${encodeURIComponent(ref)}/refunds`, key, { amount }),
    void: (ref, key) => post(`/v1/authorizations/${encodeURIComponent(ref)}/void`, key, {}),
    async lookup(paymentId) {
      const b = obj(
        jsonOf(
          await call(
            `${baseUrl}/v1/authorizations?reference=${encodeURIComponent(paymentId)}`,
            "GET",
            {},
            undefined,
            timeoutMs,
          ),
        ),
      );
      const list = Array.isArray(b["data"]) ? b["data"] : [];
      return list.length > 0 ? answerOf(list[list.length - 1]) : null;
    },
    async report() {
      const b = obj(jsonOf(await call(`${baseUrl}/v1/reports/transactions`, "GET", {}, undefined, timeoutMs)));
      const out: ReportLine[] = [];
      for (const t of Array.isArray(b["transactions"]) ? b["transactions"] : []) {
        const x = obj(t);
        if (
          (x["type"] === "capture" || x["type"] === "refund") &&
          typeof x["reference"] === "string" &&
          typeof x["amount"] === "number"
        )
          out.push({ paymentId: x["reference"], kind: x["type"], amount: x["amount"] });
      }
      return out;
    },
    webhook(headers, raw, now) {
      const why = verifyCard(secret, headers["card-signature"], raw, now);
      if (why) return why;
      let b: Record<string, unknown>;
      try {
        b = obj(JSON.parse(raw));
      } catch {
        return "not JSON";
      }
      const d = obj(b["data"]);
      const status = CARD_STATUS[String(d["status"])];
      if (
        typeof b["id"] !== "string" ||
        typeof d["reference"] !== "string" ||
        typeof d["authorization"] !== "string" ||
        !status
      )
        return "unknown event shape";
      return {
        eventId: b["id"],
        paymentId: d["reference"],
        answer: { status, providerRef: d["authorization"], redirectUrl: null },
      };
    },
  };
}

const WALLET_STATUS: Readonly<Record<string, PayStatus>> = {
  CREATED: "pending",
  APPROVED: "authorized",
  COMPLETED: "captured",
  REFUNDED: "refunded",
  VOIDED: "voided",
};

/** Minor units as the wallet's decimal string (two decimals). */
export function toDecimal(minor: number): string {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
}

/** The wallet's decimal string as minor units. */
export function fromDecimal(v: string): number {
  const [a = "0", b = "0"] = v.split(".");
  return Number(a) * 100 + Number(b.padEnd(2, "0").slice(0, 2));
}

/** The wallet at `baseUrl`, its webhooks signed with `secret`. */
export function walletProvider(baseUrl: string, secret: string, timeoutMs: number): Provider {
  const answerOf = (v: unknown): ProviderAnswer => {
    const b = obj(v);
    const status = WALLET_STATUS[String(b["state"])];
    if (!status || typeof b["checkoutId"] !== "string") throw new ProviderUnsure("wallet answered an unknown shape");
    return {
      status,
      providerRef: b["checkoutId"],
      redirectUrl: status === "pending" && typeof b["approveUrl"] === "string" ? b["approveUrl"] : null,
    };
  };
  const post = async (path: string, key: string, body: unknown): Promise<ProviderAnswer> =>
    answerOf(jsonOf(await call(`${baseUrl}${path}`, "POST", { "X-Request-Id": key }, body, timeoutMs)));
  return {
    name: "wallet",
    authorize: (p) =>
      post("/checkouts", p.paymentId, {
        merchantReference: p.paymentId,
        total: { value: toDecimal(p.amount), currency: p.currency },
      }),
    capture: (ref, key) => post(`/checkouts/${encodeURIComponent(ref)}/capture`, key, {}),
    refund: (ref, key, amount) =>
      post(`/checkouts/${encodeURIComponent(ref)}/refund`, key, { value: toDecimal(amount) }),
    void: (ref, key) => post(`/checkouts/${encodeURIComponent(ref)}/cancel`, key, {}),
    async lookup(paymentId) {
      const b = obj(
        jsonOf(
          await call(
            `${baseUrl}/checkouts?merchantReference=${encodeURIComponent(paymentId)}`,
            "GET",
            {},
            undefined,
            timeoutMs,
          ),
        ),
      );
      const list = Array.isArray(b["items"]) ? b["items"] : [];
      return list.length > 0 ? answerOf(list[list.length - 1]) : null;
    },
    async report() {
      const b = obj(jsonOf(await call(`${baseUrl}/reports/settlement`, "GET", {}, undefined, timeoutMs)));
      const out: ReportLine[] = [];
      for (const l of Array.isArray(b["lines"]) ? b["lines"] : []) {
        const x = obj(l);
        if (
          typeof x["merchantReference"] === "string" &&
          typeof x["value"] === "string" &&
          (x["kind"] === "SALE" || x["kind"] === "REFUND")
        )
          out.push({
            paymentId: x["merchantReference"],
            kind: x["kind"] === "SALE" ? "capture" : "refund",
            amount: fromDecimal(x["value"]),
          });
      }
      return out;
    },
    webhook(headers, raw) {
      const why = verifyWallet(secret, headers["x-wallet-signature"], raw);
      if (why) return why;
      let b: Record<string, unknown>;
      try {
        b = obj(JSON.parse(raw));
      } catch {
        return "not JSON";
      }
      const c = obj(b["checkout"]);
      if (typeof b["eventId"] !== "string" || typeof c["merchantReference"] !== "string") return "unknown event shape";
      try {
        return { eventId: b["eventId"], paymentId: c["merchantReference"], answer: answerOf(c) };
      } catch {
        return "unknown checkout state";
      }
    },
  };
}
