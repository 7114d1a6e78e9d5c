/**
 * In dev mode, `npm start` runs the simulators of external services (tax, warehouse, ...) in
 * their own process, unless SERVICES leaves them out or real URLs are configured.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config";
import type { Logger } from "../lib/logger";

/** True when some external service has no real URL configured (so its simulator is needed). */
function simulatorsNeeded(env: NodeJS.ProcessEnv, config: Config): boolean {
  const real = (name: string): boolean => (env[name] ?? "").trim() !== "";
  return config.receipts.useSimulators || !real("USER_SERVICE_URL") || !real("ERP_SERVICE_URL");
}

/** Forks bin/simulators.ts when wanted; resolves once it reports ready (or after 10 s). */
export async function startSimulatorsIfWanted(config: Config, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess | null> {
  const script = path.join(__dirname, "..", "bin", "simulators.ts");
  if (!config.devMode || !config.services.includes("simulators") || !simulatorsNeeded(env, config) || !existsSync(script)) return null;
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
