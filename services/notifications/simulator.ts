/**
 * Simulators of the three message providers, one HTTP server each, with different APIs:
 *
 *   email  POST /v3/mail/send   {to, subject, html}            202 {messageId}
 *   sms    POST /sms            {to: "+E.164", text}             201 {sid}
 *   push   POST /push/send      {token, notification: {title, body}}  200 {name}
 *
 * Each takes an `Idempotency-Key` (a repeat is answered from the first call and counted in
 * `duplicates`), records what it delivered (`GET /admin/messages`), and has run-time faults
 * through `PUT /admin/config` {outage, latencyMs, errorRate}: an outage answers 503.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { configRoute, listen, readBody, send } from "../../lib/sim-http";
import type { Channel } from "./templates";

/** Faults of a message provider simulator. */
export interface MessageSimConfig {
  readonly outage: boolean;
  readonly latencyMs: number;
  /** Share of calls answered 500 (0..1). */
  readonly errorRate: number;
}

/** One delivered message. */
export interface DeliveredMessage {
  readonly to: string;
  readonly subject: string;
  readonly body: string;
  readonly key: string;
  readonly at: string;
}

/** A running message provider simulator. */
export interface MessageSimulator {
  readonly channel: Channel;
  readonly url: string;
  readonly delivered: readonly DeliveredMessage[];
  readonly counters: { requests: number; outageRefusals: number; duplicates: number };
  setConfig(patch: Partial<MessageSimConfig>): MessageSimConfig;
  close(): Promise<void>;
}

function merge(c: MessageSimConfig, patch: unknown): { config: MessageSimConfig } | { problems: string[] } {
  if (typeof patch !== "object" || patch === null) return { problems: ["a JSON object"] };
  const p: Record<string, unknown> = { ...patch };
  const out = { ...c };
  const problems: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (k === "outage" && typeof v === "boolean") out.outage = v;
    else if (k === "latencyMs" && typeof v === "number" && v >= 0) out.latencyMs = v;
    else if (k === "errorRate" && typeof v === "number" && v >= 0 && v <= 1) out.errorRate = v;
    else problems.push(`${k}: unknown setting or bad value`);
  }
  return problems.length > 0 ? { problems } : { config: out };
}

/** The path and body fields of each channel's API. */
const API: Readonly<
  Record<
    Channel,
    {
      path: string;
      status: number;
      read(b: Record<string, unknown>): { to: unknown; subject: unknown; body: unknown };
      answer(id: string): unknown;
    }
  >
> = {
  email: {
    path: "/v3/mail/send",
    status: 202,
    read: (b) => ({ to: b["to"], subject: b["subject"], body: b["html"] }),
    answer: (id) => ({ messageId: id }),
  },
  sms: {
    path: "/sms",
    status: 201,
    read: (b) => ({ to: b["to"], subject: "", body: b["text"] }),
    answer: (id) => ({ sid: id }),
  },
  push: {
    path: "/push/send",
    status: 200,
    read: (b) => {
      const n: Record<string, unknown> =
        typeof b["notification"] === "object" && b["notification"] !== null ? { ...b["notification"] } : {};
      return { to: b["token"], subject: n["title"], body: n["body"] };
    },
    answer: (id) => ({ name: `projects/sim/messages/${id}` }),
  },
};

/** Starts the simulator of `channel` on host:port (0: a free port). */
export async function startMessageSimulator(opts: {
  channel: Channel;
  host?: string;
  port: number;
  logger: Logger;
  config?: Partial<MessageSimConfig>;
}): Promise<MessageSimulator> {
  const api = API[opts.channel];
  let config: MessageSimConfig = { outage: false, latencyMs: 0, errorRate: 0, ...opts.config };
  const delivered: DeliveredMessage[] = [];
  const answers = new Map<string, unknown>();
  const counters = { requests: 0, outageRefusals: 0, duplicates: 0 };
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    if (url.pathname === "/health") return send(res, 200, { ok: true });
    if (await configRoute(req, res, url, { get: () => config, merge, set: (c) => void (config = c), maxBytes: 4096 }))
      return;
    if (url.pathname === "/admin/messages") return send(res, 200, { messages: delivered, ...counters });
    if (url.pathname !== api.path || req.method !== "POST") return send(res, 404, { error: "no such route" });
    counters.requests++;
    if (config.latencyMs > 0) await new Promise((r) => setTimeout(r, config.latencyMs));
    if (config.outage) {
      counters.outageRefusals++;
      return send(res, 503, { error: "unavailable" });
    }
    if (config.errorRate > 0 && Math.random() < config.errorRate) return send(res, 500, { error: "internal" });
    const key = String(req.headers["idempotency-key"] ?? "");
    const prior = key ? answers.get(key) : undefined;
    if (prior !== undefined) {
      counters.duplicates++;
      return send(res, api.status, prior);
    }
    let b: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8"));
      b = typeof parsed === "object" && parsed !== null ? { ...parsed } : {};
    } catch {
      return send(res, 400, { error: "the body must be JSON" });
    }
    const m = api.read(b);
    if (typeof m.to !== "string" || m.to === "" || typeof m.body !== "string")
      return send(res, 400, { error: "recipient and body are required" });
    delivered.push({
      to: m.to,
      subject: typeof m.subject === "string" ? m.subject : "",
      body: m.body,
      key,
      at: new Date().toISOString(),
    });
    const answer = api.answer(randomBytes(8).toString("hex"));
    if (key) answers.set(key, answer);
    send(res, api.status, answer);
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.logger.warn({ err: String(err), sim: opts.channel }, "message simulator failed a request");
      send(res, 500, { error: "internal" });
    });
  });
  const host = opts.host ?? "127.0.0.1";
  const l = await listen(server, opts.port, host);
  return {
    channel: opts.channel,
    url: `http://${host}:${l.port}`,
    delivered,
    counters,
    setConfig(patch) {
      const r = merge(config, patch);
      if ("problems" in r) throw new Error(r.problems.join("; "));
      config = r.config;
      return config;
    },
    close: () => l.close(),
  };
}
