/**
 * Access helpers for domain services. The gateway authenticates every request and puts the
 * client in `ctx.meta.client`; actions use these helpers to require scopes and to keep tenants
 * apart. Another client's resource is answered as "not found", never as "forbidden", so a
 * client cannot learn that someone else's id exists.
 */
import { AppError } from "../lib/errors";
import type { AuthenticatedClient, Scope } from "./routes";

/** Anything with Moleculer-like `meta` (a Context). */
export interface HasMeta {
  readonly meta: unknown;
}

/** The client of `ctx`, or undefined when the call did not come through the gateway with credentials. */
export function clientOf(ctx: HasMeta): AuthenticatedClient | undefined {
  const meta = ctx.meta as { client?: AuthenticatedClient } | undefined;
  const c = meta?.client;
  return c && typeof c.id === "string" && Array.isArray(c.scopes) ? c : undefined;
}

/** The client of `ctx`; 401 UNAUTHORIZED when there is none. */
export function requireClient(ctx: HasMeta): AuthenticatedClient {
  const c = clientOf(ctx);
  if (!c) throw new AppError("UNAUTHORIZED", "authentication required");
  return c;
}

/** True when `client` holds `scope`. */
export function hasScope(client: AuthenticatedClient, scope: Scope): boolean {
  return client.scopes.includes(scope);
}

/** The client of `ctx` if it holds `scope`; 401 without a client, 403 FORBIDDEN without the scope. */
export function requireScope(ctx: HasMeta, scope: Scope): AuthenticatedClient {
  const c = requireClient(ctx);
  if (!hasScope(c, scope)) throw new AppError("FORBIDDEN", `scope ${scope} required`);
  return c;
}

/**
 * Passes when the client of `ctx` owns the resource (`ownerId` is its id); otherwise 404
 * NOT_FOUND, exactly as for a resource that does not exist. `ownerId` undefined (no such
 * resource) is also 404.
 */
export function assertOwner(ctx: HasMeta, ownerId: string | undefined | null, what = "resource"): AuthenticatedClient {
  const c = requireClient(ctx);
  if (!ownerId || ownerId !== c.id) throw new AppError("NOT_FOUND", `${what} not found`);
  return c;
}
