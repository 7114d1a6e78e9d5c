/**
 * The caller assertion: who a Moleculer call is made for, signed by a member of the cluster.
 *
 * Every call carries `ctx.meta.caller`, a compact JWS (HS256 over CLUSTER_SECRET) whose claims
 * say the kind of caller, its subject and scopes, the namespace (`aud`) and a short expiry. The
 * gateway signs one per HTTP request ("client" for an authenticated request, "public" for a
 * public route); a node signs "node" for its own calls; the REPL signs "operator". The broker
 * middleware (node/caller-guard.ts) verifies it before any action runs and binds the result to
 * the context; the access helpers (gateway/access.ts) read only that verified caller, never a
 * bare `ctx.meta` field. Anyone on NATS can forge meta; only a holder of the secret can sign.
 */
import { createHash } from "node:crypto";
import { signHs256, verifyHs256 } from "./hs256";

/**
 * Kinds of caller. "public": an unauthenticated request the gateway admitted to a public route;
 * "user": an end user acting as itself with a token of the identity provider
 * (gateway/end-user-tokens.ts).
 */
export const CALLER_KINDS = ["client", "operator", "node", "public", "user"] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** A verified caller. */
export interface Caller {
  readonly kind: CallerKind;
  /** The client id ("client"), the node id ("node"), who operates ("operator"), the entity id ("user"), or "anonymous" ("public"). */
  readonly subject: string;
  /** Scopes of a client or end user (empty for other kinds). */
  readonly scopes: readonly string[];
  /** The request the assertion was signed for (gateway requests), if any. */
  readonly requestId?: string;
  /** Expiry, epoch milliseconds. */
  readonly expiresAt: number;
}

/** What to sign. */
export interface CallerClaims {
  readonly kind: CallerKind;
  readonly subject: string;
  readonly scopes?: readonly string[];
  /** Binds the assertion to one request: it is refused on a context of another request id. */
  readonly requestId?: string;
  /** Lifetime in seconds (default {@link CALLER_TTL_SEC}). */
  readonly ttlSec?: number;
}

/** The outcome of a verification: the caller, or why there is none. */
export type CallerCheck =
  { readonly ok: true; readonly caller: Caller } | { readonly ok: false; readonly reason: string };

/** Signs and verifies caller assertions of one cluster (secret) and namespace. */
export interface CallerTokens {
  /** A new assertion for `claims`. */
  sign(claims: CallerClaims): Promise<string>;
  /**
   * Checks `token` (anything found in `ctx.meta.caller`): signature, `typ`, issuer, namespace,
   * expiry (5 s of clock skew allowed), claim shapes, and, when it names one, that `requestId`
   * is its request. Results are cached per token until it expires.
   */
  verify(token: unknown, requestId?: string | null): Promise<CallerCheck>;
}

/** Default lifetime of an assertion. Short: it only has to outlive one call tree. */
export const CALLER_TTL_SEC = 60;

const TYP = "sy-caller+jwt";
const ISSUER = "switchyard";
const SKEW_SEC = 5;
const MAX_CACHED = 10_000;
const MAX_TOKEN_CHARS = 4096;

function isCallerKind(v: unknown): v is CallerKind {
  return typeof v === "string" && (CALLER_KINDS as readonly string[]).includes(v);
}

/** Caller tokens for `secret` and `namespace` (no memo: see {@link callerTokens}). */
export function createCallerTokens(secret: string, namespace: string): CallerTokens {
  if (secret === "") throw new Error("a cluster secret is required to sign callers");
  const key = new TextEncoder().encode(secret);
  const cache = new Map<string, Caller>();

  function remember(token: string, caller: Caller): void {
    if (cache.size >= MAX_CACHED) {
      // Oldest first (Map keeps insertion order): drop a tenth at once, not one per insert.
      let n = MAX_CACHED / 10;
      for (const k of cache.keys()) {
        cache.delete(k);
        if (--n <= 0) break;
      }
    }
    cache.set(token, caller);
  }

  function bound(caller: Caller, requestId: string | null | undefined): CallerCheck {
    if (caller.requestId !== undefined && caller.requestId !== requestId)
      return { ok: false, reason: "another request's assertion" };
    return { ok: true, caller };
  }

  return {
    async sign(claims) {
      const ttl = claims.ttlSec ?? CALLER_TTL_SEC;
      const now = Math.floor(Date.now() / 1000);
      const scopes = [...(claims.scopes ?? [])];
      const token = signHs256(key, TYP, {
        knd: claims.kind,
        scp: scopes,
        ...(claims.requestId !== undefined ? { rid: claims.requestId } : {}),
        sub: claims.subject,
        iss: ISSUER,
        aud: namespace,
        iat: now,
        exp: now + ttl,
      });
      // What this process signed it need not verify again.
      remember(token, {
        kind: claims.kind,
        subject: claims.subject,
        scopes,
        expiresAt: (now + ttl) * 1000,
        ...(claims.requestId !== undefined ? { requestId: claims.requestId } : {}),
      });
      return token;
    },

    async verify(token, requestId) {
      if (typeof token !== "string" || token === "") return { ok: false, reason: "no caller assertion" };
      if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: "malformed" };
      const hit = cache.get(token);
      if (hit) {
        if (hit.expiresAt + SKEW_SEC * 1000 > Date.now()) return bound(hit, requestId);
        cache.delete(token);
        return { ok: false, reason: "expired" };
      }
      const checked = verifyHs256(key, token, { typ: TYP, issuer: ISSUER, audience: namespace, skewSec: SKEW_SEC });
      if (!checked.ok) return { ok: false, reason: checked.reason };
      const { knd, scp, rid, sub, exp } = checked.payload as {
        knd?: unknown;
        scp?: unknown;
        rid?: unknown;
        sub?: unknown;
        exp?: unknown;
      };
      if (!isCallerKind(knd) || typeof sub !== "string" || sub === "" || typeof exp !== "number")
        return { ok: false, reason: "malformed" };
      if (!Array.isArray(scp) || !scp.every((s) => typeof s === "string")) return { ok: false, reason: "malformed" };
      if (rid !== undefined && typeof rid !== "string") return { ok: false, reason: "malformed" };
      const caller: Caller = {
        kind: knd,
        subject: sub,
        scopes: scp,
        expiresAt: exp * 1000,
        ...(typeof rid === "string" ? { requestId: rid } : {}),
      };
      remember(token, caller);
      return bound(caller, requestId);
    },
  };
}

const shared = new Map<string, CallerTokens>();

/**
 * The caller tokens of this process for `secret` and `namespace`: one instance (and one cache)
 * per pair, so what the gateway signs the broker middleware of the same node finds verified.
 */
export function callerTokens(secret: string, namespace: string): CallerTokens {
  const id = `${namespace}:${createHash("sha256").update(secret).digest("base64url")}`;
  let t = shared.get(id);
  if (!t) {
    t = createCallerTokens(secret, namespace);
    shared.set(id, t);
  }
  return t;
}

/**
 * The `meta` for one operator call made outside a Switchyard broker (a tool with a plain
 * Moleculer broker): `broker.call(action, params, { meta: await operatorMeta(config) })`.
 * A broker built with `brokerOptions` signs its own calls and needs none.
 */
export async function operatorMeta(
  config: { readonly namespace: string; readonly cluster: { readonly secret: string } },
  who = "operator",
): Promise<{ caller: string }> {
  return {
    caller: await callerTokens(config.cluster.secret, config.namespace).sign({ kind: "operator", subject: who }),
  };
}

const verified = new WeakMap<object, Caller>();

/** Records `caller` as the verified caller of `ctx` (only the broker middleware calls this). */
export function bindCaller(ctx: object, caller: Caller): void {
  verified.set(ctx, caller);
}

/** The verified caller of `ctx`, or undefined when none was verified for it. */
export function verifiedCaller(ctx: object): Caller | undefined {
  return verified.get(ctx);
}
