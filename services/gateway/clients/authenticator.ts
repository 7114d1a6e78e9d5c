/**
 * Turns an `Authorization` header into a client: `Bearer sy_live_...` (API key) or
 * `Bearer <JWT>` (access token from /oauth/token). Either way the client's current status and
 * scopes come from the credential cache, so a suspension also stops tokens already issued, and
 * a token's scopes are cut to what the client holds now.
 */
import { AppError } from "../../../lib/errors";
import type { AuthenticatedClient } from "../../../gateway/routes";
import type { CredentialCache } from "./cache";
import { hashApiKey, parseApiKey, sameHash, API_KEY_PREFIX } from "./keys";
import type { TokenService } from "./tokens";
import type { ClientEntry, RateLimit } from "./types";

/** An authenticated request's client and its rate limit. */
export interface Principal {
  readonly client: AuthenticatedClient;
  readonly rateLimit: RateLimit;
  /** How it authenticated ("end_user": a token of the identity provider, gateway/end-user-tokens.ts; `client.id` is the entity id). */
  readonly via: "api_key" | "token" | "end_user";
}

/** Authenticates requests. */
export interface Authenticator {
  /** The principal of an `Authorization` header value; 401 / 403 CLIENT_SUSPENDED otherwise. */
  authenticate(authorization: string | undefined): Promise<Principal>;
  /** The client an API key belongs to (active or not); 401 INVALID_CLIENT if the key is not valid. */
  verifyApiKey(key: string): Promise<ClientEntry>;
}

const MAX_TOKEN = 4096;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The WWW-Authenticate header sent with 401s. */
export const WWW_AUTHENTICATE = 'Bearer realm="switchyard"';

function unauthorized(message: string, code: "UNAUTHORIZED" | "INVALID_CLIENT" = "UNAUTHORIZED"): AppError {
  return new AppError(code, message, undefined, { "WWW-Authenticate": WWW_AUTHENTICATE });
}

/** Builds the authenticator. `defaultRate` applies to clients without their own limit. */
export function createAuthenticator({
  cache,
  tokens,
  defaultRate,
}: {
  cache: CredentialCache;
  tokens: TokenService;
  defaultRate: RateLimit;
}): Authenticator {
  async function clientFromKey(key: string, code: "UNAUTHORIZED" | "INVALID_CLIENT"): Promise<ClientEntry> {
    const parsed = parseApiKey(key);
    if (!parsed) throw unauthorized("invalid credentials", code);
    const entry = await cache.key(parsed.keyId);
    if (!entry || !sameHash(entry.hash, hashApiKey(key))) throw unauthorized("invalid credentials", code);
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now())
      throw unauthorized("API key expired (rotated)", code);
    const client = await cache.client(entry.clientId);
    if (!client) throw unauthorized("invalid credentials", code);
    return client;
  }

  function principal(c: ClientEntry, scopes: readonly string[], via: Principal["via"]): Principal {
    if (c.status !== "active") throw new AppError("CLIENT_SUSPENDED", "client is suspended");
    return { client: { id: c.id, scopes }, rateLimit: c.rateLimit ?? defaultRate, via };
  }

  return {
    async authenticate(authorization) {
      if (authorization === undefined || authorization === "")
        throw unauthorized("missing credentials: send Authorization: Bearer <API key or access token>");
      if (authorization.length > MAX_TOKEN + 7) throw unauthorized("invalid credentials");
      const sp = authorization.indexOf(" ");
      if (sp === -1 || authorization.slice(0, sp).toLowerCase() !== "bearer")
        throw unauthorized("unsupported authorization scheme: use Bearer");
      const token = authorization.slice(sp + 1).trim();
      if (token.startsWith(API_KEY_PREFIX)) {
        const c = await clientFromKey(token, "UNAUTHORIZED");
        return principal(c, c.scopes, "api_key");
      }
      if (!JWT_SHAPE.test(token)) throw unauthorized("invalid credentials");
      let claims;
      try {
        claims = await tokens.verify(token);
      } catch (err) {
        throw err instanceof AppError ? unauthorized(err.message) : err;
      }
      const c = await cache.client(claims.clientId);
      if (!c) throw unauthorized("invalid access token");
      return principal(
        c,
        claims.scopes.filter((s) => c.scopes.includes(s)),
        "token",
      );
    },
    verifyApiKey: (key) => clientFromKey(key, "INVALID_CLIENT"),
  };
}
