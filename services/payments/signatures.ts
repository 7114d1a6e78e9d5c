/**
 * Webhook signatures of the two payment providers (they differ, as real ones do):
 *
 *   card:   `Card-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a
 *           timestamp more than 5 minutes off is refused (replays)
 *   wallet: `X-Wallet-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`, `X-Wallet-Event: <id>`
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** How far a card signature's timestamp may be from now. */
export const CARD_TOLERANCE_SEC = 300;

/** The `Card-Signature` header of `body` at `nowMs`. */
export function signCard(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Null when `header` signs `body` with `secret` within the tolerance; else why not. */
export function verifyCard(secret: string, header: string | undefined, body: string, nowMs: number): string | null {
  if (!header) return "missing Card-Signature";
  const parts = new Map(
    header.split(",").map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1");
  if (!Number.isInteger(t) || !v1) return "malformed Card-Signature";
  if (Math.abs(nowMs / 1000 - t) > CARD_TOLERANCE_SEC) return "Card-Signature timestamp out of tolerance";
  const want = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return same(want, v1) ? null : "bad Card-Signature";
}

/** The `X-Wallet-Signature` header of `body`. */
export function signWallet(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("base64")}`;
}

/** Null when `header` signs `body` with `secret`; else why not. */
export function verifyWallet(secret: string, header: string | undefined, body: string): string | null {
  if (!header) return "missing X-Wallet-Signature";
  return same(signWallet(secret, body), header) ? null : "bad X-Wallet-Signature";
}
