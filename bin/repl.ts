/**
 * `npm run repl`: a Moleculer REPL on a node that joins the running cluster (same NAMESPACE and
 * NATS_URL) without hosting services. Built-in commands (`nodes`, `services`, `call`, ...) plus
 * Switchyard's: partitions, actors, streams, dlq-list, dlq-replay. Its calls carry an operator
 * assertion signed with CLUSTER_SECRET (node/caller-guard.ts): run it with the nodes' config.
 */
import { ServiceBroker } from "moleculer";
import { loadConfig, ConfigError } from "../node/config";
import { brokerOptions } from "../moleculer.config";
import { replCommands } from "../node/repl-commands";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({
      ...process.env,
      NODE_ID: process.env["NODE_ID"] ?? `repl-${process.pid}`,
      LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Its calls are signed as an operator with CLUSTER_SECRET from the same configuration as the nodes.
  const operator = { kind: "operator", subject: `operator@${config.nodeId}` } as const;
  const broker = new ServiceBroker(
    brokerOptions(config, { replOptions: { customCommands: replCommands() } as never }, operator),
  );
  await broker.start();
  process.stdout.write(
    `repl: namespace ${config.namespace} (NAMESPACE), NATS ${config.natsUrl.replace(/\/\/[^@/]*@/, "//***@")}; ` +
      "if `nodes` shows only this REPL, NAMESPACE or NATS_URL differs from the nodes'. `help` lists the commands\n",
  );
  // moleculer-repl starts synchronously; the broker types say void
  void broker.repl();
}

void main();
