/**
 * The client registry as one node's gateway uses it, wired from the node context: the store
 * (Postgres, secrets sealed by the master keyring), the credential cache (memory, Redis with a
 * MAC, Postgres), the token service, the authenticator, the per-client rate limiter and the
 * admin functions' dependencies. `ready()` seals secrets left in the clear, then loads the
 * signing key; it is safe to call from every service's start and from any request.
 */
import type { NodeContext } from "../../../node/context";
import { createKeyring } from "../../../lib/sealed";
import { clientAdminDeps, type ClientAdminDeps } from "./admin";
import { createAuthenticator, type Authenticator } from "./authenticator";
import { createCredentialCache, type CacheLayer, type CredentialCache } from "./cache";
import { credentialCacheMac } from "./cache-entry";
import { createRateLimiter, type RateLimiter } from "./ratelimit";
import { sealClientSecrets } from "./secrets";
import { createClientStore, type ClientStore } from "./store";
import { createTokenService, type TokenService } from "./tokens";

/** One node's registry parts (see the module doc). */
export interface ClientRegistry {
  readonly store: ClientStore;
  readonly cache: CredentialCache;
  readonly tokens: TokenService;
  readonly auth: Authenticator;
  readonly limiter: RateLimiter;
  readonly admin: ClientAdminDeps;
  /** Seals registry secrets left in the clear (the data step of migration gateway-0002), then loads the signing key. */
  ready(): Promise<void>;
}

/** Wires the registry for `ctx`'s gateway; `onLookup` counts which cache layer answered. */
export function createClientRegistry(ctx: NodeContext, onLookup: (layer: CacheLayer) => void): ClientRegistry {
  const { config, logger } = ctx;
  const gw = config.gateway;
  const keyring = createKeyring(config.master.keys);
  const store = createClientStore({ pg: ctx.pg, keyring });
  const cache = createCredentialCache({
    store,
    redis: ctx.redis,
    mac: credentialCacheMac(keyring),
    namespace: config.namespace,
    ttlMs: gw.authCacheTtlMs,
    negativeTtlMs: gw.throttle.negativeCacheTtlMs,
    negativeMax: gw.throttle.negativeCacheMax,
    logger,
    onLookup,
  });
  const issuer = gw.jwtIssuer || `switchyard:${config.namespace}`;
  const tokens = createTokenService({
    pg: ctx.pg,
    keyring,
    logger,
    issuer,
    ttlSec: gw.tokenTtlSec,
    privateKeyPem: gw.jwtPrivateKey,
    kid: gw.jwtKid,
  });
  let sealing: Promise<void> | undefined;
  async function ready(): Promise<void> {
    sealing ??= (async () => {
      if (config.master.devKey)
        logger.warn(
          "gateway: secrets at rest are sealed with the well-known DEV master key (dev mode, MASTER_KEYS unset)",
        );
      await sealClientSecrets(ctx.pg, keyring, logger);
    })().catch((err: unknown) => {
      sealing = undefined;
      throw err;
    });
    await sealing;
    await tokens.ready();
  }
  return {
    store,
    cache,
    tokens,
    auth: createAuthenticator({ cache, tokens, defaultRate: { perSec: gw.ratePerSec, burst: gw.rateBurst } }),
    limiter: createRateLimiter({
      redis: ctx.redis,
      namespace: config.namespace,
      logger,
      redisDown: gw.throttle.redisDown,
    }),
    admin: clientAdminDeps(ctx, { store, onChange: (c) => cache.apply(c) }),
    ready,
  };
}
