/**
 * Events test harness: real nodes in this process (NATS, Postgres, Redis, runtime, gateway and
 * the events domain) in one fresh namespace, clients with scopes, HTTP calls, and direct views
 * of the store and the streams.
 */
import type { ServiceSchema } from "moleculer";
import { loadConfig } from "../../node/config";
import { startNode, type RunningNode } from "../../node/start";
import { clientAdminDeps, createClient } from "../../services/gateway/clients";
import { connectNats, isJsApiError, JetStreamApiCodes, type NatsHandles } from "../../nats";
import { eventNames, type EventNames } from "../../services/tenant-events/streams";
import type { FeedEvent } from "../../services/tenant-events/model";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { cleanupRedis } from "../gateway/harness";
import { call, type Answer } from "../support/http";

export { call, type Answer };

/** A test data key (base64 of 32 bytes) and a second one for rotation. */
export const KEY1 = Buffer.alloc(32, 7).toString("base64");
export const KEY2 = Buffer.alloc(32, 9).toString("base64");

/** A node in this process with its gateway URL. */
export interface EventsNode {
  readonly node: RunningNode;
  readonly url: string;
  stop(): Promise<void>;
}

/** Environment of an events node in `ns`. */
export function eventsEnv(
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
    SERVICES: "runtime,gateway,tenant-events",
    ACTOR_PARTITIONS: "2",
    LEASE_TTL_MS: "3000",
    EVENTS_PARTITIONS: "4",
    EVENTS_DISCOVER_MS: "200",
    EVENTS_ALARM_CHECK_MS: "500",
    EVENTS_DATA_KEYS: `k1:${KEY1}`,
    EVENTS_DATA_KEY_ID: "k1",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    ...extra,
  };
}

/** Starts an events node in this process and waits until it is ready. */
export async function startEventsNode(
  ns: string,
  nodeId: string,
  extra: Record<string, string> = {},
  services: ServiceSchema[] = [],
): Promise<EventsNode> {
  const port = await freePort();
  const node = await startNode(loadConfig(eventsEnv(ns, nodeId, port, extra)));
  for (const s of services) node.broker.createService(s);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `node ${nodeId} ready`,
      async () => (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );
  } catch (err) {
    await node.stop();
    throw err;
  }
  return { node, url, stop: () => node.stop() };
}

/** A client with its API key. */
export interface TestClient {
  readonly id: string;
  readonly key: string;
}

/** Creates a client in the registry (as an admin would). */
export async function makeClient(node: RunningNode, scopes: string[]): Promise<TestClient> {
  const c = await createClient(clientAdminDeps(node.ctx), {
    name: `c-${Math.random().toString(36).slice(2, 8)}`,
    scopes,
  });
  return { id: c.client.id, key: c.apiKey };
}

/** POSTs JSON. */
export function postJson(url: string, key: string, body: unknown): Promise<Answer> {
  return call(url, key, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
  });
}

/** A direct NATS connection of the test (plain producer and feed reader). */
export async function testNats(ns: string): Promise<{ h: NatsHandles; names: EventNames }> {
  return { h: await connectNats(NATS_URL, `events-test-${ns}`), names: eventNames(ns) };
}

/** Every message of `tenant`'s push feed, in stream order (direct gets by subject). */
export async function readFeed(h: NatsHandles, names: EventNames, tenant: string): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  let seq = 1;
  for (;;) {
    let m;
    try {
      // next_by_subj (server 2.9+) is missing from the client typings of MsgRequest.
      m = await h.jsm.streams.getMessage(names.outStream, {
        seq,
        next_by_subj: names.outSubject(tenant),
      } as unknown as { seq: number });
    } catch (err) {
      if (isJsApiError(err, JetStreamApiCodes.NoMessageFound)) break;
      throw err;
    }
    if (!m) break;
    out.push(m.json<FeedEvent>());
    seq = m.seq + 1;
  }
  return out;
}

/** Removes everything of `ns`. */
export async function cleanupEvents(ns: string): Promise<void> {
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}
