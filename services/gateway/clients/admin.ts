/**
 * Client administration as plain async functions: the CLI (bin/clients.ts), the REPL and the
 * admin HTTP routes all call these. Every change invalidates the shared Redis cache and
 * publishes a change notice so that every gateway node stops (or starts) accepting the
 * client's credentials within moments. A create publishes one too, naming the new key, so no
 * node keeps it in its cache of unknown ids.
 */
import type { Redis } from "ioredis";
import type { NatsConnection } from "../../../nats";
import type { Logger } from "../../../lib/logger";
import { createKeyring } from "../../../lib/sealed";
import { AppError } from "../../../lib/errors";
import { topology } from "../../../streams/subjects";
import type { NodeContext } from "../../../node/context";
import { invalidateRedis } from "./cache";
import { publishClientChange, type ClientChange } from "./notices";
import { createClientStore, type ClientStore } from "./store";
import { CLIENT_ID_PATTERN, parseApiKey } from "./keys";
import {
  checkNewClient,
  type ClientPage,
  type ClientWebhook,
  type ClientRecord,
  type ClientStatus,
  type CreatedClient,
  type NewClientInput,
  type RotatedKey,
} from "./types";
import { STRICT_EGRESS, type EgressPolicy } from "../../../lib/egress";

/** What the admin functions need. Without `redis`/`nc`, caches expire on their own (TTL). */
export interface ClientAdminDeps {
  readonly store: ClientStore;
  readonly namespace: string;
  readonly redis?: Redis;
  readonly nc?: NatsConnection;
  readonly logger?: Logger;
  /** Called with every change (the local node applies it to its cache at once). */
  readonly onChange?: (change: ClientChange) => void;
  /** Key overlap on rotation when the caller gives none (seconds). */
  readonly defaultOverlapSec?: number;
  /** Destinations a client's webhook URL may name (config.egress; default: public ones only). */
  readonly egress?: EgressPolicy;
}

/** Admin deps from a node context (the REPL uses this). */
export function clientAdminDeps(
  ctx: Pick<NodeContext, "pg" | "redis" | "nats" | "config" | "logger">,
  extra: Partial<ClientAdminDeps> = {},
): ClientAdminDeps {
  return {
    store: createClientStore({ pg: ctx.pg, keyring: createKeyring(ctx.config.master.keys) }),
    namespace: ctx.config.namespace,
    redis: ctx.redis,
    nc: ctx.nats.nc,
    logger: ctx.logger,
    defaultOverlapSec: ctx.config.gateway.rotateOverlapSec,
    egress: ctx.config.egress.policy,
    ...extra,
  };
}

async function announce(deps: ClientAdminDeps, change: ClientChange): Promise<void> {
  if (deps.redis) {
    const keyIds = await deps.store.keyIdsOf(change.clientId);
    await invalidateRedis(deps.redis, deps.namespace, change.clientId, keyIds).catch((err: unknown) => {
      deps.logger?.warn(
        { err: (err as Error).message, clientId: change.clientId },
        "could not invalidate cached credentials in redis",
      );
    });
  }
  await notify(deps, change);
}

/** Applies `change` here and tells every gateway node. */
async function notify(deps: ClientAdminDeps, change: ClientChange): Promise<void> {
  deps.onChange?.(change);
  if (deps.nc) {
    await publishClientChange(deps.nc, topology(deps.namespace).gateway.clientChanges, change).catch((err: unknown) => {
      // The gateways' cache TTL still applies the change within seconds.
      deps.logger?.warn(
        { err: (err as Error).message, clientId: change.clientId },
        "could not publish client change notice",
      );
    });
  }
}

function checkId(id: string): void {
  if (typeof id !== "string" || !CLIENT_ID_PATTERN.test(id)) throw new AppError("NOT_FOUND", "client not found");
}

/**
 * Creates a client; the API key and webhook secret are in the result and nowhere else. 422
 * when the input is invalid, its webhook URL's destination included (see {@link checkNewClient}).
 */
export async function createClient(deps: ClientAdminDeps, input: NewClientInput): Promise<CreatedClient> {
  const created = await deps.store.create(checkNewClient(input, deps.egress ?? STRICT_EGRESS));
  // Nothing is cached for a new client; only "unknown" marks could be, and this clears them.
  const keyId = parseApiKey(created.apiKey)?.keyId;
  await notify(deps, { clientId: created.client.id, version: 0, keys: false, ...(keyId ? { keyIds: [keyId] } : {}) });
  return created;
}

/** Lists clients by id, a page at a time. */
export async function listClients(
  deps: ClientAdminDeps,
  opts: { limit?: number; after?: string; status?: ClientStatus } = {},
): Promise<ClientPage> {
  return deps.store.list(opts);
}

/** One client; 404 NOT_FOUND when there is none. */
export async function getClient(deps: ClientAdminDeps, id: string): Promise<ClientRecord> {
  checkId(id);
  const c = await deps.store.get(id);
  if (!c) throw new AppError("NOT_FOUND", "client not found");
  return c;
}

/**
 * Where and with which (unsealed) secret to send a client's webhooks; null for an unknown client
 * or an id that is not a client id. Throws SealedError when the stored secret does not open.
 */
export async function getClientWebhook(
  deps: Pick<ClientAdminDeps, "store">,
  id: string,
): Promise<ClientWebhook | null> {
  if (!CLIENT_ID_PATTERN.test(id)) return null;
  return (await deps.store.webhookOf(id)) ?? null;
}

async function setStatus(deps: ClientAdminDeps, id: string, status: ClientStatus): Promise<ClientRecord> {
  checkId(id);
  const r = await deps.store.setStatus(id, status);
  if (!r) throw new AppError("NOT_FOUND", "client not found");
  await announce(deps, { clientId: id, version: r.version, keys: false, status });
  return r.client;
}

/** Suspends a client: every gateway refuses its keys and tokens within seconds. */
export function suspendClient(deps: ClientAdminDeps, id: string): Promise<ClientRecord> {
  return setStatus(deps, id, "suspended");
}

/** Re-activates a suspended client. */
export function activateClient(deps: ClientAdminDeps, id: string): Promise<ClientRecord> {
  return setStatus(deps, id, "active");
}

/**
 * Issues a new API key; the client's other keys keep working for `overlapSec` (default from
 * config, 24 h), then stop. `overlapSec: 0` revokes them at once.
 */
export async function rotateClientKey(
  deps: ClientAdminDeps,
  id: string,
  opts: { overlapSec?: number } = {},
): Promise<RotatedKey> {
  checkId(id);
  const overlap = opts.overlapSec ?? deps.defaultOverlapSec ?? 86_400;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > 30 * 86_400) {
    throw new AppError("VALIDATION_ERROR", "overlap must be 0 to 2592000 seconds", [
      { path: "/overlapSeconds", message: "out of range" },
    ]);
  }
  const r = await deps.store.rotate(id, overlap);
  if (!r) throw new AppError("NOT_FOUND", "client not found");
  const keyId = parseApiKey(r.rotated.apiKey)?.keyId;
  await announce(deps, { clientId: id, version: r.version, keys: true, ...(keyId ? { keyIds: [keyId] } : {}) });
  return r.rotated;
}
