/**
 * OAuth2 client-credentials access tokens: short-lived ES256 JWTs carrying the client id (`sub`,
 * `client_id`) and scopes (`scope`, space-separated), verified by every gateway node.
 *
 * The signing key is JWT_PRIVATE_KEY when configured; otherwise one ES256 key pair is generated
 * by the first node and stored in Postgres (`gateway_signing_keys`) so all nodes share it, its
 * private JWK sealed by the master keyring (reading the table does not give a usable key). The
 * JWKS lists every stored key by `kid`, so keys can be rotated by adding one. A stored key counts
 * only if its sealed private JWK opens: its public key is taken from that, never from the
 * plaintext `public_jwk` column, so a row planted without the master key verifies nothing.
 */
import { randomUUID } from "node:crypto";
import {
  SignJWT,
  jwtVerify,
  exportJWK,
  importJWK,
  importPKCS8,
  generateKeyPair,
  calculateJwkThumbprint,
  errors as joseErrors,
  type JWK,
  type CryptoKey,
  type JWTPayload,
} from "jose";
import type { Pool } from "../../../db";
import { AppError, errorMessage } from "../../../lib/errors";
import type { Logger } from "../../../lib/logger";
import type { Keyring } from "../../../lib/sealed";
import { signingKeyContext } from "./secrets";

/** Options of {@link createTokenService}. */
export interface TokenServiceOptions {
  readonly pg: Pool;
  /** Seals the private JWK of the stored key and opens it. */
  readonly keyring: Keyring;
  readonly logger?: Logger;
  /** `iss` and `aud` of tokens. */
  readonly issuer: string;
  readonly ttlSec: number;
  /** PKCS#8 PEM of an ES256 key; empty: use or create the shared key in Postgres. */
  readonly privateKeyPem?: string;
  readonly kid?: string;
  /** Verified tokens remembered (until they expire); default 50,000. */
  readonly cacheSize?: number;
}

/** What a valid token says. */
export interface AccessTokenClaims {
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

/** A JSON Web Key Set. */
export interface Jwks {
  readonly keys: readonly JWK[];
}

/** Issues and verifies access tokens. */
export interface TokenService {
  /** Loads (or creates) the signing key; idempotent. */
  ready(): Promise<void>;
  issue(clientId: string, scopes: readonly string[]): Promise<{ token: string; expiresIn: number }>;
  /** The claims of a valid token; 401 UNAUTHORIZED otherwise (expired, forged, wrong key, alg none, tampered). */
  verify(token: string): Promise<AccessTokenClaims>;
  jwks(): Jwks;
}

const ALG = "ES256";
const TYP = "at+jwt";

interface KeyRow {
  kid: string;
  sealed_private_jwk: string;
}

/** The private JWK of a stored signing key, opened with `keyring`; throws when it does not open or is not an ES256 key. */
export function openSigningKey(keyring: Keyring, kid: string, sealed: string): JWK {
  const jwk = JSON.parse(keyring.openText(sealed, signingKeyContext(kid))) as JWK;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string")
    throw new Error(`signing key ${kid} is not an ES256 private key`);
  return jwk;
}

/** Builds the token service. */
/** The public members of an EC JWK (kty, crv, x, y), leaving out those it does not have. */
function publicPart(jwk: JWK): JWK {
  const out: JWK = {};
  for (const k of ["kty", "crv", "x", "y"] as const) if (jwk[k] !== undefined) out[k] = jwk[k];
  return out;
}

export function createTokenService(opts: TokenServiceOptions): TokenService {
  let signing: { kid: string; key: CryptoKey } | undefined;
  const publicKeys = new Map<string, { jwk: JWK; key: CryptoKey }>();
  const verified = new Map<string, AccessTokenClaims>();
  const cacheSize = opts.cacheSize ?? 50_000;
  let loading: Promise<void> | undefined;
  let lastReload = 0;

  async function addPublic(kid: string, jwk: JWK): Promise<void> {
    const pub: JWK = { ...publicPart(jwk), kid, alg: ALG, use: "sig" };
    publicKeys.set(kid, { jwk: pub, key: (await importJWK(pub, ALG)) as CryptoKey });
  }

  async function loadStored(): Promise<KeyRow[]> {
    const res = await opts.pg.query<KeyRow>(
      `SELECT kid, sealed_private_jwk FROM gateway_signing_keys ORDER BY created_at DESC, kid`,
    );
    return res.rows;
  }

  /** The row's private JWK, or undefined (logged) when it does not open. */
  function open(r: KeyRow): JWK | undefined {
    try {
      return openSigningKey(opts.keyring, r.kid, r.sealed_private_jwk);
    } catch (err) {
      opts.logger?.warn(
        { kid: r.kid, err: errorMessage(err) },
        "stored signing key does not open with the master keys: ignored",
      );
      return undefined;
    }
  }

  async function load(): Promise<void> {
    if (opts.privateKeyPem) {
      const priv = await importPKCS8(opts.privateKeyPem, ALG, { extractable: true });
      const jwk = await exportJWK(priv);
      const pub: JWK = publicPart(jwk);
      const kid = opts.kid || (await calculateJwkThumbprint(pub));
      signing = { kid, key: priv };
      await addPublic(kid, pub);
      return;
    }
    let rows = await loadStored();
    if (rows.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
      const priv = await exportJWK(privateKey);
      const pub = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(pub);
      const c = await opts.pg.connect();
      try {
        await c.query("BEGIN");
        // Nodes starting together: the first one inserts, the others find its key.
        await c.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':gateway-signing-key'))");
        const again = await c.query<KeyRow>(`SELECT kid FROM gateway_signing_keys LIMIT 1`);
        if (again.rows.length === 0) {
          await c.query(
            `INSERT INTO gateway_signing_keys (kid, alg, sealed_private_jwk, public_jwk) VALUES ($1, $2, $3, $4)`,
            [kid, ALG, opts.keyring.seal(JSON.stringify(priv), signingKeyContext(kid)), pub],
          );
        }
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
      rows = await loadStored();
    }
    for (const r of rows) {
      const priv = open(r);
      if (!priv) continue;
      await addPublic(r.kid, priv);
      // The newest key that opens signs.
      signing ??= { kid: r.kid, key: (await importJWK(priv, ALG)) as CryptoKey };
    }
    if (!signing) throw new Error("no stored signing key opens with the configured master keys (MASTER_KEYS)");
  }

  async function keyFor(kid: string | undefined): Promise<CryptoKey> {
    if (!kid) throw new AppError("UNAUTHORIZED", "invalid access token");
    let k = publicKeys.get(kid);
    if (!k && !opts.privateKeyPem && Date.now() - lastReload > 10_000 && kid.length <= 128) {
      // A key added by another node after we started; look again at most every 10 s.
      lastReload = Date.now();
      for (const r of await loadStored()) {
        if (publicKeys.has(r.kid)) continue;
        const priv = open(r);
        if (priv) await addPublic(r.kid, priv);
      }
      k = publicKeys.get(kid);
    }
    if (!k) throw new AppError("UNAUTHORIZED", "invalid access token");
    return k.key;
  }

  const svc: TokenService = {
    ready() {
      loading ??= load().catch((err: unknown) => {
        loading = undefined;
        throw err;
      });
      return loading;
    },
    async issue(clientId, scopes) {
      await svc.ready();
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ client_id: clientId, scope: scopes.join(" ") })
        .setProtectedHeader({ alg: ALG, kid: signing!.kid, typ: TYP })
        .setIssuer(opts.issuer)
        .setAudience(opts.issuer)
        .setSubject(clientId)
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + opts.ttlSec)
        .setJti(randomUUID())
        .sign(signing!.key);
      return { token, expiresIn: opts.ttlSec };
    },
    async verify(token) {
      const nowSec = Date.now() / 1000;
      const hit = verified.get(token);
      if (hit) {
        if (hit.exp > nowSec) return hit;
        verified.delete(token);
        throw new AppError("UNAUTHORIZED", "access token expired");
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, (header) => keyFor(header.kid), {
          issuer: opts.issuer,
          audience: opts.issuer,
          algorithms: [ALG],
          typ: TYP,
          requiredClaims: ["sub", "exp", "iat"],
          clockTolerance: 5,
        }));
      } catch (err) {
        if (err instanceof AppError) throw err;
        if (err instanceof joseErrors.JWTExpired) throw new AppError("UNAUTHORIZED", "access token expired");
        throw new AppError("UNAUTHORIZED", "invalid access token");
      }
      const sub = payload.sub;
      const scope = payload["scope"];
      if (typeof sub !== "string" || typeof scope !== "string" || typeof payload.exp !== "number") {
        throw new AppError("UNAUTHORIZED", "invalid access token");
      }
      const claims: AccessTokenClaims = {
        clientId: sub,
        scopes: scope === "" ? [] : scope.split(" "),
        exp: payload.exp,
      };
      if (verified.size >= cacheSize) {
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
      verified.set(token, claims);
      return claims;
    },
    jwks() {
      return { keys: [...publicKeys.values()].map((k) => k.jwk) };
    },
  };
  return svc;
}
