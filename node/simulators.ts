/**
 * In dev mode, `npm start` runs the simulators of external services that the domain modules
 * declare (`simulators`) in their own process, unless SERVICES leaves them out or every
 * simulator's system has a real URL configured (each simulator says when it is `wanted`).
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config";
import type { Logger } from "../lib/logger";
import { DOMAINS } from "../services";

/** True when some domain's simulator is wanted (its external system has no real URL configured). */
function simulatorsNeeded(env: NodeJS.ProcessEnv, config: Config): boolean {
  return DOMAINS.some((d) => (d.simulators ?? []).some((s) => s.wanted(config, env)));
}

/** Forks bin/simulators.ts when wanted; resolves once it reports ready (or after 10 s). */
export async function startSimulatorsIfWanted(
  config: Config,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcess | null> {
  const script = path.join(__dirname, "..", "bin", "simulators.ts");
  if (
    !config.devMode ||
    !config.services.includes("simulators") ||
    !simulatorsNeeded(env, config) ||
    !existsSync(script)
  )
    return null;
  const child = fork(script, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  child.on("exit", (code, signal) => log.warn({ code, signal }, "simulators exited"));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    child.once("message", () => {
      clearTimeout(timer);
      resolve();
    });
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return child;
}
