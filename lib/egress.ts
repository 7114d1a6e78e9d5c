/**
 * Egress policy for URLs that callers supply (client webhooks, X-Callback-Url), pure: which
 * destinations the platform may call on a caller's behalf. Public addresses and names are
 * allowed; loopback, private, link-local, metadata and other special-purpose addresses (see
 * lib/ip.ts) and local or internal names are refused, unless an explicit allow-list (operator
 * configuration, EGRESS_ALLOW) names the host or its network.
 *
 * Checking a URL here is the submit-time check. A name that passes must still be checked where
 * the connection is made, against every address it resolves to (lib/egress-http.ts), because
 * DNS answers can change between the two.
 */
import { classifyIp, formatIp, inCidr, parseCidr, parseIp, type AddressClass, type Cidr, type IpAddress } from "./ip";

/** Destinations allowed although they are not public: host names (exact) and networks. */
export interface EgressPolicy {
  /** Lower-case names without a trailing dot; an allowed name may resolve to any address. */
  readonly hosts: ReadonlySet<string>;
  readonly networks: readonly Cidr[];
}

/** No exceptions: only public destinations (the production default). */
export const STRICT_EGRESS: EgressPolicy = { hosts: new Set(), networks: [] };

/** The development default of the allow-list: this machine only (the local simulators and tests). */
export const DEV_EGRESS_ALLOW: readonly string[] = ["localhost", "127.0.0.0/8", "::1/128"];

/**
 * Names that resolve to internal hosts by convention: RFC 6761/6762 special-use and private-use
 * suffixes, cloud metadata services (`metadata.google.internal`), Kubernetes service names.
 */
const LOCAL_SUFFIXES: readonly string[] = [
  "localhost",
  "local",
  "localdomain",
  "internal",
  "intranet",
  "private",
  "corp",
  "home",
  "lan",
  "home.arpa",
  "arpa",
  "svc",
];
const METADATA_NAMES = new Set(["metadata.google.internal", "metadata.goog", "metadata", "instance-data"]);

/** Why a destination is refused, in words for a 422 or a log line. */
export interface EgressRefusal {
  readonly host: string;
  readonly reason: string;
}

/** A host as compared: lower case, without brackets or one trailing dot. */
export function normaliseHost(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) return h.slice(1, -1);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/**
 * Parses allow-list entries (host names, IP addresses, CIDR blocks). Returns the policy and one
 * problem per entry that is none of these; an empty list is {@link STRICT_EGRESS}.
 */
export function parseEgressAllow(entries: readonly string[]): { policy: EgressPolicy; problems: string[] } {
  const hosts = new Set<string>();
  const networks: Cidr[] = [];
  const problems: string[] = [];
  for (const raw of entries) {
    const e = normaliseHost(raw);
    if (e === "") continue;
    const net = parseCidr(e);
    if (net) networks.push(net);
    else if (
      /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(e) &&
      parseIp(e) === null
    )
      hosts.add(e);
    else problems.push(`${JSON.stringify(raw)} is neither a host name, an IP address nor a CIDR block`);
  }
  return { policy: { hosts, networks }, problems };
}

const CLASS_WORDS: Record<AddressClass, string> = {
  unspecified: "an unspecified",
  loopback: "a loopback",
  private: "a private",
  shared: "a shared (carrier-grade NAT)",
  "link-local": "a link-local (cloud metadata)",
  documentation: "a documentation",
  benchmark: "a benchmarking",
  multicast: "a multicast",
  broadcast: "a broadcast",
  reserved: "a reserved",
};

/**
 * Checks one address: null when it is public or in an allowed network, else the refusal
 * (`host` names what the caller gave, for the message).
 */
export function checkAddress(ip: IpAddress, policy: EgressPolicy, host: string = formatIp(ip)): EgressRefusal | null {
  if (policy.networks.some((n) => inCidr(ip, n))) return null;
  const cls = classifyIp(ip);
  if (cls === null) return null;
  const shown = formatIp(ip);
  return { host, reason: `${host}${shown === host ? "" : ` (${shown})`} is ${CLASS_WORDS[cls]} address` };
}

/**
 * Checks a URL host as the URL parser gives it (`u.hostname`): an IP literal in any form is
 * checked as an address; a name is refused when it is local or internal by convention or has a
 * single label (resolved through search domains, i.e. inside the network). Null: allowed here,
 * and a name must still be checked against what it resolves to when connecting.
 */
export function checkHost(hostname: string, policy: EgressPolicy): EgressRefusal | null {
  const host = normaliseHost(hostname);
  if (host === "") return { host, reason: "the host is empty" };
  if (policy.hosts.has(host)) return null;
  const ip = parseIp(host);
  if (ip) return checkAddress(ip, policy, host);
  if (METADATA_NAMES.has(host)) return { host, reason: `${host} is a cloud metadata service` };
  const suffix = LOCAL_SUFFIXES.find((s) => host === s || host.endsWith(`.${s}`));
  if (suffix) return { host, reason: `${host} is a local or internal name${host === suffix ? "" : ` (.${suffix})`}` };
  if (!host.includes(".")) return { host, reason: `${host} is a single-label name (resolved inside the network)` };
  return null;
}

/** True when every address of `host` may be called: the name itself is on the allow-list. */
export function hostAllowed(hostname: string, policy: EgressPolicy): boolean {
  return policy.hosts.has(normaliseHost(hostname));
}

/** The result of {@link checkUrl}: the parsed URL, or why it is refused. */
export type UrlCheck =
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly reason: string; readonly refusal?: EgressRefusal };

/**
 * Checks the form of a URL for an outbound call, not its destination: an http(s) URL of at
 * most `maxLength` characters without credentials.
 */
export function checkUrlForm(text: string, maxLength = 2048): UrlCheck {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { ok: false, reason: "is not a URL" };
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return { ok: false, reason: "must be an http(s) URL" };
  if (text.length > maxLength) return { ok: false, reason: `must be at most ${maxLength} characters` };
  if (u.username !== "" || u.password !== "") return { ok: false, reason: "must not carry credentials" };
  return { ok: true, url: u };
}

/**
 * Checks a caller-supplied URL for an outbound call: {@link checkUrlForm}, and its host must
 * pass {@link checkHost}. `refusal` is set when the URL is well-formed and only its destination
 * is refused.
 */
export function checkUrl(text: string, policy: EgressPolicy, maxLength = 2048): UrlCheck {
  const form = checkUrlForm(text, maxLength);
  if (!form.ok) return form;
  const refused = checkHost(form.url.hostname, policy);
  if (refused) return { ok: false, reason: `is not an allowed destination: ${refused.reason}`, refusal: refused };
  return form;
}
