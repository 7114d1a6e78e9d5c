/**
 * `npm run restore -- --from DIR [--replicas N] [--no-postgres]`: restores a backup into the
 * NATS and database of this environment (NATS_URL, DATABASE_URL), which must not hold the
 * backup's namespace yet (ops/restore.ts): checks every file against the manifest first, then
 * verifies the restored streams and tables against it. Start the nodes afterwards, with the
 * backup's NAMESPACE. Progress goes to stderr; the report to stdout as one JSON line. Exits 1
 * on failure and 3 when the restored data does not match the manifest.
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { loadConfig, ConfigError } from "../node/config";
import { connectNats } from "../nats";
import { errorMessage } from "../lib/errors";
import { restore } from "../ops/restore";

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { from: { type: "string" }, replicas: { type: "string" }, "no-postgres": { type: "boolean" } },
  });
  if (!values.from) throw new UsageError("usage: restore --from DIR [--replicas N] [--no-postgres]");
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5))
    throw new UsageError("--replicas must be 1 to 5");
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { name: "restore" } }, pino.destination(2));
  const nats = await connectNats(config.natsUrl, "switchyard-restore", 5000);
  try {
    const report = await restore({
      nats,
      dir: values.from,
      log,
      ...(replicas !== undefined ? { replicas } : {}),
      ...(values["no-postgres"] ? {} : { databaseUrl: config.databaseUrl }),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.mismatches.length === 0 ? 0 : 3;
  } finally {
    await nats.nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `${err instanceof ConfigError || err instanceof UsageError ? err.message : `restore failed: ${errorMessage(err)}`}\n`,
    );
    process.exit(1);
  },
);
