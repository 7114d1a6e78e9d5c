/**
 * `npm start`: one Switchyard node with every service (SERVICES selects a subset). In dev mode
 * it also runs the simulators of external services as a child process, unless real URLs are
 * configured. SIGTERM/SIGINT drain the node: stop taking messages, finish in-flight work,
 * release partition leases so another node takes over at once.
 */
import { loadConfig, ConfigError } from "../node/config";
import { type Config } from "../config";
import { startNode, StartupError } from "../node/start";
import { createLogger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { startSimulatorsIfWanted } from "../node/simulators";

function fail(line: string, code: number): never {
  process.stderr.write(`${line}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId });
  const simulators = await startSimulatorsIfWanted(config, log);
  let node;
  try {
    node = await startNode(config, log);
  } catch (err) {
    simulators?.kill("SIGTERM");
    if (err instanceof StartupError) fail(err.message, 1);
    fail(`start-up failed: ${errorMessage(err)}`, 1);
  }
  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(1); // a second signal: stop now
    log.info({ signal }, "shutting down");
    simulators?.kill("SIGTERM");
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

process.on("unhandledRejection", (err) => {
  // Logged, never fatal: one bad request or message must not take the node down.
  process.stderr.write(`${JSON.stringify({ level: 50, msg: "unhandled rejection", err: errorMessage(err) })}\n`);
});

void main();
