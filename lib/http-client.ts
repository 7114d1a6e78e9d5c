/**
 * A small HTTP client for outbound calls from jobs (external APIs, webhooks): undici's
 * `request` through a keep-alive `Agent` of this module's own (not the global dispatcher that
 * `fetch` shares). It does a fraction of `fetch`'s work per call (no WHATWG streams), which
 * matters when every message a domain handles makes several calls.
 *
 * Measured by `npm run bench:libs` (bin/bench-libs.ts) on 2026-12-01, on the 2-vCPU Intel Xeon
 * dev box (Node 22.23.3, other work running): keep-alive POSTs of 2 KB JSON to a local server
 * in another process, 32 in flight, each client in a fresh process, median of 5 alternating
 * runs of 20,000 requests, CPU of the client process per request:
 *   the former body of this module (node:http agents)   79 µs
 *   global fetch (the undici inside Node)              335 µs
 *   undici 8.12.4 `request` with an `Agent`             58 µs
 *   undici 8.12.4 `Pool.request`                        56 µs
 * So the hand-written node:http client lost to the library, and this module is now undici
 * (`request` + `Agent`: one dispatcher for every origin, as the callers need; `Pool` is bound
 * to one origin). Re-measured after the change, the same day and box (load average about 8,
 * so every figure is higher than above; compare within the run):
 *   this module (undici request + Agent)                74 µs, 15.2k req/s
 *   undici 8.12.4 `request` with an `Agent`             73.8 µs, 14.9k req/s
 *   undici 8.12.4 `Pool.request`                        63.2 µs, 17.0k req/s
 *   global fetch                                       343.5 µs, 3.5k req/s
 * i.e. this module costs what undici's `request` does (its URL checks and bounded read add
 * nothing measurable).
 *
 * What callers rely on is kept: any status resolves; the body is read whole and bounded
 * (`maxResponseBytes`, 1 MiB by default: larger rejects with "response larger than N bytes");
 * `signal` aborts (an aborted call rejects with Error("aborted"), before or during the call);
 * network errors reject with Node's error (`code` ECONNREFUSED, ENOTFOUND, ...) or undici's
 * (`code` UND_ERR_*); redirects are not followed; invalid URLs and protocols other than
 * http/https reject before any I/O. lib/egress-http.ts passes a `dispatcher` of its own whose
 * `connect.lookup` checks every destination.
 */
import { Agent, request, type Dispatcher } from "undici";

/** Keep-alive settings of the dispatchers of this module and lib/egress-http.ts. */
export const AGENT_OPTIONS = {
  /** Sockets per origin (node:http's `maxSockets` before). */
  connections: 256,
  /** An idle socket is closed after this (a server's Keep-Alive hint may shorten it). */
  keepAliveTimeout: 10_000,
} as const;

const sharedAgent = new Agent(AGENT_OPTIONS);

/** A response, read whole (bodies of these APIs are small). */
export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; a repeated header is an array. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  maxResponseBytes?: number;
  /** The undici dispatcher to send through. Default: this module's shared keep-alive Agent. */
  dispatcher?: Dispatcher;
}

/** The error of an aborted call (callers tell a timeout by their signal, not by this error). */
function abortedError(cause?: unknown): Error {
  return new Error("aborted", cause === undefined ? undefined : { cause });
}

/** One request. Rejects on network errors and when `signal` aborts; any status resolves. */
export async function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid URL ${JSON.stringify(url)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`unsupported protocol ${u.protocol}`);
  const signal = opts.signal;
  if (signal?.aborted) throw abortedError();
  let res: Dispatcher.ResponseData;
  try {
    res = await request(u, {
      method: opts.method ?? "GET",
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(signal ? { signal } : {}),
      dispatcher: opts.dispatcher ?? sharedAgent,
    });
  } catch (err) {
    throw signal?.aborted ? abortedError(err) : err;
  }
  try {
    const text = await readBounded(res.body, opts.maxResponseBytes ?? 1 << 20);
    return { status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    throw signal?.aborted ? abortedError(err) : err;
  }
}

/** The body as UTF-8, rejecting (and dropping the connection) once it passes `limit` bytes. */
function readBounded(body: Dispatcher.ResponseData["body"], limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        const err = new Error(`response larger than ${limit} bytes`);
        body.destroy(err);
        reject(err);
        return;
      }
      chunks.push(c);
    });
    body.on("end", () =>
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")),
    );
    body.on("error", reject);
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
