/** HTTP plumbing shared by the simulators: bounded body reads, JSON answers, listen and close. */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Reads a request body, refusing (rejecting) past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Answers with a JSON body (or none when `body` is undefined), unless already answered. */
export function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Starts `server` on host:port (0: any free port); `close` also drops open keep-alive sockets. */
export async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/**
 * `GET /admin/config` answers the current configuration; `PUT /admin/config` merges a JSON
 * patch (422 with the problems when invalid). Returns false for any other request.
 */
export async function configRoute<C>(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  cfg: {
    get(): C;
    merge(current: C, patch: unknown): { config: C } | { problems: string[] };
    set(next: C): void;
    maxBytes: number;
  },
): Promise<boolean> {
  if (url.pathname !== "/admin/config") return false;
  if (req.method === "GET") {
    send(res, 200, cfg.get());
    return true;
  }
  if (req.method !== "PUT") return false;
  let patch: unknown;
  try {
    patch = JSON.parse((await readBody(req, cfg.maxBytes)).toString("utf8"));
  } catch {
    send(res, 400, { error: "the body must be JSON" });
    return true;
  }
  const r = cfg.merge(cfg.get(), patch);
  if ("problems" in r) {
    send(res, 422, { error: "invalid configuration", problems: r.problems });
    return true;
  }
  cfg.set(r.config);
  send(res, 200, r.config);
  return true;
}

/** A range of milliseconds; each draw is uniform in [min, max]. */
export interface MsRange {
  readonly min: number;
  readonly max: number;
}

/** A uniform draw (integer milliseconds) from `r` using `random`. */
export function draw(r: MsRange, random: () => number = Math.random): number {
  return r.min + Math.floor(random() * (r.max - r.min + 1));
}

/**
 * A simulator's initial configuration: `defaults` with the JSON patch in `raw` (the value of
 * the environment variable `name`, the same shape as for `PUT /admin/config`) merged in by
 * `merge`. Throws, naming `name`, when `raw` is not JSON or the patch is invalid.
 */
export function initialSimConfig<C>(
  name: string,
  raw: string | undefined,
  defaults: C,
  merge: (current: C, patch: unknown) => { config: C } | { problems: string[] },
): C {
  if (!raw) return defaults;
  let patch: unknown;
  try {
    patch = JSON.parse(raw);
  } catch {
    throw new Error(`${name} is not JSON`);
  }
  const r = merge(defaults, patch);
  if ("problems" in r) throw new Error(`${name}: ${r.problems.join("; ")}`);
  return r.config;
}
