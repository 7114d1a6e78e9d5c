/**
 * A cap on open connections per remote address on an HTTP server: a socket beyond the cap is
 * destroyed as it is accepted, before a byte is parsed (one address cannot hold every socket
 * of the node, e.g. with slow headers). Counted per socket address (IPv6 per /64), since at
 * accept time there is no X-Forwarded-For; trusted proxies are exempt: they carry many callers.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { ipKey, normalizeIp } from "./client-ip";

/** Options of {@link capConnectionsPerIp}. */
export interface ConnectionCapOptions {
  /** Open connections allowed per address (0: no cap). */
  readonly max: number;
  /** Addresses not counted (trusted proxies). */
  readonly exempt?: (ip: string) => boolean;
  /** Called once per refused socket. */
  readonly onRefuse?: () => void;
}

/** What the cap currently counts. */
export interface ConnectionCap {
  /** Open connections counted for the address (its /64 for IPv6). */
  count(ip: string): number;
}

/** Installs the cap on `server`'s 'connection' event. */
export function capConnectionsPerIp(server: Server, opts: ConnectionCapOptions): ConnectionCap {
  const open = new Map<string, number>();
  if (opts.max > 0) {
    server.on("connection", (socket: Socket) => {
      const ip = normalizeIp(socket.remoteAddress);
      if (!ip) {
        socket.destroy();
        return;
      }
      if (opts.exempt?.(ip)) return;
      const key = ipKey(ip);
      const n = (open.get(key) ?? 0) + 1;
      if (n > opts.max) {
        opts.onRefuse?.();
        socket.destroy();
        return;
      }
      open.set(key, n);
      socket.once("close", () => {
        const left = (open.get(key) ?? 1) - 1;
        if (left <= 0) open.delete(key);
        else open.set(key, left);
      });
    });
  }
  return { count: (ip) => open.get(ipKey(normalizeIp(ip) ?? ip)) ?? 0 };
}
