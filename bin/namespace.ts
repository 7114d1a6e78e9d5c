/**
 * `npm run namespace -- drop NS [--yes]`: removes everything of namespace NS: its JetStream
 * streams, KV buckets and object stores with their consumers (NATS_URL), its Postgres schema
 * (DATABASE_URL) and its Redis keys `NS:*` (REDIS_URL). Without `--yes` it only lists what it
 * would drop and exits 1; with `--yes` it drops and lists what it dropped. Stop the namespace's
 * nodes first: a running node re-creates its streams.
 *
 *   npm run namespace -- show NS        what NS has (same list as drop without --yes, exit 0)
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { connectNats } from "../nats";
import { createPool, dropSchema } from "../db";
import { errorMessage } from "../lib/errors";
import { planNamespace, dropStreams, type NamespacePlan } from "../streams/teardown";

const USAGE = `usage: namespace <show|drop> NS [--yes]
  show NS          list the streams, KV buckets, object stores, consumers, Postgres schema and Redis keys of NS
  drop NS          the same list, and refuse (exit 1) without --yes
  drop NS --yes    drop all of it`;
const NS_RE = /^[a-z][a-z0-9]{0,15}$/;

const print = (s: string): void => void process.stdout.write(`${s}\n`);

interface Plan {
  readonly nats: NamespacePlan;
  readonly schema: { exists: boolean; tables: number };
  readonly redisKeys: readonly string[];
}

function describe(plan: Plan): void {
  const { nats, schema, redisKeys } = plan;
  for (const s of nats.streams)
    print(
      `  ${s.kind.padEnd(12)} ${s.name} (${s.messages} messages${s.consumers.length ? `; consumers: ${s.consumers.join(", ")}` : ""})`,
    );
  const consumers = nats.streams.reduce((n, s) => n + s.consumers.length, 0);
  if (schema.exists) print(`  postgres     schema "${nats.namespace}" (${schema.tables} tables)`);
  if (redisKeys.length > 0) print(`  redis        ${redisKeys.length} keys ${nats.namespace}:*`);
  print(
    `namespace ${nats.namespace}: ${nats.streams.filter((s) => s.kind === "stream").length} streams, ` +
      `${nats.streams.filter((s) => s.kind === "kv").length} KV buckets, ` +
      `${nats.streams.filter((s) => s.kind === "object store").length} object stores, ${consumers} consumers, ` +
      `${schema.exists ? "a Postgres schema" : "no Postgres schema"}, ${redisKeys.length} Redis keys`,
  );
}

async function redisKeys(redis: Redis, ns: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${ns}:*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys.sort();
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { yes: { type: "boolean", short: "y" }, help: { type: "boolean", short: "h" } },
  });
  const [command, ns] = positionals;
  if (values.help) {
    print(USAGE);
    return 0;
  }
  if ((command !== "drop" && command !== "show") || !ns || positionals.length !== 2) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (!NS_RE.test(ns)) {
    process.stderr.write(
      `namespace ${JSON.stringify(ns)}: a lower-case letter then up to 15 lower-case letters or digits\n`,
    );
    return 2;
  }
  const natsUrl = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
  const databaseUrl = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";
  const nats = await connectNats(natsUrl, `namespace-cli-${process.pid}`, 3000);
  const pg = createPool(databaseUrl, ns, 1);
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const tables = await pg.query<{ n: string }>(
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1",
      [ns],
    );
    const exists = await pg.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [ns]);
    const plan: Plan = {
      nats: await planNamespace(nats, ns),
      schema: { exists: (exists.rowCount ?? 0) > 0, tables: Number(tables.rows[0]?.n ?? 0) },
      redisKeys: await redisKeys(redis, ns),
    };
    const empty = plan.nats.streams.length === 0 && !plan.schema.exists && plan.redisKeys.length === 0;
    if (command === "show" || !values.yes || empty) {
      describe(plan);
      if (command === "show" || empty) return 0;
      print(`nothing dropped: re-run with --yes to drop all of the above (npm run namespace -- drop ${ns} --yes)`);
      return 1;
    }
    const dropped = await dropStreams(nats, plan.nats);
    if (plan.schema.exists) await dropSchema(pg, ns);
    for (let i = 0; i < plan.redisKeys.length; i += 500) await redis.del(...plan.redisKeys.slice(i, i + 500));
    describe(plan);
    const missed = plan.nats.streams.filter((s) => !dropped.includes(s.name)).map((s) => s.name);
    if (missed.length > 0) {
      print(`namespace ${ns}: NOT dropped (still there or refused): ${missed.join(", ")}`);
      return 1;
    }
    print(`namespace ${ns}: dropped`);
    return 0;
  } finally {
    await nats.nc.close().catch(() => undefined);
    await pg.end().catch(() => undefined);
    redis.disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`namespace: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
