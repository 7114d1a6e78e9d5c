/**
 * A simulated external registration service (tax or warehouse), speaking the registration
 * protocol the platform's jobs use:
 *
 *   POST /registrations  (Idempotency-Key: <receipt id>)
 *        {"receiptId","type","issuedAt","total","currency","callbackUrl","document"}
 *     201 {"registrationId"}             registered (sync mode, or a repeat of a settled key)
 *     202 {"status":"pending"}            accepted; later a signed POST to callbackUrl with
 *                                         {"receiptId","status":"registered","registrationId"}
 *                                         or {"receiptId","status":"rejected","reason"}
 *     422 {"reason"}                      business rejection (final)
 *     5xx / 429 / no answer               try again later
 *
 * plus an admin API: GET/PUT /admin/config, GET /admin/registrations[?receiptId=],
 * POST /admin/reset, GET /health. Faults (latency, errors, timeouts, rejections, outages,
 * duplicate, early, late and lost callbacks) are drawn per request from the configuration.
 */
import { httpRequest } from "../../lib/http-client";
import { configRoute, draw, listen, readBody, send } from "../../lib/sim-http";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { signWebhook } from "./webhooks";
import { DEFAULT_SIM_CONFIG, mergeSimConfig, type SimConfig } from "./simulator-config";
import { RegistrationBook, type Registration } from "./simulator-book";

/** How to start one simulator. */
export interface SimulatorOptions {
  /** "tax" or "warehouse" (used in registration ids and logs). */
  readonly name: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Standard Webhooks secret (`whsec_...`) callbacks are signed with. */
  readonly secret: string;
  readonly config?: Partial<SimConfig>;
  readonly logger: Logger;
  /** Injectable randomness (tests). */
  readonly random?: () => number;
}

/** Counters besides the registration book. */
export interface SimCounters {
  requests: number;
  errors: number;
  timeouts: number;
  outageRefusals: number;
  badRequests: number;
  callbacksSent: number;
  callbacksFailed: number;
  callbacksDropped: number;
}

/** A running simulator. */
export interface Simulator {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly book: RegistrationBook;
  readonly counters: SimCounters;
  config(): SimConfig;
  setConfig(patch: Partial<SimConfig>): SimConfig;
  reset(): void;
  close(): Promise<void>;
}

const MAX_BODY = 2 * 1024 * 1024;

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** Fields every registration request must carry. */
interface RegistrationRequest {
  readonly receiptId: string;
  readonly type: string;
  readonly issuedAt: string;
  readonly total: number;
  readonly currency: string;
  readonly callbackUrl: string;
  readonly document: unknown;
}

function checkRequest(body: unknown): RegistrationRequest | string {
  if (typeof body !== "object" || body === null) return "the body must be a JSON object";
  const { receiptId, type, issuedAt, currency, callbackUrl, total, document }: Readonly<Record<string, unknown>> = {
    ...body,
  };
  const nonEmpty = (v: unknown): v is string => typeof v === "string" && v !== "";
  if (!nonEmpty(receiptId)) return "receiptId must be a non-empty string";
  if (!nonEmpty(type)) return "type must be a non-empty string";
  if (!nonEmpty(issuedAt)) return "issuedAt must be a non-empty string";
  if (!nonEmpty(currency)) return "currency must be a non-empty string";
  if (!nonEmpty(callbackUrl)) return "callbackUrl must be a non-empty string";
  if (typeof total !== "number") return "total must be a number";
  if (typeof document !== "object" || document === null) return "document must be an object";
  return { receiptId, type, issuedAt, total, currency, callbackUrl, document };
}

/** Starts a simulator; resolves once it listens. */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const random = opts.random ?? Math.random;
  const log = opts.logger.child({ sim: opts.name });
  const initial: SimConfig = { ...DEFAULT_SIM_CONFIG, ...opts.config };
  let config: SimConfig = initial;
  const book = new RegistrationBook(opts.name.toUpperCase().slice(0, 3));
  const counters: SimCounters = {
    requests: 0,
    errors: 0,
    timeouts: 0,
    outageRefusals: 0,
    badRequests: 0,
    callbacksSent: 0,
    callbacksFailed: 0,
    callbacksDropped: 0,
  };
  const hanging = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  /** POSTs one signed callback, retrying a few times on failure (as real providers do). */
  async function deliver(url: string, payload: Record<string, unknown>, webhookId: string): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= 6 && !closed; attempt++) {
      try {
        const headers = signWebhook(opts.secret, webhookId, body, Date.now());
        const res = await httpRequest(url, {
          method: "POST",
          body,
          headers: { "Content-Type": "application/json", ...headers },
          signal: AbortSignal.timeout(5000),
        });
        if (res.status >= 200 && res.status < 300) {
          counters.callbacksSent++;
          return;
        }
        // a 4xx other than 408/429 will not get better
        if (res.status < 500 && res.status !== 408 && res.status !== 429) {
          counters.callbacksFailed++;
          log.warn({ url, status: res.status, receiptId: payload["receiptId"] }, "callback refused");
          return;
        }
      } catch {
        // retry below
      }
      await sleep(Math.min(5000, 100 * 2 ** attempt));
    }
    counters.callbacksFailed++;
  }

  /** Sends the callback(s) for `reg` as configured (delay, drop, duplicate, late). */
  function scheduleCallback(reg: Registration, callbackUrl: string, delayMs: number): void {
    const c = config;
    if (random() < c.dropCallbackRate) {
      counters.callbacksDropped++;
      return;
    }
    const payload =
      reg.status === "rejected"
        ? { receiptId: reg.receiptId, status: "rejected", reason: reg.reason }
        : { receiptId: reg.receiptId, status: "registered", registrationId: reg.registrationId };
    const extra = random() < c.lateCallbackRate ? Math.floor(random() * c.lateCallbackMs) : 0;
    const duplicate = random() < c.duplicateCallbackRate;
    later(delayMs + extra, () => {
      void deliver(callbackUrl, payload, `msg_${randomUUID()}`);
      if (duplicate) later(Math.floor(random() * 200), () => void deliver(callbackUrl, payload, `msg_${randomUUID()}`));
    });
  }

  /** `text`: the request body as received (the document is in it; no need to serialise it again). */
  function decideRejection(text: string): string | null {
    const c = config;
    if (c.rejectMarker !== null && text.includes(c.rejectMarker)) return `document contains ${c.rejectMarker}`;
    if (random() < c.rejectRate) return `${opts.name} service refused the receipt (simulated)`;
    return null;
  }

  async function registration(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests++;
    const c = config;
    if (c.outage) {
      counters.outageRefusals++;
      if (c.outageMode === "reset") {
        req.socket.destroy();
        return;
      }
      return send(res, 503, { reason: `${opts.name} service is down (simulated outage)` }, { "Retry-After": "1" });
    }
    const key = req.headers["idempotency-key"];
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY);
    } catch {
      counters.badRequests++;
      return send(res, 413, { reason: "body too large" });
    }
    if (typeof key !== "string" || key === "") {
      counters.badRequests++;
      return send(res, 400, { reason: "Idempotency-Key header is required" });
    }
    const text = raw.toString("utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      counters.badRequests++;
      return send(res, 400, { reason: "the body is not JSON" });
    }
    const body = checkRequest(parsed);
    if (typeof body === "string") {
      counters.badRequests++;
      return send(res, 400, { reason: body });
    }
    await sleep(draw(c.latencyMs, random));
    if (random() < c.errorRate) {
      counters.errors++;
      const status = [503, 500, 429][Math.floor(random() * 3)] ?? 503;
      return send(res, status, { reason: "simulated failure" });
    }
    // A repeat of a known key answers what the first call decided, without registering again.
    const existing = book.repeat(key);
    if (existing) {
      if (existing.status === "registered") return send(res, 201, { registrationId: existing.registrationId });
      if (existing.status === "rejected") return send(res, 422, { reason: existing.reason });
      return send(res, 202, { status: "pending" });
    }
    const reason = decideRejection(text);
    const timeout = random() < c.timeoutRate;
    let reg: Registration;
    if (c.mode === "sync") {
      reg = book.create(key, body.receiptId, reason ? "rejected" : "registered", reason, Date.now());
    } else {
      reg = book.create(key, body.receiptId, "pending", null, Date.now());
      const delay = draw(c.callbackDelayMs, random);
      // settle when the callback is due, whether or not it is delivered
      later(delay, () => book.settle(reg, reason ? "rejected" : "registered"));
      const settled: Registration = { ...reg, status: reason ? "rejected" : "registered", reason };
      if (random() < c.earlyCallbackRate && !timeout) {
        book.settle(reg, settled.status as "registered" | "rejected");
        await deliver(
          body.callbackUrl,
          settled.status === "rejected"
            ? { receiptId: reg.receiptId, status: "rejected", reason }
            : { receiptId: reg.receiptId, status: "registered", registrationId: reg.registrationId },
          `msg_${randomUUID()}`,
        );
      } else {
        scheduleCallback(settled, body.callbackUrl, delay);
      }
    }
    if (timeout) {
      // processed, but the answer never comes: the caller's retry must reuse the key
      counters.timeouts++;
      hanging.add(res);
      res.once("close", () => hanging.delete(res));
      return;
    }
    // registered: the answer may take a while (the caller may die before it comes)
    const answerDelay = draw(c.answerDelayMs, random);
    if (answerDelay > 0) await sleep(answerDelay);
    if (c.mode === "async") return send(res, 202, { status: "pending" });
    if (reg.status === "rejected") return send(res, 422, { reason: reg.reason });
    return send(res, 201, { registrationId: reg.registrationId });
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const set = (next: typeof config): void => {
      config = next;
      log.info({ config }, "configuration changed");
    };
    if (await configRoute(req, res, url, { get: () => config, merge: mergeSimConfig, set, maxBytes: MAX_BODY })) return;
    if (url.pathname === "/admin/registrations" && req.method === "GET") {
      const receiptId = url.searchParams.get("receiptId");
      if (receiptId)
        return send(res, 200, {
          receiptId,
          ...(book.counts(receiptId) ?? { registrations: 0, duplicateCalls: 0, status: null, registrationId: null }),
        });
      const summary = book.summary();
      return send(res, 200, {
        service: opts.name,
        ...summary,
        counters,
        ...(url.searchParams.get("summary") === "1" ? {} : { byReceipt: book.all() }),
      });
    }
    if (url.pathname === "/admin/reset" && req.method === "POST") {
      sim.reset();
      return send(res, 200, { reset: true, config });
    }
    return send(res, 404, { error: "no such admin route" });
  }

  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const url = new URL(req.url ?? "/", "http://sim");
    const done = (p: Promise<void>): void => {
      p.catch((err: unknown) => {
        log.error({ err: (err as Error).message }, "simulator request failed");
        send(res, 500, { reason: "simulator error" });
      });
    };
    if (url.pathname === "/registrations" && req.method === "POST") return done(registration(req, res));
    if (url.pathname.startsWith("/admin/")) return done(admin(req, res, url));
    if (url.pathname === "/health") return send(res, 200, { status: "ok", service: opts.name });
    send(res, 404, { reason: "not found" });
  });
  const listening = await listen(server, opts.port, opts.host ?? "127.0.0.1");
  const port = listening.port;
  const sim: Simulator = {
    name: opts.name,
    url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
    port,
    book,
    counters,
    config: () => config,
    setConfig(patch) {
      const r = mergeSimConfig(config, patch);
      if ("problems" in r) throw new Error(r.problems.join("; "));
      config = r.config;
      return config;
    },
    reset() {
      book.reset();
      for (const k of Object.keys(counters) as (keyof SimCounters)[]) counters[k] = 0;
      config = initial;
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of hanging) r.destroy();
      await listening.close();
    },
  };
  log.info({ url: sim.url, mode: config.mode }, "simulator listening");
  return sim;
}
