/**
 * Access helpers for domain services. Every call carries a signed caller assertion that the
 * broker middleware verifies before the action runs (gateway/caller.ts, node/caller-guard.ts);
 * these helpers read only that verified caller, never a bare `ctx.meta` field, which anyone on
 * NATS could forge. Actions use them to require scopes, to admit operators and to keep clients
 * apart. Another client's resource is answered as "not found", never as "forbidden", so a
 * client cannot learn that someone else's id exists.
 */
import { AppError } from "../lib/errors";
import { verifiedCaller, type Caller } from "./caller";
import type { AuthenticatedClient, Scope } from "./routes";

/** Anything with Moleculer-like `meta` (a Context). */
export interface HasMeta {
  readonly meta: unknown;
}

/** The verified caller of `ctx` (any kind), or undefined. */
export function callerOf(ctx: HasMeta): Caller | undefined {
  return verifiedCaller(ctx);
}

/** The client of `ctx`, or undefined when the verified caller is not a gateway client (or there is none). */
export function clientOf(ctx: HasMeta): AuthenticatedClient | undefined {
  const c = verifiedCaller(ctx);
  return c?.kind === "client" ? { id: c.subject, scopes: c.scopes } : undefined;
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

/** What operators and nodes are called in results and logs (`by`, `who`). */
export const OPERATOR = "operator";

/**
 * Admits a verified operator or node (returns {@link OPERATOR}) or a client holding one of
 * `scopes` (returns its id). 401 UNAUTHORIZED without a verified caller or for a public
 * request; 403 FORBIDDEN for a client without the scopes. The one gate of operator surfaces.
 */
export function requireCaller(ctx: HasMeta, scopes: readonly Scope[]): string {
  const c = verifiedCaller(ctx);
  if (!c || c.kind === "public") throw new AppError("UNAUTHORIZED", "authentication required");
  if (c.kind === "operator" || c.kind === "node") return OPERATOR;
  if (scopes.length === 0) throw new AppError("FORBIDDEN", "operators and nodes only");
  if (!scopes.some((s) => c.scopes.includes(s)))
    throw new AppError("FORBIDDEN", `scope ${scopes.join(" or ")} required`);
  return c.subject;
}

/**
 * Internal surfaces no client may reach, not even one with scope admin (e.g. one that answers
 * secrets): a verified operator or node (returns {@link OPERATOR}); 401 as
 * {@link requireCaller}, 403 FORBIDDEN for any client.
 */
export function requireNodeOrOperator(ctx: HasMeta): string {
  return requireCaller(ctx, []);
}

/** Operator surfaces: an operator, a node, or a client with scope admin (see {@link requireCaller}). */
export function requireOperator(ctx: HasMeta): string {
  return requireCaller(ctx, ["admin"]);
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

/** The end user of `ctx` (a verified caller of kind "user"), or undefined. */
export function endUserOf(ctx: HasMeta): Caller | undefined {
  const c = verifiedCaller(ctx);
  return c?.kind === "user" ? c : undefined;
}

/**
 * Keeps an end user to itself: passes for any caller that is not an end user (clients,
 * operators, nodes: their own checks apply) and for an end user whose subject is `entityId` or
 * who holds scope admin; 403 FORBIDDEN for an end user acting as another entity.
 */
export function requireSelf(ctx: HasMeta, entityId: string, what = "entity"): void {
  const u = endUserOf(ctx);
  if (!u || u.subject === entityId || u.scopes.includes("admin")) return;
  throw new AppError("FORBIDDEN", `an end user acts only as itself, not as ${what} ${entityId}`);
}

/** 403 FORBIDDEN for an end user (surfaces for app backends and operators only). */
export function refuseEndUser(ctx: HasMeta, what: string): void {
  if (endUserOf(ctx)) throw new AppError("FORBIDDEN", `${what} is not open to end-user tokens`);
}
