/**
 * A small HTTP client for outbound calls from jobs (external APIs, webhooks): node:http(s) with
 * keep-alive agents. It does a fraction of `fetch`'s work per call (no WHATWG streams), which
 * matters when every message a domain handles makes several calls.
 *
 * Measured by `npm run bench:libs` (bin/bench-libs.ts) on 2026-12-01, on the 2-vCPU Intel Xeon
 * dev box (Node 22.23.3, load average about 7 from other work): keep-alive POSTs of 2 KB JSON
 * to a local server in another process, 32 in flight, each client in a fresh process, median of
 * 5 alternating runs of 20,000 requests, CPU of the client process per request:
 *   this module (node:http)      103 µs, 6.0k req/s
 *   global fetch (undici 6.28.1) 274 µs, 2.8k req/s
 * (an earlier run the same day: 78 µs and 8.9k/s against 345 µs and 2.4k/s.) So fetch costs
 * 2.6 to 4.4 times the CPU per call here, and it stays out.
 *
 * undici's own `request`/`Pool` (the package, not the fetch inside Node) is not measured yet:
 * the package is not installed. bench:libs measures it (`undici-request`, `undici-pool`) as
 * soon as `undici` resolves; if it needs clearly less CPU than this module, it should replace
 * the body of {@link httpRequest} (the options map: `dispatcher` for the agents, and the
 * destination check of lib/egress-http.ts would move into the dispatcher's `connect` options,
 * whose `lookup` reaches the socket as the agents' does today).
 * Until then this module is kept: it has no dependency, and its semantics (bounded response,
 * abort by signal, any status resolves) are what the callers rely on.
 */
import http from "node:http";
import https from "node:https";

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });

/** A response, read whole (bodies of these APIs are small). */
export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** Keep-alive agents to send through (lib/egress-http.ts has agents that check destinations). */
export interface HttpAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  maxResponseBytes?: number;
  /** Default: this module's shared agents. */
  agents?: HttpAgents;
}

/** One request. Rejects on network errors and when `signal` aborts; any status resolves. */
export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`invalid URL ${JSON.stringify(url)}`));
      return;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      reject(new Error(`unsupported protocol ${u.protocol}`));
      return;
    }
    if (opts.signal?.aborted) {
      reject(new Error("aborted"));
      return;
    }
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body, "utf8");
    const headers: Record<string, string | number> = { ...opts.headers };
    if (body) headers["Content-Length"] = body.length;
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.request(
      u,
      {
        method: opts.method ?? "GET",
        headers,
        agent: u.protocol === "https:" ? (opts.agents?.https ?? httpsAgent) : (opts.agents?.http ?? httpAgent),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const limit = opts.maxResponseBytes ?? 1 << 20;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > limit) {
            req.destroy(new Error(`response larger than ${limit} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    const onAbort = (): void => void req.destroy(new Error("aborted"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => opts.signal?.removeEventListener("abort", onAbort));
    req.on("error", reject);
    req.end(body);
  });
}

/** The reason an API gave for a refusal: `reason` (or `message`) of a JSON body, else its text. */
export function reasonOf(res: HttpResponse): string {
  try {
    const v = JSON.parse(res.text) as { reason?: unknown; message?: unknown };
    const r =
      typeof v.reason === "string" && v.reason !== ""
        ? v.reason
        : typeof v.message === "string" && v.message !== ""
          ? v.message
          : null;
    if (r) return r.slice(0, 1000);
  } catch {
    // not JSON
  }
  return res.text.slice(0, 200) || `HTTP ${res.status}`;
}

/** A Retry-After header (seconds) in milliseconds, capped at 5 minutes. */
export function retryAfterMs(res: HttpResponse): number | undefined {
  const h = res.headers["retry-after"];
  if (typeof h !== "string" || h === "") return undefined;
  const s = Number(h);
  return Number.isFinite(s) && s >= 0 ? Math.min(s * 1000, 300_000) : undefined;
}

/** The JSON body of a response, or undefined when it is not JSON. */
export function jsonOf(res: HttpResponse): unknown {
  try {
    return res.text ? JSON.parse(res.text) : undefined;
  } catch {
    return undefined;
  }
}
