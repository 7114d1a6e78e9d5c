/**
 * End-to-end harness for receipts: simulators of the tax and warehouse services on free ports,
 * and real nodes (the lead's startNode: NATS, Postgres, Redis, the actor runtime, the gateway,
 * the receipts domain) in this process or as child processes, all in one fresh namespace.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../config";
import { startNode, type RunningNode } from "../../node/start";
import { clientAdminDeps, createClient, type CreatedClient } from "../../clients";
import { startSimulator, type Simulator } from "../../simulators";
import { verifyWebhook } from "../../receipts/webhooks";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace, nodeEnv } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The two simulated services. */
export interface Sims {
  readonly tax: Simulator;
  readonly warehouse: Simulator;
  close(): Promise<void>;
}

/** Starts both simulators (sync, no faults) with the dev callback secrets. */
export async function startSims(): Promise<Sims> {
  const config = loadConfig({});
  const logger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const tax = await startSimulator({ name: "tax", port: 0, secret: config.receipts.taxCallbackSecret, logger });
  const warehouse = await startSimulator({ name: "warehouse", port: 0, secret: config.receipts.warehouseCallbackSecret, logger });
  return { tax, warehouse, close: async () => void (await Promise.all([tax.close(), warehouse.close()])) };
}

/** Environment of a receipts node in `ns` talking to `sims`, gateway on `port`. */
export function receiptsEnv(ns: string, nodeId: string, port: number, sims: Sims, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NAMESPACE: ns,
    NODE_ID: nodeId,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime,gateway,receipts",
    ACTOR_PARTITIONS: "4",
    LEASE_TTL_MS: "3000",
    TAX_API_URL: sims.tax.url,
    WAREHOUSE_API_URL: sims.warehouse.url,
    RECEIPT_CALL_TIMEOUT_MS: "2000",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    ...extra,
  };
}

/** A node in this process. */
export interface InProcessNode {
  readonly node: RunningNode;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a node in this process and waits for its gateway and partitions. */
export async function startInProcess(env: Record<string, string>): Promise<InProcessNode> {
  const node = await startNode(loadConfig(env));
  const url = `http://127.0.0.1:${env["PORT"]}`;
  await waitFor("node ready", async () => (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200, 30_000, 100);
  return { node, url, stop: () => node.stop() };
}

/** Starts a node as a child process (so `kill -9` is real); resolves once it is ready. */
export async function startChild(env: Record<string, string>, logName: string): Promise<ChildProcess> {
  const dir = path.join(ROOT, "var", "test-logs");
  mkdirSync(dir, { recursive: true });
  const log = createWriteStream(path.join(dir, `${logName}.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "start.ts")], { cwd: ROOT, env: nodeEnv(env["NAMESPACE"]!, env), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${env["PORT"]}`;
  await waitFor(`node ${logName} ready`, async () => {
    if (child.exitCode !== null) throw new Error(`node ${logName} exited with ${child.exitCode}`);
    return (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200;
  }, 60_000, 200);
  return child;
}

/** Creates a client in the registry (as an admin would). */
export function makeClient(node: RunningNode, scopes: string[], webhookUrl?: string): Promise<CreatedClient> {
  return createClient(clientAdminDeps(node.ctx), { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes, ...(webhookUrl ? { webhookUrl } : {}) });
}

/** A parsed answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
}

/** An HTTP call with an API key. */
export async function call(url: string, apiKey: string | null, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: { ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    redirect: "manual",
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A webhook receiver verifying signatures with each client's secret. */
export class WebhookReceiver {
  readonly got: { clientId: string; id: string; verified: boolean; body: any }[] = [];
  /** Answer with this status (e.g. 500 to force retries). */
  failWith: number | null = null;
  private server: http.Server | null = null;
  private readonly secrets = new Map<string, string>();
  url = "";

  /** Starts listening. */
  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const clientId = (req.url ?? "").split("/").pop() ?? "";
        const secret = this.secrets.get(clientId);
        const verified = secret !== undefined && verifyWebhook(secret, req.headers as Record<string, string>, raw, Date.now()) === null;
        if (this.failWith !== null) {
          res.writeHead(this.failWith).end();
          return;
        }
        this.got.push({ clientId, id: String(req.headers["webhook-id"]), verified, body: JSON.parse(raw) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The URL for a client's webhooks, whose signatures are checked with `secret`. */
  urlFor(clientId: string, secret: string): string {
    this.secrets.set(clientId, secret);
    return `${this.url}/hooks/${clientId}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** Removes everything of `ns`: streams, KV, schema, Redis keys. */
export async function cleanupReceipts(ns: string): Promise<void> {
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}
