/**
 * Compact JWS with HS256 (RFC 7515 / 7519), signed and verified synchronously with node:crypto.
 *
 * The caller assertion (gateway/caller.ts) is signed once per HTTP request and verified once per
 * call on another node, so it sits on every request's path. jose does the same through WebCrypto,
 * which imports the key and crosses a promise on each sign and verify: about a tenth of a
 * request's CPU on the gateway. This module does only what the assertion needs (one algorithm,
 * a shared secret, the registered claims it uses) and refuses everything else.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Claims as signed: the registered ones the assertion uses, plus its own. */
export type JwtPayload = Record<string, unknown> & {
  readonly sub?: unknown;
  readonly iss?: unknown;
  readonly aud?: unknown;
  readonly iat?: unknown;
  readonly exp?: unknown;
  readonly nbf?: unknown;
};

/** What a token must hold to verify. */
export interface Hs256Expectations {
  /** The `typ` header, exactly. */
  readonly typ: string;
  readonly issuer: string;
  /** `aud` must be this string or an array holding it. */
  readonly audience: string;
  /** Clock skew allowed on `exp`, `nbf` and `iat`, seconds. */
  readonly skewSec: number;
}

/** A verified payload, or why not (the reasons the caller guard logs). */
export type Hs256Check =
  { readonly ok: true; readonly payload: JwtPayload } | { readonly ok: false; readonly reason: string };

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64url");

/** The header segment of every token of one `typ` (computed once per typ). */
const headers = new Map<string, string>();
function headerOf(typ: string): string {
  let h = headers.get(typ);
  if (h === undefined) {
    h = b64(JSON.stringify({ alg: "HS256", typ }));
    headers.set(typ, h);
  }
  return h;
}

function mac(key: Uint8Array, input: string): Buffer {
  return createHmac("sha256", key).update(input).digest();
}

/** The compact JWS of `payload`, HS256 with `key`. */
export function signHs256(key: Uint8Array, typ: string, payload: JwtPayload): string {
  const input = `${headerOf(typ)}.${b64(JSON.stringify(payload))}`;
  return `${input}.${mac(key, input).toString("base64url")}`;
}

function parseSegment(seg: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, "base64url").toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Checks `token`: three base64url segments, header `{alg: "HS256", typ}` and nothing that asks
 * for more (`crit`), the signature (constant time), then the claims in the order jose checks them
 * (typ, iss, aud, iat, nbf, exp), so the reasons read the same: "malformed", "bad signature",
 * "claim X invalid", "expired".
 */
export function verifyHs256(key: Uint8Array, token: string, want: Hs256Expectations): Hs256Check {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return { ok: false, reason: "malformed" };
  const [h, p, s] = parts as [string, string, string];
  const header = parseSegment(h);
  if (!header || header.alg !== "HS256" || header.crit !== undefined) return { ok: false, reason: "malformed" };
  const sig = Buffer.from(s, "base64url");
  const expected = mac(key, `${h}.${p}`);
  if (sig.length !== expected.length || !timingSafeEqual(sig, expected)) return { ok: false, reason: "bad signature" };
  const payload = parseSegment(p) as JwtPayload | undefined;
  if (!payload) return { ok: false, reason: "malformed" };
  if (header.typ !== want.typ) return { ok: false, reason: "claim typ invalid" };
  if (payload.iss !== want.issuer) return { ok: false, reason: "claim iss invalid" };
  const aud = payload.aud;
  if (!(aud === want.audience || (Array.isArray(aud) && aud.includes(want.audience))))
    return { ok: false, reason: "claim aud invalid" };
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.sub !== "string") return { ok: false, reason: "claim sub invalid" };
  if (typeof payload.iat !== "number" || !Number.isFinite(payload.iat))
    return { ok: false, reason: "claim iat invalid" };
  if (payload.nbf !== undefined && (typeof payload.nbf !== "number" || payload.nbf > now + want.skewSec))
    return { ok: false, reason: "claim nbf invalid" };
  if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp))
    return { ok: false, reason: "claim exp invalid" };
  if (payload.exp <= now - want.skewSec) return { ok: false, reason: "expired" };
  return { ok: true, payload };
}
