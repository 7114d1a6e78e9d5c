/**
 * `npm run backup -- --to DIR [--no-postgres]`: backs up the namespace of this environment
 * (NAMESPACE, NATS_URL, DATABASE_URL, as the nodes have them): every stream, KV bucket and object
 * store, the Postgres schema and a manifest with counts and checksums (ops/backup.ts). Works on a
 * live cluster. Progress goes to stderr (pino lines); the manifest's summary to stdout as one
 * JSON line. Exits 1 on failure (the directory then has no manifest.json).
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { loadConfig, ConfigError } from "../node/config";
import { connectNats } from "../nats";
import { errorMessage } from "../lib/errors";
import { backup } from "../ops/backup";

class UsageError extends Error {}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { to: { type: "string" }, "no-postgres": { type: "boolean" } } });
  if (!values.to) throw new UsageError("usage: backup --to DIR [--no-postgres]");
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { name: "backup" } }, pino.destination(2));
  const nats = await connectNats(config.natsUrl, "switchyard-backup", 5000);
  const t0 = Date.now();
  try {
    const m = await backup({
      nats,
      namespace: config.namespace,
      dir: values.to,
      log,
      ...(values["no-postgres"] ? {} : { databaseUrl: config.databaseUrl }),
    });
    const messages = m.streams.reduce((n, s) => n + s.messages, 0);
    const bytes = m.streams.reduce((n, s) => n + s.fileBytes, 0) + (m.postgres?.fileBytes ?? 0);
    const secs = (Date.now() - t0) / 1000;
    process.stdout.write(
      `${JSON.stringify({
        dir: values.to,
        namespace: m.namespace,
        streams: m.streams.length,
        messages,
        tables: m.postgres?.tables.length ?? 0,
        rows: m.postgres?.tables.reduce((n, t) => n + t.rows, 0) ?? 0,
        bytes,
        seconds: secs,
        messagesPerSec: Math.round(messages / secs),
      })}\n`,
    );
  } finally {
    await nats.nc.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${err instanceof ConfigError || err instanceof UsageError ? err.message : `backup failed: ${errorMessage(err)}`}\n`,
  );
  process.exit(1);
});
