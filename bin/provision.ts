/**
 * `npm run provision`: creates or updates every stream, consumer and bucket, and applies every
 * domain's Postgres migrations, then exits. Nodes do the same at start; this is for deploy
 * pipelines that want it as a separate step. Prints progress; exits non-zero on an
 * incompatible change with a line saying what and why.
 */
import { loadConfig, ConfigError } from "../node/config";
import { connectNats } from "../nats";
import { createLogger } from "../lib/logger";
import { errorMessage } from "../lib/errors";
import { createPool, migrate } from "../db";
import { topology } from "../streams/subjects";
import { provision } from "../streams/provision";
import { declName } from "../streams/declarations";
import { allDeclarations, allMigrations, assembleRuntime, declareDomains } from "../node/assemble";
import { createKeyring } from "../lib/sealed";
import { sealClientSecrets } from "../services/gateway/clients";

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId, name: "provision" });
  log.info({ namespace: config.namespace }, `provisioning namespace ${config.namespace} (NAMESPACE)`);
  const nats = await connectNats(config.natsUrl, "switchyard-provision", 3000);
  const pg = createPool(config.databaseUrl, config.namespace, 1);
  try {
    const domains = declareDomains(config, topology(config.namespace));
    const runtime = assembleRuntime(config, nats, log, domains);
    const decls = allDeclarations(runtime, domains);
    const counts = await provision(nats, decls, (d, action, i, total) =>
      log.info({ progress: `${i}/${total}`, action }, declName(d)),
    );
    const applied = await migrate(pg, config.namespace, allMigrations(domains));
    // The data step of migration gateway-0002 (the gateway also runs it at start).
    if (config.master.keys.length > 0) await sealClientSecrets(pg, createKeyring(config.master.keys), log);
    else log.warn("no master key configured (MASTER_KEYS): registry secrets are sealed when a gateway starts");
    log.info({ ...counts, migrations: applied }, "provisioned");
  } finally {
    await nats.nc.close();
    await pg.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `provisioning failed: ${errorMessage(err)}`}\n`);
  process.exit(1);
});
