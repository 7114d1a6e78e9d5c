/**
 * QR encounter tokens: `v1.<payload>.<signature>`, the payload base64url JSON
 * `{ u: user, k: kind, n: nonce, e: expiry ms }`, the signature HMAC-SHA256 (REWARDS_QR_SECRET)
 * over `v1.<payload>`, base64url. Short-lived (REWARDS_QR_TTL_MS) and single use: redeeming
 * records the nonce in KV `{ns}_rw_qr` with a create that fails when it exists. The image is
 * made with `qrcode` (PNG, returned as base64 and as a data URL).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import QRCode from "qrcode";
import { isRecord, PARTY_KINDS, type PartyKind } from "./model";

/** What a QR token says. */
export interface QrClaims {
  readonly user: string;
  readonly kind: PartyKind;
  readonly nonce: string;
  readonly expiresAt: number;
}

/** Why a token is refused. */
export type QrProblem = "MALFORMED" | "BAD_SIGNATURE" | "EXPIRED";

function sign(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

/** A new token for `user` of `kind`, valid `ttlMs` from `now`. */
export function issueQrToken(
  secret: string,
  user: string,
  kind: PartyKind,
  now: number,
  ttlMs: number,
): { token: string; claims: QrClaims } {
  const claims: QrClaims = { user, kind, nonce: randomBytes(12).toString("base64url"), expiresAt: now + ttlMs };
  const payload = Buffer.from(JSON.stringify({ u: user, k: kind, n: claims.nonce, e: claims.expiresAt })).toString(
    "base64url",
  );
  const body = `v1.${payload}`;
  return { token: `${body}.${sign(secret, body)}`, claims };
}

/** The claims of `token` if it is well formed, signed with `secret` and not expired at `now`. */
export function verifyQrToken(secret: string, token: string, now: number): QrClaims | QrProblem {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== "v1") return "MALFORMED";
  const body = `${parts[0]}.${parts[1]}`;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(parts[2]!);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return "BAD_SIGNATURE";
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
  } catch {
    return "MALFORMED";
  }
  if (!isRecord(v)) return "MALFORMED";
  const { u, k, n, e } = v;
  if (typeof u !== "string" || typeof n !== "string" || typeof e !== "number") return "MALFORMED";
  const kind = PARTY_KINDS.find((p) => p === k);
  if (!kind) return "MALFORMED";
  if (e <= now) return "EXPIRED";
  return { user: u, kind, nonce: n, expiresAt: e };
}

/** The QR image of `token`: PNG bytes as base64, and a data URL. */
export async function qrImage(token: string): Promise<{ pngBase64: string; dataUrl: string }> {
  const png = await QRCode.toBuffer(token, { type: "png", errorCorrectionLevel: "M", margin: 2, width: 256 });
  const pngBase64 = png.toString("base64");
  return { pngBase64, dataUrl: `data:image/png;base64,${pngBase64}` };
}
