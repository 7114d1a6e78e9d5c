/**
 * The base of the payment provider simulators (card-simulator.ts, wallet-simulator.ts): what
 * every simulated provider does the same way, so that each simulator is only its own API.
 *
 * - The HTTP server: `GET /health`; `GET|PUT /admin/config` (faults, {@link ProviderSimConfig});
 *   `GET /admin/summary` (counters, plus what the provider adds); `POST /admin/reset` (forgets
 *   every payment, idempotency key and counter); the provider's own admin routes; 500 in the
 *   provider's error shape when a handler throws.
 * - Faults on every API call: `latencyMs` first, then `outage` (503 in the provider's shape,
 *   nothing done), counted in `requests` and `outageRefusals`.
 * - Idempotency: {@link ProviderSimContext.keyed} reads a keyed POST (the provider's key header
 *   required, 400 without; JSON body, 400 when it is not) and answers a repeated key with the
 *   first answer (counted in `duplicates`), recording the new one otherwise.
 * - Webhooks: {@link ProviderSimCore.announce} sends a signed event to `webhookUrl` after the API
 *   answer (`webhook: "after"`, `webhookDelayMs`), before it (`"before"`) or never (`"none"`),
 *   twice with `duplicateWebhooks`, retried until answered 2xx (simulator-kit.ts).
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Logger } from "../../lib/logger";
import { configRoute, listen, readBody, send } from "../../lib/sim-http";
import {
  DEFAULT_PROVIDER_SIM,
  IdempotencyBook,
  WebhookSender,
  mergeProviderSim,
  sleep,
  type ProviderSimConfig,
  type ProviderSimCounters,
} from "./simulator-kit";

/** Largest request body a simulator reads. */
const MAX_BODY = 64 * 1024;

/** A keyed POST, read: its JSON body, and the answer that is recorded for its key. */
export interface KeyedCall {
  readonly body: Record<string, unknown>;
  /** Answers and remembers the answer for the key (a repeat gets it again). */
  answer(status: number, body: unknown): void;
}

/** One API call as a provider's handler sees it (after latency and outage). */
export interface ProviderSimContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The path's segments. */
  readonly parts: readonly string[];
  /** Reads a keyed POST; null when it was answered already (no key, bad JSON, a repeated key). */
  keyed(): Promise<KeyedCall | null>;
}

/** What the base offers the provider built on it. */
export interface ProviderSimCore<C extends Record<string, number>> {
  readonly counters: ProviderSimCounters & C;
  config(): ProviderSimConfig;
  /** The simulator's base URL (known once it listens: for links such as the wallet's approve URL). */
  baseUrl(): string;
  /**
   * Sends webhook `body` as the configuration says (see the module doc); `headers` signs it,
   * called at each delivery. Resolves at once, or after the delivery in "before" mode.
   */
  announce(body: string, headers: () => Record<string, string>): Promise<void>;
  /** Runs `fn` after `ms` unless the simulator was closed meanwhile. */
  later(ms: number, fn: () => void): void;
}

/** A provider's API over the base. */
export interface ProviderSimSpec {
  /** The header that carries the idempotency key. */
  readonly keyHeader: string;
  /** True: a repeated key's answer carries `Idempotent-Replayed: true`. */
  readonly replayHeader: boolean;
  /** Error bodies in this provider's shape. */
  readonly errors: {
    readonly unavailable: unknown;
    readonly missingKey: unknown;
    readonly badJson: unknown;
    readonly internal: unknown;
  };
  /** Handles one API call (the path is the provider's; answer with `send` or a keyed call's `answer`). */
  handle(ctx: ProviderSimContext): Promise<void>;
  /** Admin routes of this provider beyond the common ones; true when it answered. */
  admin?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** What `GET /admin/summary` adds to the counters. */
  summary?(): Record<string, unknown>;
  /** Forgets this provider's payments (`POST /admin/reset`). */
  reset(): void;
}

/** A running provider simulator, as its starter returns it. */
export interface ProviderSimHandle<C extends Record<string, number>> {
  readonly url: string;
  readonly counters: ProviderSimCounters & C;
  config(): ProviderSimConfig;
  /** Merges `patch` into the faults (throws on a bad one), as `PUT /admin/config` does. */
  setConfig(patch: Partial<ProviderSimConfig>): ProviderSimConfig;
  close(): Promise<void>;
}

/** Options every provider simulator starts with. */
export interface ProviderSimOptions {
  readonly host?: string;
  /** 0: a free port. */
  readonly port: number;
  readonly logger: Logger;
  readonly config?: Partial<ProviderSimConfig>;
}

/**
 * Starts a provider simulator named `name` (logs) with its own counters `extra` (zeroed on
 * reset) and the API `build` makes over the base.
 */
export async function startProviderSimulator<C extends Record<string, number>>(
  name: string,
  opts: ProviderSimOptions,
  extra: C,
  build: (core: ProviderSimCore<C>) => ProviderSimSpec,
): Promise<ProviderSimHandle<C>> {
  const log = opts.logger.child({ sim: name });
  const host = opts.host ?? "127.0.0.1";
  let config: ProviderSimConfig = { ...DEFAULT_PROVIDER_SIM, ...opts.config };
  const counters: ProviderSimCounters & C = {
    requests: 0,
    outageRefusals: 0,
    duplicates: 0,
    webhooksSent: 0,
    webhooksFailed: 0,
    ...extra,
  };
  let book = new IdempotencyBook(counters);
  const hooks = new WebhookSender(log, counters);
  let baseUrl = "";

  const core: ProviderSimCore<C> = {
    counters,
    config: () => config,
    baseUrl: () => baseUrl,
    later: (ms, fn) => hooks.later(ms, fn),
    async announce(body, headers) {
      if (config.webhook === "none" || config.webhookUrl === "") return;
      const url = config.webhookUrl;
      const times = config.duplicateWebhooks ? 2 : 1;
      const deliver = async (): Promise<void> => {
        for (let i = 0; i < times; i++) await hooks.send(url, body, headers());
      };
      if (config.webhook === "before") await deliver();
      else hooks.later(config.webhookDelayMs, () => void deliver());
    },
  };
  const spec = build(core);

  async function keyed(req: IncomingMessage, res: ServerResponse, url: URL): Promise<KeyedCall | null> {
    const key = String(req.headers[spec.keyHeader.toLowerCase()] ?? "");
    if (key === "") {
      send(res, 400, spec.errors.missingKey);
      return null;
    }
    let body: Record<string, unknown> = {};
    try {
      const raw = (await readBody(req, MAX_BODY)).toString("utf8");
      const parsed: unknown = raw === "" ? {} : JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null) body = { ...parsed };
    } catch {
      send(res, 400, spec.errors.badJson);
      return null;
    }
    const scope = `${req.method ?? "POST"} ${url.pathname} ${key}`;
    const prior = book.replay(scope);
    if (prior) {
      send(res, prior.status, prior.body, spec.replayHeader ? { "Idempotent-Replayed": "true" } : {});
      return null;
    }
    return {
      body,
      answer(status, b) {
        book.record(scope, status, b);
        send(res, status, b);
      },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    if (url.pathname === "/health") return send(res, 200, { ok: true });
    if (
      await configRoute(req, res, url, {
        get: () => config,
        merge: mergeProviderSim,
        set: (c) => void (config = c),
        maxBytes: MAX_BODY,
      })
    )
      return;
    if (url.pathname === "/admin/summary") return send(res, 200, { ...counters, ...spec.summary?.() });
    if (url.pathname === "/admin/reset" && req.method === "POST") {
      spec.reset();
      book = new IdempotencyBook(counters);
      const all: Record<string, number> = counters;
      for (const k of Object.keys(all)) all[k] = 0;
      return send(res, 204);
    }
    if (url.pathname.startsWith("/admin/") && (await spec.admin?.(req, res, url))) return;
    counters.requests++;
    await sleep(config.latencyMs);
    if (config.outage) {
      counters.outageRefusals++;
      return send(res, 503, spec.errors.unavailable);
    }
    await spec.handle({
      req,
      res,
      url,
      parts: url.pathname.split("/").filter(Boolean),
      keyed: () => keyed(req, res, url),
    });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn({ err: String(err) }, "simulator failed a request");
      send(res, 500, spec.errors.internal);
    });
  });
  const l = await listen(server, opts.port, host);
  baseUrl = `http://${host}:${l.port}`;
  return {
    url: baseUrl,
    counters,
    config: () => config,
    setConfig(patch) {
      const r = mergeProviderSim(config, patch);
      if ("problems" in r) throw new Error(r.problems.join("; "));
      config = r.config;
      return config;
    },
    async close() {
      hooks.close();
      await l.close();
    },
  };
}
