/**
 * Supporters test harness: the user and ERP simulators in this process on free ports, real
 * nodes (startNode: NATS, Postgres, Redis, the actor runtime, the gateway, the supporters
 * domain) in this process, all in one fresh namespace, plus producers of the three kinds:
 * HTTP (API key), NATS request/reply and JetStream publish.
 */
import http from "node:http";
import pino from "pino";
import { DEV_MASTER_KEY } from "../../config";
import { DEV_SUPPORTER_SECRETS } from "../../services/supporters/config";
import { createKeyring } from "../../lib/sealed";
import type { RunningNode } from "../../node/start";
import { clientAdminDeps, createClient, createClientStore, type CreatedClient } from "../../services/gateway/clients";
import { createPool } from "../../db";
import { startSupporterSimulator, type SupporterSimulator } from "../../services/supporters/simulator";
import { connectNats, type NatsHandles } from "../../nats";
import { supporterNames, type SupporterNames } from "../../services/supporters/streams";
import { identityHash, normaliseEmail } from "../../services/supporters/identity";
import type { IntakeReply } from "../../services/supporters/intake";
import type { SupporterPayload } from "../../services/supporters/schema";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { recordResponse } from "../support/openapi-recorder";

export { freePort } from "../support/ports";
export { startChild, startInProcess, type ChildNode, type InProcessNode } from "../support/node";

/** The simulated user and ERP services. */
export interface Sims {
  readonly user: SupporterSimulator;
  readonly erp: SupporterSimulator;
  close(): Promise<void>;
}

/** Starts both simulators (no faults). */
export async function startSims(): Promise<Sims> {
  const logger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const user = await startSupporterSimulator({ service: "user", port: 0, logger });
  const erp = await startSupporterSimulator({ service: "erp", port: 0, logger });
  return { user, erp, close: async () => void (await Promise.all([user.close(), erp.close()])) };
}

/** Environment of a supporters node in `ns` talking to `sims`, gateway on `port`. */
export function supportersEnv(
  ns: string,
  nodeId: string,
  port: number,
  sims: Sims,
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
    SERVICES: "runtime,gateway,supporters",
    ACTOR_PARTITIONS: "8",
    LEASE_TTL_MS: "3000",
    USER_SERVICE_URL: sims.user.url,
    ERP_SERVICE_URL: sims.erp.url,
    SUPPORTERS_CALL_TIMEOUT_MS: "2000",
    SUPPORTERS_PUMP_LEASE_MS: "3000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    ...extra,
  };
}

/** Creates a client with `scopes` (as an admin would). */
export function makeClient(node: RunningNode, scopes: string[]): Promise<CreatedClient> {
  return createClient(clientAdminDeps(node.ctx), {
    name: `c-${Math.random().toString(36).slice(2, 8)}`,
    scopes,
    rateLimit: { perSec: 100_000, burst: 100_000 },
  });
}

/** Creates a client straight in the registry of `ns` (nodes may be child processes). */
export async function makeClientIn(ns: string, scopes: string[]): Promise<CreatedClient> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    // Nodes of these tests run with the dev master key.
    const keyring = createKeyring([DEV_MASTER_KEY]);
    return await createClient(
      { store: createClientStore({ pg, keyring }), namespace: ns },
      { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes, rateLimit: { perSec: 100_000, burst: 100_000 } },
    );
  } finally {
    await pg.end();
  }
}

/** A parsed answer. */
export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: any;
}

/** One keep-alive connection pool for every test request (as a real producer would keep). */
// Bounded like a real producer's pool: requests beyond it wait for a connection (counted in their latency).
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** An HTTP call with an API key (node:http with a keep-alive pool; loopback only). */
export function call(
  url: string,
  apiKey: string | null,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const u = new URL(url);
  const headers: Record<string, string | number> = {
    ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
    ...(init.body !== undefined
      ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(init.body) }
      : {}),
    ...init.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: init.method ?? "GET",
        agent,
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          if (res.headers["x-request-id"])
            recordResponse({
              method: init.method ?? "GET",
              target: `${u.pathname}${u.search}`,
              status: res.statusCode ?? 0,
              contentType: res.headers["content-type"] ?? "",
              body: text,
            });
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(init.body);
  });
}

/** The email of test supporter `i` (with some case and spaces: normalisation must absorb them). */
export function emailOf(i: number, variant = 0): string {
  const base = `supporter.${i}@Example.ORG`;
  return variant % 3 === 0 ? base : variant % 3 === 1 ? `  ${base.toLowerCase()} ` : base.toUpperCase();
}

/** The hash Switchyard must answer for test supporter `i` (dev pepper). */
export function expectedHash(i: number): string {
  return identityHash({ email: normaliseEmail(emailOf(i)) }, DEV_SUPPORTER_SECRETS.pepper);
}

/** Message `k` of supporter `i`, from `source`. */
export function payloadOf(i: number, k: number, source: SupporterPayload["source"]): SupporterPayload {
  return {
    source,
    messageId: `s${i}-m${k}`,
    identity: {
      email: emailOf(i, k),
      firstName: `First${i}`,
      lastName: `Last${i}`,
      phone: `07700 9${String(i % 100000).padStart(5, "0")}`,
    },
    events: [
      {
        type: "test.event",
        occurredAt: new Date(1_700_000_000_000 + k * 1000).toISOString(),
        data: { k, supporter: i },
      },
    ],
  };
}

/** A producer of the three kinds on its own NATS connection. */
export class Producers {
  readonly names: SupporterNames;
  private constructor(
    readonly h: NatsHandles,
    ns: string,
  ) {
    this.names = supporterNames(ns);
  }

  static async connect(ns: string): Promise<Producers> {
    return new Producers(await connectNats(NATS_URL, `producer-${ns}`), ns);
  }

  /** NATS request/reply: the reply (hash or error). */
  async request(source: string, payload: unknown, timeoutMs = 10_000): Promise<IntakeReply> {
    const body = typeof payload === "string" ? payload : JSON.stringify(payload);
    const m = await this.h.nc.request(this.names.reqSubject(source), body, { timeout: timeoutMs });
    return m.json<IntakeReply>();
  }

  /** JetStream publish to the capture subject: resolves with the publish ack. */
  async publish(source: string, payload: unknown, msgId?: string): Promise<{ seq: number; duplicate: boolean }> {
    const body = typeof payload === "string" ? payload : JSON.stringify(payload);
    const ack = await this.h.js.publish(this.names.inSubject(source), body, msgId ? { msgID: msgId } : {});
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  async close(): Promise<void> {
    await this.h.nc.close().catch(() => undefined);
  }
}

/** Removes everything of `ns`: streams, KV, schema, Redis keys. */
export async function cleanupSupporters(ns: string): Promise<void> {
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}
