/**
 * The OAuth2 client-credentials grant (RFC 6749 section 4.4) of `POST /oauth/token`: the
 * client's id and API key from the form body or HTTP Basic, the scopes asked for (a subset of
 * the client's), and an access token for them. Errors use the OAuth error codes
 * (INVALID_CLIENT, UNSUPPORTED_GRANT_TYPE, INVALID_SCOPE) and CLIENT_SUSPENDED.
 */
import { AppError } from "../../../lib/errors";
import type { Authenticator } from "./authenticator";
import type { TokenService } from "./tokens";

/** The client's credentials and wishes, from a token request. */
export interface TokenRequest {
  readonly clientId: string;
  readonly secret: string;
  /** Scopes asked for (unset: every scope of the client). */
  readonly scopes?: readonly string[];
}

/** The answer of a successful grant. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: "Bearer";
  readonly expires_in: number;
  readonly scope: string;
}

/**
 * Reads a client-credentials request from its form `body` and `Authorization` header (Basic
 * credentials win over the body's). Throws the OAuth errors for a wrong grant or missing
 * credentials.
 */
export function parseTokenRequest(
  body: Readonly<Record<string, unknown>>,
  authorization: string | undefined,
): TokenRequest {
  let id = typeof body["client_id"] === "string" ? body["client_id"] : undefined;
  let secret = typeof body["client_secret"] === "string" ? body["client_secret"] : undefined;
  if (authorization && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      try {
        id = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      } catch {
        throw new AppError("INVALID_CLIENT", "invalid client authentication");
      }
    }
  }
  if (body["grant_type"] !== "client_credentials")
    throw new AppError("UNSUPPORTED_GRANT_TYPE", "grant_type must be client_credentials");
  if (!id || !secret) throw new AppError("INVALID_CLIENT", "client_id and client_secret are required");
  const scope = body["scope"];
  const scopes = typeof scope === "string" && scope.trim() !== "" ? [...new Set(scope.trim().split(/\s+/))] : undefined;
  return { clientId: id, secret, ...(scopes ? { scopes } : {}) };
}

/** The scopes to grant: those asked for if the client holds them all (else INVALID_SCOPE), or all of its own. */
export function grantedScopes(held: readonly string[], wanted: readonly string[] | undefined): string[] {
  if (!wanted) return [...held];
  const unknown = wanted.filter((s) => !held.includes(s));
  if (unknown.length > 0)
    throw new AppError("INVALID_SCOPE", `scope not granted to this client: ${unknown.join(" ").slice(0, 200)}`);
  return [...wanted];
}

/** Verifies the request's API key against its client id and issues an access token. */
export async function exchangeClientCredentials(
  deps: { auth: Authenticator; tokens: TokenService },
  req: TokenRequest,
): Promise<TokenResponse> {
  const client = await deps.auth.verifyApiKey(req.secret);
  if (client.id !== req.clientId) throw new AppError("INVALID_CLIENT", "invalid client credentials");
  if (client.status !== "active") throw new AppError("CLIENT_SUSPENDED", "client is suspended");
  const scopes = grantedScopes(client.scopes, req.scopes);
  const { token, expiresIn } = await deps.tokens.issue(client.id, scopes);
  return { access_token: token, token_type: "Bearer", expires_in: expiresIn, scope: scopes.join(" ") };
}
