/**
 * `npm run repl`: a Moleculer REPL on a node that joins the running cluster (same NAMESPACE and
 * NATS_URL) without hosting services. Built-in commands (`nodes`, `services`, `call`, ...) plus
 * Switchyard's: partitions, actors, streams, dlq-list, dlq-replay.
 */
import { ServiceBroker } from "moleculer";
import { loadConfig, ConfigError } from "../config";
import { brokerOptions } from "../moleculer.config";
import { replCommands } from "../node/repl-commands";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ ...process.env, NODE_ID: process.env["NODE_ID"] ?? `repl-${process.pid}`, LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn" });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const broker = new ServiceBroker(brokerOptions(config, { replOptions: { customCommands: replCommands() } as never }));
  await broker.start();
  await broker.repl();
}

void main();
