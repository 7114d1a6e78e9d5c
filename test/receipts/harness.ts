/**
 * End-to-end harness for receipts: simulators of the tax and warehouse services on free ports,
 * and real nodes (the lead's startNode: NATS, Postgres, Redis, the actor runtime, the gateway,
 * the receipts domain) in this process or as child processes, all in one fresh namespace.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { loadConfig } from "../../node/config";
import type { RunningNode } from "../../node/start";
import { clientAdminDeps, createClient, type CreatedClient } from "../../services/gateway/clients";
import { startSimulator, type Simulator } from "../../services/receipts/simulator";
import { verifyWebhook } from "../../services/receipts/webhooks";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";

export { freePort } from "../support/ports";
export { startChild, startInProcess, type ChildNode, type InProcessNode } from "../support/node";
export { call, type Answer } from "../support/http";

/** The two simulated services. */
export interface Sims {
  readonly tax: Simulator;
  readonly warehouse: Simulator;
  close(): Promise<void>;
}

/** Starts both simulators (sync, no faults) with `secrets` (default: the dev callback secrets). */
export async function startSims(secrets?: { readonly tax: string; readonly warehouse: string }): Promise<Sims> {
  const config = loadConfig({});
  const logger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const tax = await startSimulator({
    name: "tax",
    port: 0,
    secret: secrets?.tax ?? config.receipts.taxCallbackSecret,
    logger,
  });
  const warehouse = await startSimulator({
    name: "warehouse",
    port: 0,
    secret: secrets?.warehouse ?? config.receipts.warehouseCallbackSecret,
    logger,
  });
  return { tax, warehouse, close: async () => void (await Promise.all([tax.close(), warehouse.close()])) };
}

/** Environment of a receipts node in `ns` talking to `sims`, gateway on `port`. */
export function receiptsEnv(
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
    // tests share their process with the nodes: its stalls (other nodes starting, schema
    // compiles) are not overload; test/receipts/admission.test.ts turns the gate on
    RECEIPT_MAX_LAG_MS: "0",
    ...extra,
  };
}

/** Creates a client in the registry (as an admin would). */
export function makeClient(node: RunningNode, scopes: string[], webhookUrl?: string): Promise<CreatedClient> {
  return createClient(clientAdminDeps(node.ctx), {
    name: `c-${Math.random().toString(36).slice(2, 8)}`,
    scopes,
    ...(webhookUrl ? { webhookUrl } : {}),
  });
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
        const verified =
          secret !== undefined &&
          verifyWebhook(secret, req.headers as Record<string, string>, raw, Date.now()) === null;
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

/**
 * An open-loop load of receipt submissions, spread over several gateways. Every POST carries
 * an Idempotency-Key; a POST that fails (connection refused or reset, 5xx) is retried with the
 * same key on the next gateway, as a careful client would: no loss, no duplicates.
 */
export class ReceiptLoad {
  /** Idempotency-Key → receipt id, for every 202. */
  readonly accepted = new Map<string, string>();
  /** Keys still being retried. */
  readonly pending = new Set<string>();
  readonly errors = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private n = 0;
  private readonly prefix = `load-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly gateways: () => readonly string[],
    private readonly apiKey: string,
    private readonly bodies: readonly { body: string; type: string }[],
  ) {}

  /** Starts submitting `rate` receipts per second. */
  start(rate: number): void {
    const started = Date.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due) {
        sent++;
        const p = this.submit(`${this.prefix}-${this.n++}`);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }, 20);
  }

  /** Stops sending new receipts and waits for the ones in flight (and their retries). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private async submit(key: string): Promise<void> {
    const b = this.bodies[this.n % this.bodies.length]!;
    this.pending.add(key);
    for (let attempt = 0; attempt < 100; attempt++) {
      const gws = this.gateways();
      const gw = gws[(this.n + attempt) % gws.length]!;
      try {
        const res = await fetch(`${gw}/api/v1/receipts`, {
          method: "POST",
          headers: { Authorization: `Bearer ${this.apiKey}`, "Content-Type": b.type, "Idempotency-Key": key },
          body: b.body,
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (res.status === 202) {
          this.accepted.set(key, (JSON.parse(text) as { id: string }).id);
          this.pending.delete(key);
          return;
        }
        this.errors.set(String(res.status), (this.errors.get(String(res.status)) ?? 0) + 1);
        if (res.status < 500 && res.status !== 429) {
          this.pending.delete(key);
          return;
        }
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/** Collects client webhooks (terminal statuses) per receipt id. */
export class TerminalCollector {
  readonly terminal = new Map<string, string>();
  private server: http.Server | null = null;
  url = "";

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { data: { id: string; status: string } };
          this.terminal.set(body.data.id, body.data.status);
        } catch {
          // not ours
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let renumberSeq = 0;

/**
 * `body` (an example receipt, JSON or XML, as text) with receipt number `n` (a positive integer
 * under 2^31, as the fiscal type's order number must be): a receipt's natural identity is
 * (client, type, number), so the same example submitted twice without an Idempotency-Key is one
 * receipt. Tests and benches that want another receipt give it another number.
 */
export function withNumber(body: string, n: number | string): string {
  return body
    .replace(/("receiptNumber"\s*:\s*)"[^"]*"/, `$1"R-${n}"`)
    .replace(/("invoiceNumber"\s*:\s*)"[^"]*"/, `$1"INV-${n}"`)
    .replace(/("orderNum"\s*:\s*)\d+/, `$1${n}`)
    .replace(/<receiptNumber>[^<]*<\/receiptNumber>/, `<receiptNumber>R-${n}</receiptNumber>`)
    .replace(/(<invoice\b[^>]*\bnumber=")[^"]*"/, `$1INV-${n}"`)
    .replace(/<ORDERNUM>\d+<\/ORDERNUM>/, `<ORDERNUM>${n}</ORDERNUM>`);
}

/** `body` with a fresh receipt number (see {@link withNumber}). */
export function renumbered(body: string): string {
  return withNumber(
    body,
    1 + ((Date.now() * 1000 + ++renumberSeq * 7919 + Math.floor(Math.random() * 1000)) % 2_000_000_000),
  );
}
