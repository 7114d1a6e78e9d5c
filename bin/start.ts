/**
 * `npm start`: one Switchyard node with every service (SERVICES selects a subset). In dev mode
 * it also runs the simulators of external services as a child process, unless real URLs are
 * configured. SIGTERM/SIGINT drain the node: stop taking messages, finish in-flight work,
 * release partition leases so another node takes over at once.
 */
import { loadConfig, ConfigError } from "../node/config";
import { type Config } from "../config";
import { startNode, StartupError, type RunningNode } from "../node/start";
import pino from "pino";
import { createLogger, type Logger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { startSimulatorsIfWanted } from "../node/simulators";

function fail(line: string, code: number): never {
  process.stderr.write(`${line}\n`);
  process.exit(code);
}

/** The scopes the README's first ten minutes use (receipts, events, supporters). */
const FIRST_SCOPES = "receipts:read,receipts:write,events:read,events:write,supporters:read,supporters:write";

/** Where a browser on this machine reaches the gateway (0.0.0.0 and :: listen everywhere). */
function gatewayUrl(config: Config): string | null {
  if (!config.services.includes("gateway") || config.port === 0) return null;
  const host = ["0.0.0.0", "::", ""].includes(config.host) ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

/**
 * The end of start-up: waits (up to 30 s) until the node is ready, logs its partitions once,
 * then prints one line for a human: where the node is, its docs, and what to run first.
 */
async function announce(config: Config, node: RunningNode, log: Logger): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!node.ctx.health.report().ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  node.reportOwnership();
  const url = gatewayUrl(config);
  const ns = `NAMESPACE=${config.namespace}`;
  const line = url
    ? `Switchyard is up at ${url} (namespace ${config.namespace}); API docs: ${url}/api/docs; first, a client and its API key: ${ns} npm run -s clients -- create --name me --scopes ${FIRST_SCOPES} (README: First ten minutes)`
    : `Switchyard node ${config.nodeId} is up (namespace ${config.namespace}, services ${config.services.join(",")}, no gateway here); operator console: ${ns} npm run repl`;
  // through the logger's own stream (pino buffers its writes): after every log line before it
  const stream = (log as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym];
  if (stream) stream.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
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
  let node: RunningNode;
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
  // the node serves from here on: a signal while the closing line waits must drain it too
  await announce(config, node, log);
}

process.on("unhandledRejection", (err) => {
  // Logged, never fatal: one bad request or message must not take the node down.
  process.stderr.write(`${JSON.stringify({ level: 50, msg: "unhandled rejection", err: errorMessage(err) })}\n`);
});

void main();
