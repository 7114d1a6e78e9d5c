/**
 * Egress settings: which non-public destinations caller-supplied URLs (client webhooks,
 * X-Callback-Url) may name. Operator-configured URLs (TAX_API_URL, WAREHOUSE_API_URL, the
 * domains' downstream services) are trusted configuration and are not checked.
 */
import type { Env, EnvReader } from "./env";
import { DEV_EGRESS_ALLOW, parseEgressAllow, type EgressPolicy } from "../lib/egress";
import type { Resolver } from "../lib/egress-http";

/** Egress policy of caller-supplied URLs. */
export interface EgressConfig {
  /** The allow-list as configured (EGRESS_ALLOW), for logs. */
  readonly allow: readonly string[];
  /** The parsed allow-list. */
  readonly policy: EgressPolicy;
  /**
   * The resolver of the connect-time check. Never read from the environment: the system's
   * resolver unless an embedder or a test sets one on the loaded config.
   */
  readonly resolver?: Resolver;
}

/**
 * EGRESS_ALLOW: comma-separated host names, IP addresses and CIDR blocks that caller-supplied
 * URLs may reach although they are not public. Unset: loopback in dev mode (`npm start`'s local
 * receivers), nothing otherwise. Set and empty (or `none`): nothing, in any mode.
 */
export function egressConfig(r: EnvReader, env: Env, devMode: boolean): EgressConfig {
  const raw = env["EGRESS_ALLOW"];
  const listed = (v: string): string[] =>
    v.trim().toLowerCase() === "none"
      ? []
      : v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
  const allow = raw === undefined ? (devMode ? [...DEV_EGRESS_ALLOW] : []) : listed(raw);
  const { policy, problems } = parseEgressAllow(allow);
  for (const p of problems) r.problems.push(`EGRESS_ALLOW is invalid: ${p}`);
  return { allow, policy };
}
