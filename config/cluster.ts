/**
 * The cluster's own secret: every node, the REPL and the operator tools share CLUSTER_SECRET and
 * sign the caller assertion of their Moleculer calls with it (gateway/caller.ts). A process on
 * NATS without it cannot run any action.
 */
import { EnvReader, type Env } from "./env";

/** Settings shared by every member of the cluster. */
export interface ClusterConfig {
  /** HMAC-SHA256 key of caller assertions (CLUSTER_SECRET), at least 32 characters. */
  readonly secret: string;
  /** True when the well-known development secret is in use (dev mode only, never in production). */
  readonly devSecret: boolean;
}

/**
 * The well-known development cluster secret, used only in dev mode when CLUSTER_SECRET is unset.
 * Anyone can sign operator assertions with it: outside dev mode it is refused.
 */
export const DEV_CLUSTER_SECRET = "switchyard-dev-cluster-secret-do-not-use-in-production";

/** Reads CLUSTER_SECRET; problems go to `r.problems`. Outside dev mode it is required and must not be the dev one. */
export function clusterConfig(r: EnvReader, env: Env): ClusterConfig {
  // Read DEV_MODE quietly: loadConfig reports its problems once.
  const devMode = new EnvReader(env).bool("DEV_MODE", env["NODE_ENV"] !== "production");
  const given = r.str("CLUSTER_SECRET", "");
  if (given === "") {
    if (devMode) return { secret: DEV_CLUSTER_SECRET, devSecret: true };
    r.problems.push(
      "CLUSTER_SECRET is required outside dev mode (at least 32 characters, the same on every node, e.g. `openssl rand -base64 32`)",
    );
    return { secret: "", devSecret: false };
  }
  if (given === DEV_CLUSTER_SECRET) {
    if (!devMode)
      r.problems.push("CLUSTER_SECRET is the well-known development secret: set a secret of your own outside dev mode");
    return { secret: given, devSecret: true };
  }
  if (given.length < 32) r.problems.push("CLUSTER_SECRET is invalid: expected at least 32 characters");
  return { secret: given, devSecret: false };
}
