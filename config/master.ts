/**
 * The deployment's master keys (lib/sealed.ts): they seal the secrets the platform keeps in
 * Postgres (the gateway's JWT signing keys, client webhook secrets) and key the MACs of the
 * credential entries cached in Redis.
 */
import { EnvReader, type Env } from "./env";

/** Master key settings. */
export interface MasterConfig {
  /**
   * Master keys, base64 of 32 bytes each, current first (MASTER_KEYS, comma-separated; or
   * MASTER_KEY for one). The current key seals and signs; older ones are kept for opening
   * what they sealed until the node re-seals it at start.
   */
  readonly keys: readonly string[];
  /** True when none was configured and dev mode uses the well-known dev key (never in production). */
  readonly devKey: boolean;
}

/**
 * The well-known development master key (base64 of SHA-256 of "switchyard development master
 * key: never use in production"): used only in dev mode when no master key is configured, and
 * refused outside dev mode.
 */
export const DEV_MASTER_KEY = "MUFUZ1RdnNbXShF6EoM2tsQYlhPrh348E0ZLqvBG4UU=";

/** Reads the master keys; problems go to `r.problems`. */
export function masterConfig(
  r: EnvReader,
  env: Env,
  users: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): MasterConfig {
  // Read again quietly: loadConfig reports problems of DEV_MODE and SERVICES once.
  const quiet = new EnvReader(env);
  const devMode = quiet.bool("DEV_MODE", env["NODE_ENV"] !== "production");
  const services = quiet.list("SERVICES", []).map((s) => aliases[s] ?? s);
  const hosting = users.filter((u) => services.length === 0 || services.includes(u));
  const list = r.str("MASTER_KEYS", "");
  const one = r.str("MASTER_KEY", "");
  if (list !== "" && one !== "")
    r.problems.push("MASTER_KEY and MASTER_KEYS are both set: set MASTER_KEYS only (current key first)");
  const keys = (list !== "" ? list : one)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const name = list !== "" ? "MASTER_KEYS" : "MASTER_KEY";
  keys.forEach((k, i) => {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(k) || Buffer.from(k, "base64").length !== 32) {
      r.problems.push(`${name} entry ${i + 1} is invalid: expected the base64 of exactly 32 bytes (AES-256)`);
    }
  });
  if (new Set(keys).size !== keys.length) r.problems.push(`${name} lists the same key twice`);
  if (!devMode && keys.includes(DEV_MASTER_KEY)) {
    r.problems.push(`${name} holds the well-known development master key: refused outside dev mode`);
  }
  if (keys.length > 0) return { keys, devKey: false };
  if (devMode) return { keys: [DEV_MASTER_KEY], devKey: true };
  if (hosting.length > 0)
    r.problems.push(
      `MASTER_KEYS is required outside dev mode when the ${hosting.join(" or ")} service runs (base64 of 32 bytes, current first)`,
    );
  return { keys: [], devKey: false };
}
