/**
 * Rewards test harness: nodes (child processes running bin/start.ts, so `kill -9` is real) of
 * the runtime, the gateway and the rewards domain in one fresh namespace, clients of the
 * gateway, and JSON calls over HTTP.
 */
import { cleanupNamespace, DATABASE_URL, NATS_URL, REDIS_URL } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { call, type Answer } from "../support/http";
import { DEV_MASTER_KEY } from "../../config";
import { createKeyring } from "../../lib/sealed";
import { createPool } from "../../db";
import { createClient, createClientStore, type CreatedClient } from "../../services/gateway/clients";

export { freePort } from "../support/ports";
export { startChild, type ChildNode } from "../support/node";
export type { Answer };

/** Creates a gateway client with `scopes` straight in the registry of `ns` (nodes run with the dev master key). */
export async function makeClientIn(ns: string, scopes: string[]): Promise<CreatedClient> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    return await createClient(
      { store: createClientStore({ pg, keyring: createKeyring([DEV_MASTER_KEY]) }), namespace: ns },
      { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes, rateLimit: { perSec: 100_000, burst: 100_000 } },
    );
  } finally {
    await pg.end();
  }
}

/** Environment of a rewards node `nodeId` in `ns` with its gateway on `port`. */
export function rewardsEnv(
  ns: string,
  nodeId: string,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NAMESPACE: ns,
    NODE_ID: nodeId,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime,gateway,rewards",
    ACTOR_PARTITIONS: "8",
    LEASE_TTL_MS: "3000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    REWARDS_CHECK_INTERVAL_MS: "0",
    ...extra,
  };
}

/** A JSON call: `body` is sent as JSON when given. */
export function json(url: string, apiKey: string | null, method: string, body?: unknown): Promise<Answer> {
  return call(url, apiKey, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
  });
}

/** Removes the namespace's streams, buckets, schema and Redis keys. */
export async function cleanupRewards(ns: string): Promise<void> {
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}
