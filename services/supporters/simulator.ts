/**
 * Simulators of the user service and the ERP service that supporter events propagate to:
 *
 *   user:  PUT    /users/{hash}               {hash, messageId, source, receivedAt, identity}  200 {userId}
 *          DELETE /users/{hash}               erase (right to be forgotten)                    204 | 404
 *   erp:   POST   /supporters/{hash}/events   {hash, messageId, source, receivedAt, events}    201 {ref}
 *
 * Every call needs an `Idempotency-Key`; a repeat of a key that was delivered answers as the
 * first time and counts as a duplicate (never as a second delivery). Faults are settable at run
 * time through `PUT /admin/config`: latency, error rate (503/500/429), timeouts (processed, no
 * answer: the caller's retry must be absorbed), rejections (422, by rate or by a marker in the
 * body), outages (503 or connection reset). Each simulator records, per supporter, the messages
 * it received in order (with a process-wide order number shared by both simulators, so a test
 * can check step 1 before step 2), and the user simulator keeps each supporter's latest identity
 * (to show erasure). Admin API: GET/PUT /admin/config, GET /admin/summary,
 * GET /admin/supporters?hash=, POST /admin/reset, GET /health.
 */
import { configRoute, draw, listen, readBody, send, type MsRange } from "../../lib/sim-http";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import { isRecord } from "./model";

/** What a supporter simulator does. */
export interface SupporterSimConfig {
  readonly latencyMs: MsRange;
  /** Answer 503, 500 or 429 without doing anything. */
  readonly errorRate: number;
  /** Record the delivery, then never answer (the caller times out and retries with the same key). */
  readonly timeoutRate: number;
  /** Refuse with 422. */
  readonly rejectRate: number;
  /** Refuse with 422 every call whose body contains this text (null: none). */
  readonly rejectMarker: string | null;
  /** Down: every call fails at once. */
  readonly outage: boolean;
  readonly outageMode: "503" | "reset";
}

/** Defaults: fast, no faults, refuses bodies containing "SIM-REJECT". */
export const DEFAULT_SUPPORTER_SIM_CONFIG: SupporterSimConfig = {
  latencyMs: { min: 0, max: 0 },
  errorRate: 0,
  timeoutRate: 0,
  rejectRate: 0,
  rejectMarker: "SIM-REJECT",
  outage: false,
  outageMode: "503",
};

/** Applies a partial update; returns the new configuration or one problem per line. */
export function mergeSupporterSimConfig(
  current: SupporterSimConfig,
  patch: unknown,
): { config: SupporterSimConfig } | { problems: string[] } {
  if (!isRecord(patch) || Array.isArray(patch)) return { problems: ["the body must be a JSON object"] };
  const problems: string[] = [];
  const next: { -readonly [K in keyof SupporterSimConfig]: SupporterSimConfig[K] } = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (k === "errorRate" || k === "timeoutRate" || k === "rejectRate") {
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) problems.push(`${k} must be a number from 0 to 1`);
      else next[k] = v;
    } else if (k === "latencyMs") {
      const min = isRecord(v) ? v["min"] : undefined;
      const max = isRecord(v) ? v["max"] : undefined;
      if (
        typeof min !== "number" ||
        typeof max !== "number" ||
        !Number.isInteger(min) ||
        !Number.isInteger(max) ||
        min < 0 ||
        max < min ||
        max > 600_000
      ) {
        problems.push("latencyMs must be {min, max}: integers, 0 <= min <= max <= 600000");
      } else next[k] = { min, max };
    } else if (k === "outage") {
      if (typeof v !== "boolean") problems.push("outage must be true or false");
      else next[k] = v;
    } else if (k === "outageMode") {
      if (v !== "503" && v !== "reset") problems.push("outageMode must be 503 or reset");
      else next[k] = v;
    } else if (k === "rejectMarker") {
      if (v !== null && (typeof v !== "string" || v.length === 0 || v.length > 200))
        problems.push("rejectMarker must be null or 1-200 characters");
      else next[k] = v;
    } else problems.push(`unknown setting ${JSON.stringify(k)}`);
  }
  return problems.length > 0 ? { problems } : { config: next };
}

/** Process-wide order of first deliveries across both simulators. */
let globalOrder = 0;

/** One first delivery of a message. */
export interface Delivery {
  readonly messageId: string;
  readonly key: string;
  /** Process-wide order (compare user and ERP deliveries). */
  readonly order: number;
  readonly at: number;
}

/** Counters of a simulator. */
export interface SupporterSimCounters {
  requests: number;
  delivered: number;
  duplicates: number;
  rejected: number;
  errors: number;
  timeouts: number;
  outageRefusals: number;
  badRequests: number;
  erased: number;
}

/** What one simulator received. */
export class DeliveryBook {
  private readonly byKey = new Map<string, { delivery: Delivery; answer: Record<string, unknown> }>();
  private readonly bySupporter = new Map<string, Delivery[]>();
  /** Latest identity per supporter (user service only). */
  readonly identities = new Map<string, unknown>();
  /** Supporters erased (user service only). */
  readonly erased = new Set<string>();

  /** The first answer for `key`, if it was delivered before. */
  repeat(key: string): Record<string, unknown> | undefined {
    return this.byKey.get(key)?.answer;
  }

  /** Records a first delivery. */
  record(hash: string, messageId: string, key: string, answer: Record<string, unknown>, now: number): Delivery {
    const d: Delivery = { messageId, key, order: ++globalOrder, at: now };
    this.byKey.set(key, { delivery: d, answer });
    const list = this.bySupporter.get(hash);
    if (list) list.push(d);
    else this.bySupporter.set(hash, [d]);
    return d;
  }

  /** A supporter's deliveries in the order received. */
  deliveries(hash: string): readonly Delivery[] {
    return this.bySupporter.get(hash) ?? [];
  }

  /** Every supporter's deliveries. */
  all(): ReadonlyMap<string, readonly Delivery[]> {
    return this.bySupporter;
  }

  /** Supporters seen and deliveries recorded. */
  size(): { supporters: number; deliveries: number } {
    return { supporters: this.bySupporter.size, deliveries: this.byKey.size };
  }

  reset(): void {
    this.byKey.clear();
    this.bySupporter.clear();
    this.identities.clear();
    this.erased.clear();
  }
}

/** How to start a supporter simulator. */
export interface SupporterSimOptions {
  readonly service: "user" | "erp";
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly config?: Partial<SupporterSimConfig>;
  readonly logger: Logger;
  readonly random?: () => number;
}

/** A running simulator. */
export interface SupporterSimulator {
  readonly name: "user" | "erp";
  readonly url: string;
  readonly port: number;
  readonly book: DeliveryBook;
  readonly counters: SupporterSimCounters;
  config(): SupporterSimConfig;
  setConfig(patch: Partial<SupporterSimConfig>): SupporterSimConfig;
  reset(): void;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const HASH = /^[A-Za-z0-9_-]{43}$/;

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** Starts a user-service or ERP-service simulator; resolves once it listens. */
export async function startSupporterSimulator(opts: SupporterSimOptions): Promise<SupporterSimulator> {
  const random = opts.random ?? Math.random;
  const log = opts.logger.child({ sim: opts.service });
  const initial: SupporterSimConfig = { ...DEFAULT_SUPPORTER_SIM_CONFIG, ...opts.config };
  let config = initial;
  const book = new DeliveryBook();
  const counters: SupporterSimCounters = {
    requests: 0,
    delivered: 0,
    duplicates: 0,
    rejected: 0,
    errors: 0,
    timeouts: 0,
    outageRefusals: 0,
    badRequests: 0,
    erased: 0,
  };
  const hanging = new Set<ServerResponse>();

  /** Outage, key, body, latency, errors: the checks every call goes through. Null: answered. */
  async function gate(
    req: IncomingMessage,
    res: ServerResponse,
    needBody: boolean,
  ): Promise<{ key: string; body: Record<string, unknown>; raw: string } | null> {
    counters.requests++;
    const c = config;
    if (c.outage) {
      counters.outageRefusals++;
      if (c.outageMode === "reset") req.socket.destroy();
      else send(res, 503, { reason: `${opts.service} service is down (simulated outage)` });
      return null;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY);
    } catch {
      counters.badRequests++;
      send(res, 413, { reason: "body too large" });
      return null;
    }
    const key = req.headers["idempotency-key"];
    if (typeof key !== "string" || key === "") {
      counters.badRequests++;
      send(res, 400, { reason: "Idempotency-Key header is required" });
      return null;
    }
    let body: Record<string, unknown> = {};
    if (needBody) {
      try {
        const v: unknown = JSON.parse(raw.toString("utf8"));
        if (!isRecord(v) || Array.isArray(v)) throw new Error("not an object");
        body = v;
      } catch {
        counters.badRequests++;
        send(res, 400, { reason: "the body must be a JSON object" });
        return null;
      }
    }
    await sleep(draw(c.latencyMs, random));
    if (random() < c.errorRate) {
      counters.errors++;
      const status = [503, 500, 429][Math.floor(random() * 3)] ?? 503;
      send(res, status, { reason: "simulated failure" });
      return null;
    }
    return { key, body, raw: raw.toString("utf8") };
  }

  function refuses(raw: string): string | null {
    const c = config;
    if (c.rejectMarker !== null && raw.includes(c.rejectMarker))
      return `the ${opts.service} service refused the message: it contains ${c.rejectMarker}`;
    if (random() < c.rejectRate) return `the ${opts.service} service refused the message (simulated)`;
    return null;
  }

  /** Records a delivery (or answers a repeat) and answers, or hangs (timeout fault). */
  function deliver(
    res: ServerResponse,
    hash: string,
    g: { key: string; body: Record<string, unknown>; raw: string },
    status: number,
    answer: Record<string, unknown>,
    apply: () => void,
  ): void {
    const first = book.repeat(g.key);
    if (first) {
      counters.duplicates++;
      return send(res, status, first);
    }
    const reason = refuses(g.raw);
    if (reason) {
      counters.rejected++;
      return send(res, 422, { reason });
    }
    const messageId = typeof g.body["messageId"] === "string" ? g.body["messageId"] : "?";
    book.record(hash, messageId, g.key, answer, Date.now());
    apply();
    counters.delivered++;
    if (random() < config.timeoutRate) {
      counters.timeouts++;
      hanging.add(res);
      res.once("close", () => hanging.delete(res));
      return;
    }
    send(res, status, answer);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split("/").slice(1);
    if (opts.service === "user" && parts[0] === "users" && parts.length === 2 && HASH.test(parts[1]!)) {
      const hash = parts[1]!;
      if (req.method === "PUT") {
        const g = await gate(req, res, true);
        if (!g) return;
        if (g.body["hash"] !== hash || typeof g.body["identity"] !== "object" || g.body["identity"] === null) {
          counters.badRequests++;
          return send(res, 400, { reason: "hash must match the path and identity must be an object" });
        }
        return deliver(res, hash, g, 200, { userId: `U-${hash.slice(0, 12)}` }, () => {
          book.identities.set(hash, g.body["identity"]);
          book.erased.delete(hash);
        });
      }
      if (req.method === "DELETE") {
        const g = await gate(req, res, false);
        if (!g) return;
        const known = book.identities.delete(hash);
        book.erased.add(hash);
        counters.erased++;
        return send(res, known ? 204 : 404, known ? undefined : { reason: "no such user" });
      }
      return send(res, 405, { reason: "method not allowed" });
    }
    if (
      opts.service === "erp" &&
      parts[0] === "supporters" &&
      parts.length === 3 &&
      parts[2] === "events" &&
      HASH.test(parts[1]!)
    ) {
      const hash = parts[1]!;
      if (req.method !== "POST") return send(res, 405, { reason: "method not allowed" });
      const g = await gate(req, res, true);
      if (!g) return;
      if (g.body["hash"] !== hash || !Array.isArray(g.body["events"])) {
        counters.badRequests++;
        return send(res, 400, { reason: "hash must match the path and events must be an array" });
      }
      return deliver(res, hash, g, 201, { ref: `E-${(globalOrder + 1).toString(36)}` }, () => undefined);
    }
    send(res, 404, { reason: "not found" });
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const set = (next: typeof config): void => {
      config = next;
      log.info({ config }, "configuration changed");
    };
    if (
      await configRoute(req, res, url, { get: () => config, merge: mergeSupporterSimConfig, set, maxBytes: MAX_BODY })
    )
      return;
    if (url.pathname === "/admin/summary" && req.method === "GET")
      return send(res, 200, { service: opts.service, ...book.size(), counters });
    if (url.pathname === "/admin/supporters" && req.method === "GET") {
      const hash = url.searchParams.get("hash") ?? "";
      return send(res, 200, {
        hash,
        deliveries: book.deliveries(hash),
        ...(opts.service === "user"
          ? { identity: book.identities.get(hash) ?? null, erased: book.erased.has(hash) }
          : {}),
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
        log.error({ err: errorMessage(err) }, "simulator request failed");
        send(res, 500, { reason: "simulator error" });
      });
    };
    if (url.pathname.startsWith("/admin/")) return done(admin(req, res, url));
    if (url.pathname === "/health") return send(res, 200, { status: "ok", service: opts.service });
    done(handle(req, res, url));
  });
  const listening = await listen(server, opts.port, opts.host ?? "127.0.0.1");
  const port = listening.port;
  const sim: SupporterSimulator = {
    name: opts.service,
    url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
    port,
    book,
    counters,
    config: () => config,
    setConfig(patch) {
      const r = mergeSupporterSimConfig(config, patch);
      if ("problems" in r) throw new Error(r.problems.join("; "));
      config = r.config;
      log.info({ config }, "configuration changed");
      return config;
    },
    reset() {
      book.reset();
      for (const k of Object.keys(counters) as (keyof SupporterSimCounters)[]) counters[k] = 0;
      config = initial;
    },
    async close() {
      for (const r of hanging) r.destroy();
      await listening.close();
    },
  };
  log.info({ url: sim.url }, "simulator listening");
  return sim;
}
