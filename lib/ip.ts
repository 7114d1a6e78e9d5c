/**
 * IP addresses as bytes, pure: parsing every textual form a URL host or a resolver may give
 * (IPv4 shorthand as inet_aton and the WHATWG URL parser read it: `2130706433`, `0x7f.0.0.1`,
 * `0177.0.0.1`, `127.1`; IPv6 with `::`, a dotted IPv4 tail, brackets), CIDR blocks, and the
 * special-purpose ranges of the IANA registries, so that outbound calls can refuse addresses
 * that are not public unicast (loopback, private, link-local, metadata, ...).
 */

/** An address: 4 bytes (IPv4) or 16 bytes (IPv6), network order. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** A block of addresses: the first `prefix` bits of `base` (the rest are zero). */
export interface Cidr {
  readonly family: 4 | 6;
  readonly base: Uint8Array;
  readonly prefix: number;
}

/** Why an address is not a public destination. */
export type AddressClass =
  | "unspecified"
  | "loopback"
  | "private"
  | "shared"
  | "link-local"
  | "documentation"
  | "benchmark"
  | "multicast"
  | "broadcast"
  | "reserved";

/** One part of a shorthand IPv4 address: decimal, 0x hex (empty digits read as 0) or 0-led octal. */
function ipv4Part(s: string): number | null {
  let digits = s;
  let radix = 10;
  if (/^0x/i.test(s)) {
    digits = s.slice(2);
    radix = 16;
  } else if (s.length > 1 && s.startsWith("0")) {
    digits = s.slice(1);
    radix = 8;
  }
  if (digits === "") return radix === 10 ? null : 0;
  const valid = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return null;
  const n = parseInt(digits, radix);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

/**
 * Parses an IPv4 address in any form inet_aton and the WHATWG URL parser accept: one to four
 * dot-separated parts (one trailing dot allowed), each decimal, 0x-hex or 0-led octal, the last
 * part filling the remaining bytes. Returns null when `text` is not such an address (a name).
 */
export function parseIPv4(text: string): IpAddress | null {
  const parts = text.split(".");
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    const n = ipv4Part(p);
    if (n === null) return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
  let value = last;
  nums.forEach((n, i) => (value += n * 256 ** (3 - i)));
  return { family: 4, bytes: Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255) };
}

/** Strict dotted-quad IPv4 (as the tail of an IPv6 address): four decimal parts 0-255. */
function dottedQuad(text: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((n) => n <= 255) ? Uint8Array.from(b) : null;
}

/** 16-bit groups of one side of `::`; a dotted IPv4 tail counts as two groups. */
function ipv6Groups(side: string, allowTail: boolean): number[] | null {
  if (side === "") return [];
  const out: number[] = [];
  const parts = side.split(":");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (allowTail && i === parts.length - 1 && p.includes(".")) {
      const q = dottedQuad(p);
      if (!q) return null;
      out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
    } else if (/^[0-9a-f]{1,4}$/i.test(p)) {
      out.push(parseInt(p, 16));
    } else {
      return null;
    }
  }
  return out;
}

/**
 * Parses an IPv6 address: eight groups, or fewer around one `::`, optionally ending in a dotted
 * IPv4 address, optionally in brackets and with a zone (`%eth0`, ignored). Null when not one.
 */
export function parseIPv6(text: string): IpAddress | null {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(":")) return null;
  const halves = s.split("::");
  if (halves.length > 2) return null;
  let groups: number[];
  if (halves.length === 2) {
    const head = ipv6Groups(halves[0]!, false);
    const tail = ipv6Groups(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = ipv6Groups(s, true);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 255;
  });
  return { family: 6, bytes };
}

/** Parses an IPv4 (any shorthand form) or IPv6 address; null for anything else (a host name). */
export function parseIp(text: string): IpAddress | null {
  return text.includes(":") || text.startsWith("[") ? parseIPv6(text) : parseIPv4(text);
}

/**
 * The canonical text of an address: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run
 * as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
 */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return Array.from(b).join(".");
  if (inCidr(ip, V4_MAPPED)) return `::ffff:${Array.from(b.slice(12)).join(".")}`;
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Parses `a.b.c.d/n`, `x::y/n`, or a single address (a /32 or /128). Null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.lastIndexOf("/");
  const addr = slash >= 0 ? text.slice(0, slash) : text;
  const ip = addr.includes(":") ? parseIPv6(addr) : dottedQuad(addr) ? parseIPv4(addr) : null;
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const prefixText = slash >= 0 ? text.slice(slash + 1) : String(max);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  const prefix = Number(prefixText);
  const base = ip.bytes.slice();
  for (let bit = prefix; bit < max; bit++) base[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family: ip.family, base, prefix };
}

/** True when `ip` lies in `cidr` (same family only: an IPv4-mapped IPv6 address is not in an IPv4 block). */
export function inCidr(ip: IpAddress, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (ip.bytes[i] !== cidr.base[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip.bytes[full]! & mask) === cidr.base[full];
}

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`bad CIDR ${text}`);
  return c;
}

const V4_MAPPED = cidr("::ffff:0:0/96");

/** IPv4 special-purpose blocks (IANA registry) that are no public destination; first match wins. */
const V4_RANGES: readonly (readonly [Cidr, AddressClass])[] = [
  [cidr("0.0.0.0/8"), "unspecified"],
  [cidr("10.0.0.0/8"), "private"],
  [cidr("100.64.0.0/10"), "shared"],
  [cidr("127.0.0.0/8"), "loopback"],
  [cidr("169.254.0.0/16"), "link-local"],
  [cidr("172.16.0.0/12"), "private"],
  [cidr("192.0.0.0/24"), "reserved"],
  [cidr("192.0.2.0/24"), "documentation"],
  [cidr("192.88.99.0/24"), "reserved"],
  [cidr("192.168.0.0/16"), "private"],
  [cidr("198.18.0.0/15"), "benchmark"],
  [cidr("198.51.100.0/24"), "documentation"],
  [cidr("203.0.113.0/24"), "documentation"],
  [cidr("224.0.0.0/4"), "multicast"],
  [cidr("255.255.255.255/32"), "broadcast"],
  [cidr("240.0.0.0/4"), "reserved"],
];

/** IPv6 blocks that embed an IPv4 address in their last 32 bits: classified by that address. */
const V6_EMBEDDING: readonly Cidr[] = [
  V4_MAPPED,
  cidr("::ffff:0:0:0/96"), // IPv4-translated (SIIT)
  cidr("64:ff9b::/96"), // NAT64 well-known prefix
];

/** IPv6 special-purpose blocks; first match wins. Outside 2000::/3 nothing is global unicast. */
const V6_RANGES: readonly (readonly [Cidr, AddressClass])[] = [
  [cidr("::/128"), "unspecified"],
  [cidr("::1/128"), "loopback"],
  [cidr("64:ff9b:1::/48"), "private"], // local-use NAT64
  [cidr("2001::/32"), "reserved"], // Teredo
  [cidr("2001:db8::/32"), "documentation"],
  [cidr("2001:2::/48"), "benchmark"],
  [cidr("2001::/23"), "reserved"], // IETF protocol assignments
  [cidr("2002::/16"), "reserved"], // 6to4 (embeds any IPv4 address, deprecated)
  [cidr("3fff::/20"), "documentation"],
  [cidr("fc00::/7"), "private"], // unique local (fd00:ec2::254 is EC2's metadata service)
  [cidr("fe80::/10"), "link-local"],
  [cidr("fec0::/10"), "private"], // site-local (deprecated)
  [cidr("ff00::/8"), "multicast"],
];

const GLOBAL_UNICAST_V6 = cidr("2000::/3");

/**
 * What kind of non-public address `ip` is, or null for a public (global unicast) address.
 * IPv4-mapped, -translated and NAT64 IPv6 addresses are judged by the IPv4 address they carry.
 */
export function classifyIp(ip: IpAddress): AddressClass | null {
  if (ip.family === 4) return V4_RANGES.find(([c]) => inCidr(ip, c))?.[1] ?? null;
  if (V6_EMBEDDING.some((c) => inCidr(ip, c))) return classifyIp({ family: 4, bytes: ip.bytes.slice(12) });
  const hit = V6_RANGES.find(([c]) => inCidr(ip, c));
  if (hit) return hit[1];
  return inCidr(ip, GLOBAL_UNICAST_V6) ? null : "reserved";
}
