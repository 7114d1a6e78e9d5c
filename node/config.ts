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

/** A domain's key in the configuration: its name in camelCase ("foo-bar" -> "fooBar"). */
export function configKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Reads and validates the whole configuration from `env` (default `process.env`); throws ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  return loadPlatformConfig(env, {
    services: SERVICE_NAMES,
    aliases: Object.fromEntries(DOMAINS.flatMap((d) => (d.aliases ?? []).map((a) => [a, d.name]))),
    masterKeyUsers: DOMAINS.filter((d) => d.needsMasterKey).map((d) => d.name),
    sections: (r, e, platform) => {
      const out: Record<string, unknown> = {};
      for (const d of DOMAINS) if (d.config) out[configKey(d.name)] = d.config(r, e, platform);
      // each domain's section is typed by its own module augmentation of DomainConfigs
      return out as unknown as DomainConfigs;
    },
  });
}
