/**
 * The client registry and credentials: what other folders may use.
 */
export { clientMigrations, createClientStore, type ClientStore } from "./store";
export {
  clientAdminDeps,
  createClient,
  listClients,
  getClient,
  suspendClient,
  activateClient,
  rotateClientKey,
  getClientWebhook,
  type ClientAdminDeps,
} from "./admin";
export { createCredentialCache, invalidateRedis, type CredentialCache } from "./cache";
export { createAuthenticator, WWW_AUTHENTICATE, type Authenticator, type Principal } from "./authenticator";
export { createTokenService, openSigningKey, type TokenService, type AccessTokenClaims, type Jwks } from "./tokens";
export { sealClientSecrets, signingKeyContext, webhookSecretContext, type SealReport } from "./secrets";
export { credentialCacheMac } from "./cache-entry";
export { createRateLimiter, type RateLimiter, type RateDecision } from "./ratelimit";
export { decodeClientChange, publishClientChange, type ClientChange } from "./notices";
export { createClientRegistry, type ClientRegistry } from "./registry";
export {
  parseTokenRequest,
  grantedScopes,
  exchangeClientCredentials,
  type TokenRequest,
  type TokenResponse,
} from "./oauth";
export { newApiKey, parseApiKey, hashApiKey, newClientId, newWebhookSecret, CLIENT_ID_PATTERN } from "./keys";
export * from "./types";
