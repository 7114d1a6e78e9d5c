/**
 * End-user tokens: bearer JWTs issued by an external identity provider (one configured issuer)
 * and verified with its JWKS, so that a person (a civilian, an officer, a merchant, an admin)
 * acts as itself through the gateway. The token's `sub` is the entity id, its `scope`
 * (space-separated) the scopes it may use, cut to {@link EndUserTokenConfig.allowedScopes} when
 * that is not empty.
 *
 * The gateway tells such a token from its own access tokens by its issuer (read before the
 * signature is checked, only to choose the verifier); it then signs a caller assertion of kind
 * "user" (gateway/caller.ts), and actions keep users to their own resources with
 * `requireSelf` (gateway/access.ts).
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, errors as joseErrors, type JWTVerifyGetKey } from "jose";
import { AppError } from "../lib/errors";
import { SCOPE_PATTERN } from "./routes";

/** Which identity provider's tokens are accepted. */
export interface EndUserTokenConfig {
  /** `iss` of the tokens; empty: end-user tokens are off. */
  readonly issuer: string;
  /** Where the provider's JWKS is served. */
  readonly jwksUrl: string;
  /** `aud` the tokens must carry. */
  readonly audience: string;
  /** The scopes an end user may hold at most (others in a token are dropped); empty: any well-formed scope. */
  readonly allowedScopes: readonly string[];
}

/** A verified end user. */
export interface EndUser {
  /** The entity id (`sub`). */
  readonly subject: string;
  readonly scopes: readonly string[];
  /** Expiry, epoch milliseconds. */
  readonly expiresAt: number;
}

/** Verifies the tokens of one identity provider. */
export interface EndUserVerifier {
  /** True when `token` looks like a JWT of the configured issuer (unverified: it only picks the verifier). */
  accepts(token: string): boolean;
  /** The end user of a valid token; 401 UNAUTHORIZED otherwise (forged, expired, wrong issuer or audience). */
  verify(token: string): Promise<EndUser>;
}

const ALGORITHMS = ["ES256", "RS256", "EdDSA"];
const SKEW_SEC = 5;
const SUBJECT = /^[A-Za-z0-9_.:|@-]{1,64}$/;

function unauthorized(message: string): AppError {
  return new AppError("UNAUTHORIZED", message, undefined, { "WWW-Authenticate": 'Bearer realm="switchyard"' });
}

function why(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "end-user token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `end-user token claim ${err.claim} invalid`;
  return "invalid end-user token";
}

/**
 * The verifier of `cfg`, or null when end-user tokens are off. `keys` replaces the remote JWKS
 * (tests of the verifier alone); by default the JWKS is fetched from `jwksUrl` and cached by jose
 * (refetched when a token names an unknown `kid`, at most every 30 s).
 */
export function createEndUserVerifier(cfg: EndUserTokenConfig, keys?: JWTVerifyGetKey): EndUserVerifier | null {
  if (cfg.issuer === "") return null;
  const getKey = keys ?? createRemoteJWKSet(new URL(cfg.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  const allowed = new Set(cfg.allowedScopes);
  return {
    accepts(token) {
      try {
        return decodeJwt(token).iss === cfg.issuer;
      } catch {
        return false;
      }
    },
    async verify(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer: cfg.issuer,
          audience: cfg.audience,
          algorithms: ALGORITHMS,
          clockTolerance: SKEW_SEC,
          requiredClaims: ["sub", "exp"],
        }));
      } catch (err) {
        throw unauthorized(why(err));
      }
      const sub = payload.sub;
      if (typeof sub !== "string" || !SUBJECT.test(sub) || typeof payload.exp !== "number")
        throw unauthorized("invalid end-user token");
      const scope = typeof payload["scope"] === "string" ? payload["scope"] : "";
      const scopes = [...new Set(scope.split(" "))].filter(
        (s) => SCOPE_PATTERN.test(s) && (allowed.size === 0 || allowed.has(s)),
      );
      return { subject: sub, scopes, expiresAt: payload.exp * 1000 };
    },
  };
}
