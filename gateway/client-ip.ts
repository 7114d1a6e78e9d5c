/**
 * Who is calling, for per-IP limits: the socket's remote address, or, when that address is a
 * trusted proxy (TRUSTED_PROXIES), the right-most address in X-Forwarded-For that is not a
 * trusted proxy. X-Forwarded-For from anyone else is ignored: otherwise an attacker rotates the
 * header and every request looks like a new client. Pure: no I/O.
 */
import net from "node:net";

/** A set of trusted proxy addresses and networks. */
export interface ProxyList {
  /** True when `ip` (normalised) is one of the trusted proxies. */
  has(ip: string): boolean;
  /** True when no proxy is trusted (X-Forwarded-For is never read). */
  readonly empty: boolean;
}

/** Most hops read from X-Forwarded-For; a longer chain stops at the last trusted hop read. */
const MAX_HOPS = 32;

/** `::ffff:1.2.3.4` -> `1.2.3.4`, zone ids dropped, lower case; undefined for anything not an IP. */
export function normalizeIp(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let ip = raw.trim();
  const zone = ip.indexOf("%");
  if (zone !== -1) ip = ip.slice(0, zone);
  ip = ip.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(ip);
  if (mapped) ip = mapped[1]!;
  return net.isIP(ip) === 0 ? undefined : ip;
}

/** The 64-bit prefix of an IPv6 address (expanded hextets, no leading zeros), e.g. `2001:db8:0:1`. */
function ipv6Prefix64(ip: string): string {
  const [head = "", tail] = ip.split("::", 2) as [string, string | undefined];
  const count = (s: string) => (s === "" ? 0 : s.split(":").reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0));
  const left = head === "" ? [] : head.split(":");
  const missing = tail === undefined ? 0 : 8 - count(head) - count(tail);
  const groups = [...left, ...Array.from({ length: missing }, () => "0"), ...(tail ? tail.split(":") : [])];
  return groups
    .slice(0, 4)
    .map((g) => (g.includes(".") ? "0" : g.replace(/^0+(?=.)/, "")))
    .join(":");
}

/**
 * The key an address is counted under: an IPv4 address itself; for IPv6 its /64, which one
 * subscriber usually holds whole (counting single addresses would let one rotate through 2^64).
 */
export function ipKey(ip: string): string {
  return net.isIP(ip) === 6 ? `${ipv6Prefix64(ip)}::/64` : ip;
}

/** Problems with a TRUSTED_PROXIES item (an IP or a CIDR such as 10.0.0.0/8), or undefined. */
export function proxyItemProblem(item: string): string | undefined {
  const slash = item.indexOf("/");
  const addr = normalizeIp(slash === -1 ? item : item.slice(0, slash));
  if (!addr) return `${JSON.stringify(item)} is not an IP address or CIDR`;
  if (slash === -1) return undefined;
  const bits = item.slice(slash + 1);
  const max = net.isIP(addr) === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max)
    return `${JSON.stringify(item)} has an invalid prefix length (0-${max})`;
  return undefined;
}

/** A {@link ProxyList} of IPs and CIDRs (already validated with {@link proxyItemProblem}). */
export function createProxyList(items: readonly string[]): ProxyList {
  const list = new net.BlockList();
  for (const item of items) {
    const slash = item.indexOf("/");
    const addr = normalizeIp(slash === -1 ? item : item.slice(0, slash));
    if (!addr) throw new Error(`invalid trusted proxy ${JSON.stringify(item)}`);
    const family = net.isIP(addr) === 4 ? "ipv4" : "ipv6";
    if (slash === -1) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(item.slice(slash + 1)), family);
  }
  return {
    has: (ip) => items.length > 0 && list.check(ip, net.isIP(ip) === 4 ? "ipv4" : "ipv6"),
    empty: items.length === 0,
  };
}

/** One X-Forwarded-For item (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `2001:db8::1`) as an IP. */
function forwardedIp(item: string): string | undefined {
  const s = item.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket) return normalizeIp(bracket[1]);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(s);
  return normalizeIp(v4port ? v4port[1] : s);
}

/**
 * The caller's address: `socketIp` unless it is a trusted proxy; then X-Forwarded-For is read
 * from the right, skipping trusted proxies, and the first other address is the caller. A
 * malformed item ends the walk at the trusted hop that passed it on (so garbage cannot mint
 * fresh identities). Undefined only when the socket has no address (it has closed).
 */
export function clientIp(
  socketIp: string | undefined,
  forwardedFor: string | string[] | undefined,
  proxies: ProxyList,
): string | undefined {
  let current = normalizeIp(socketIp);
  if (!current || proxies.empty || forwardedFor === undefined || !proxies.has(current)) return current;
  const items = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
  for (let i = items.length - 1, hops = 0; i >= 0 && hops < MAX_HOPS; i--, hops++) {
    const raw = items[i]!;
    if (raw.trim() === "") continue;
    const ip = forwardedIp(raw);
    if (!ip) return current;
    current = ip;
    if (!proxies.has(ip)) return ip;
  }
  return current;
}
