/**
 * Outbound HTTP to caller-supplied URLs, checked where the connection is made (the I/O half of
 * lib/egress.ts): the URL's host is checked as given, then the name is resolved once, every
 * address is checked, and the socket connects to the checked address. The check runs inside
 * the `lookup` of an undici Agent's `connect` options: undici's connector passes those options
 * to net.connect / tls.connect with `host` set to the URL's name, so that `lookup` is the
 * resolver Node uses for that very socket (both the one-address and the `all: true` form of
 * happy eyeballs), and there is no second resolution a DNS-rebinding answer could slip through.
 * TLS SNI (undici's `servername`, from the URL) and the Host header stay the name. An IP
 * literal never reaches `lookup` (net connects to it directly), so `request` checks the URL
 * before anything is sent. The keep-alive Agent is this module's own: a pooled socket was
 * always checked when it was opened, and is never shared with the unchecked calls to
 * operator-configured services (lib/http-client.ts's shared Agent).
 */
import dns from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent } from "undici";
import { checkAddress, checkUrl, hostAllowed, type EgressPolicy, type EgressRefusal } from "./egress";
import { parseIp } from "./ip";
import { AGENT_OPTIONS, httpRequest, type HttpRequestOptions, type HttpResponse } from "./http-client";

/** One resolved address, as `dns.lookup` with `all: true` gives it. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to all of its addresses (default: the system resolver, `dns.lookup`). */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system's resolver (getaddrinfo: /etc/hosts, then DNS), every address in the resolver's order. */
export const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** A destination the policy refuses: final (retrying will not help while the policy stands). */
export class EgressRefusedError extends Error {
  readonly code = "EGRESS_REFUSED";
  constructor(readonly refusal: EgressRefusal) {
    super(`destination refused: ${refusal.reason}`);
    this.name = "EgressRefusedError";
  }
}

/**
 * Resolves `hostname` and checks every address against `policy` (an allowed name skips the
 * address checks). Rejects with {@link EgressRefusedError} when any address is refused (a name
 * mixing public and internal addresses is refused whole), or with the resolver's error.
 */
export async function resolveChecked(
  hostname: string,
  policy: EgressPolicy,
  resolve: Resolver = systemResolver,
): Promise<readonly ResolvedAddress[]> {
  const addresses = await resolve(hostname);
  if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" });
  if (hostAllowed(hostname, policy)) return addresses;
  for (const a of addresses) {
    const ip = parseIp(a.address);
    const reason = `${hostname} resolved to ${JSON.stringify(a.address)}, not an IP address`;
    if (!ip) throw new EgressRefusedError({ host: hostname, reason });
    const refused = checkAddress(ip, policy, hostname);
    if (refused) throw new EgressRefusedError(refused);
  }
  return addresses;
}

/**
 * A `lookup` for net/tls connections that only ever hands out checked addresses (see
 * {@link resolveChecked}); it answers both the single-address and the `all: true` form
 * (the latter is what happy-eyeballs connection attempts ask for).
 */
export function checkedLookup(policy: EgressPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const family =
      options.family === 4 || options.family === "IPv4" ? 4 : options.family === 6 || options.family === "IPv6" ? 6 : 0;
    resolveChecked(hostname, policy, resolve).then(
      (all) => {
        const fit = family === 0 ? all : all.filter((a) => a.family === family);
        if (fit.length === 0) {
          callback(Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: "ENOTFOUND" }), "", 0);
          return;
        }
        // LookupFunction's type names the single-address callback only; `all` wants the array
        const answerAll = callback as unknown as (err: null, all: dns.LookupAddress[]) => void;
        const list = fit.map((a) => ({ address: a.address, family: a.family }));
        if (options.all) answerAll(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
}

/** Outbound calls to caller-supplied URLs under one policy (see module doc). */
export interface Egress {
  readonly policy: EgressPolicy;
  /**
   * {@link httpRequest} to `url` after the checks: rejects with {@link EgressRefusedError} when
   * the URL is malformed or its host, or any address its name resolves to, is refused;
   * otherwise as httpRequest does.
   */
  request(url: string, opts?: HttpRequestOptions): Promise<HttpResponse>;
  /** Closes pooled sockets (node shutdown). */
  close(): void;
}

/** Outbound calls under `policy`, resolving names with `resolve` (tests inject one). */
export function createEgress(policy: EgressPolicy, resolve: Resolver = systemResolver): Egress {
  // the keep-alive settings of lib/http-client.ts; every new socket (http and https) resolves here
  const dispatcher = new Agent({ ...AGENT_OPTIONS, connect: { lookup: checkedLookup(policy, resolve) } });
  return {
    policy,
    async request(url, opts = {}) {
      const checked = checkUrl(url, policy, Number.MAX_SAFE_INTEGER);
      // an IP literal never reaches `lookup` (net connects to it directly): checkUrl covers it
      if (!checked.ok) {
        throw new EgressRefusedError(checked.refusal ?? { host: "", reason: `the URL ${checked.reason}` });
      }
      return httpRequest(url, { ...opts, dispatcher });
    },
    close() {
      // in-flight calls reject; nothing is left to report on shutdown
      dispatcher.destroy().catch(() => undefined);
    },
  };
}
