/**
 * The node's configuration loader: the platform's settings (config/) and every domain module's
 * section, read from the environment at once, so one start reports every problem.
 */
import { loadPlatformConfig, type Config, type DomainConfigs } from "../config";
import type { Env } from "../config/env";
import { DOMAINS } from "../services";

export { ConfigError, type Config } from "../config";

/** Every name SERVICES may hold: the registry's domains and "simulators". */
export const SERVICE_NAMES: readonly string[] = [...DOMAINS.map((d) => d.name), "simulators"];

/** Reads and validates the whole configuration from `env` (default `process.env`); throws ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  return loadPlatformConfig(env, {
    services: SERVICE_NAMES,
    masterKeyUsers: DOMAINS.filter((d) => d.needsMasterKey).map((d) => d.name),
    sections: (r, e, platform) => {
      const out: Record<string, unknown> = {};
      for (const d of DOMAINS) if (d.config) out[d.name] = d.config(r, e, platform);
      // each domain's section is typed by its own module augmentation of DomainConfigs
      return out as unknown as DomainConfigs;
    },
  });
}
