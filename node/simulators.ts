/**
 * In dev mode, `npm start` runs the simulators of external services (tax, warehouse, ...) in
 * their own process, unless SERVICES leaves them out or real URLs are configured.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config";
import type { Logger } from "../lib/logger";

/** Forks bin/simulators.ts when wanted; resolves once it reports ready (or after 10 s). */
export async function startSimulatorsIfWanted(config: Config, log: Logger): Promise<ChildProcess | null> {
  const script = path.join(__dirname, "..", "bin", "simulators.ts");
  if (!config.devMode || !config.services.includes("simulators") || !existsSync(script)) return null;
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
