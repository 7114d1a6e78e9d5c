/**
 * Client administration from the command line (no broker needed):
 *
 *   npm run clients -- create --name acme --scopes receipts:read,receipts:write [--webhook-url URL]
 *                               [--rate-per-sec N --rate-burst N]
 *   npm run clients -- list [--status active|suspended] [--limit N] [--after ID] [--all]
 *   npm run clients -- get --id ID
 *   npm run clients -- suspend --id ID
 *   npm run clients -- activate --id ID
 *   npm run clients -- rotate --id ID [--overlap-seconds N]
 *
 * Prints one JSON object on stdout; logs go to stderr. (`npm run` itself echoes a banner on
 * stdout: use `npm run -s clients -- ...` or `npx tsx bin/clients.ts ...` when piping.) Uses DATABASE_URL, NAMESPACE, REDIS_URL
 * and NATS_URL, runs the registry's migrations if needed, and after a change invalidates the
 * shared cache (Redis) and publishes a change notice (NATS) so running gateways apply it within
 * moments. Without Redis or NATS it still works; gateways then apply the change within their
 * cache lifetimes.
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { Redis } from "ioredis";
import { loadConfig, ConfigError } from "../node/config";
import { createPool, migrate } from "../db";
import { connectNats, type NatsHandles } from "../nats";
import { AppError, errorMessage } from "../lib/errors";
import { createKeyring } from "../lib/sealed";
import {
  clientMigrations,
  createClientStore,
  sealClientSecrets,
  createClient,
  listClients,
  getClient,
  suspendClient,
  activateClient,
  rotateClientKey,
  type ClientAdminDeps,
  type ClientRecord,
  type ClientStatus,
} from "../services/gateway/clients";

const USAGE = `usage: clients <create|list|get|suspend|activate|rotate> [options]
  create   --name NAME --scopes a:read,a:write [--webhook-url URL] [--rate-per-sec N --rate-burst N]
  list     [--status active|suspended] [--limit N] [--after ID] [--all]
  get      --id ID
  suspend  --id ID
  activate --id ID
  rotate   --id ID [--overlap-seconds N]`;

class UsageError extends Error {}

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      scopes: { type: "string" },
      "webhook-url": { type: "string" },
      "rate-per-sec": { type: "string" },
      "rate-burst": { type: "string" },
      id: { type: "string" },
      status: { type: "string" },
      limit: { type: "string" },
      after: { type: "string" },
      all: { type: "boolean" },
      "overlap-seconds": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (!["create", "list", "get", "suspend", "activate", "rotate"].includes(command))
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const needId = () => {
    if (!values.id) throw new UsageError(`${command} needs --id`);
    return values.id;
  };

  const config = loadConfig();
  const log = pino(
    { level: config.logLevel === "silent" ? "silent" : config.logLevel, base: { name: "clients-cli" } },
    pino.destination(2),
  );
  // The namespace picks the Postgres schema: a different one than the nodes' is a different registry.
  process.stderr.write(`clients: namespace ${config.namespace} (NAMESPACE; must match the nodes')\n`);
  const pg = createPool(config.databaseUrl, config.namespace, 2);
  let redis: Redis | undefined;
  let nats: NatsHandles | undefined;
  try {
    await migrate(pg, config.namespace, clientMigrations);
    const keyring = createKeyring(config.master.keys);
    await sealClientSecrets(pg, keyring, log);
    if (command !== "create" && command !== "list" && command !== "get") {
      // Only changes need the caches and the notice.
      const r = new Redis(config.redisUrl, {
        lazyConnect: true,
        connectTimeout: 2000,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
      });
      r.on("error", () => undefined);
      try {
        await r.connect();
        redis = r;
      } catch (err) {
        r.disconnect();
        log.warn(
          { err: errorMessage(err) },
          "redis unreachable: gateways will apply the change when their caches expire",
        );
      }
      try {
        nats = await connectNats(config.natsUrl, `clients-cli-${process.pid}`, 2000);
      } catch (err) {
        log.warn(
          { err: errorMessage(err) },
          "nats unreachable: no change notice; gateways apply the change within their cache TTL",
        );
      }
    }
    const deps: ClientAdminDeps = {
      store: createClientStore({ pg, keyring }),
      namespace: config.namespace,
      logger: log,
      defaultOverlapSec: config.gateway.rotateOverlapSec,
      egress: config.egress.policy,
      ...(redis ? { redis } : {}),
      ...(nats ? { nc: nats.nc } : {}),
    };
    switch (command) {
      case "create": {
        if (!values.name || !values.scopes) throw new UsageError("create needs --name and --scopes");
        const perSec = intOpt(values["rate-per-sec"], "rate-per-sec");
        const burst = intOpt(values["rate-burst"], "rate-burst");
        if ((perSec === undefined) !== (burst === undefined))
          throw new UsageError("--rate-per-sec and --rate-burst go together");
        const created = await createClient(deps, {
          name: values.name,
          scopes: values.scopes
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
          webhookUrl: values["webhook-url"] ?? null,
          rateLimit: perSec !== undefined && burst !== undefined ? { perSec, burst } : null,
        });
        out({
          id: created.client.id,
          name: created.client.name,
          scopes: created.client.scopes,
          apiKey: created.apiKey,
          webhookSecret: created.webhookSecret,
        });
        log.info({ clientId: created.client.id }, "client created; the API key and webhook secret are shown only now");
        break;
      }
      case "list": {
        const status = values.status as ClientStatus | undefined;
        if (status !== undefined && status !== "active" && status !== "suspended")
          throw new UsageError("--status must be active or suspended");
        const limit = intOpt(values.limit, "limit");
        if (values.all) {
          const items: ClientRecord[] = [];
          let after: string | undefined = values.after;
          for (;;) {
            const page = await listClients(deps, {
              limit: 1000,
              ...(after ? { after } : {}),
              ...(status ? { status } : {}),
            });
            items.push(...page.items);
            if (!page.next) break;
            after = page.next;
          }
          out({ items, next: null });
        } else {
          out(
            await listClients(deps, {
              ...(limit !== undefined ? { limit } : {}),
              ...(values.after ? { after: values.after } : {}),
              ...(status ? { status } : {}),
            }),
          );
        }
        break;
      }
      case "get":
        out(await getClient(deps, needId()));
        break;
      case "suspend":
        out(await suspendClient(deps, needId()));
        break;
      case "activate":
        out(await activateClient(deps, needId()));
        break;
      case "rotate": {
        const overlap = intOpt(values["overlap-seconds"], "overlap-seconds");
        const r = await rotateClientKey(deps, needId(), overlap !== undefined ? { overlapSec: overlap } : {});
        out({ id: r.client.id, apiKey: r.apiKey, previousKeysExpireAt: r.previousKeysExpireAt });
        break;
      }
    }
    return 0;
  } finally {
    await nats?.nc.drain().catch(() => undefined);
    redis?.disconnect();
    await pg.end().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS"))
    ) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof AppError) {
      process.stderr.write(
        `${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } })}\n`,
      );
      process.exit(1);
    }
    process.stderr.write(`clients: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
