/**
 * `npm run namespace -- drop NS`: without --yes it names what it would drop and drops nothing
 * (exit 1); with --yes it removes the namespace's streams (and their consumers), KV buckets,
 * object stores, Postgres schema and Redis keys, and nothing of a namespace whose name merely
 * starts with the same letters.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { Redis } from "ioredis";
import { AckPolicy } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connectNats, type NatsHandles } from "../../nats";
import { createPool } from "../../db";
import { cleanupNamespace, freshNamespace, DATABASE_URL, NATS_URL, REDIS_URL } from "../support/namespace";

const ROOT = path.resolve(__dirname, "..", "..");

function cli(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "bin", "namespace.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, NATS_URL, DATABASE_URL, REDIS_URL } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

async function streamNames(h: NatsHandles): Promise<string[]> {
  const names: string[] = [];
  for await (const n of h.jsm.streams.names()) names.push(n);
  return names;
}

describe("namespace teardown CLI", function () {
  this.timeout(60_000);
  const ns = freshNamespace("td").slice(0, 10);
  const sibling = `${ns}x`; // starts with ns: must survive
  let h: NatsHandles;
  let redis: Redis;

  async function populate(name: string): Promise<void> {
    const NS = name.toUpperCase();
    await h.jsm.streams.add({ name: `${NS}_THINGS`, subjects: [`${name}.things.>`] });
    await h.jsm.consumers.add(`${NS}_THINGS`, { durable_name: "c1", ack_policy: AckPolicy.Explicit });
    await h.js.publish(`${name}.things.a`, "1");
    await (await h.kvm.create(`${name}_state`)).put("k", "v");
    await (await new Objm(h.nc).create(`${name}_files`)).putBlob({ name: "f" }, new Uint8Array([1, 2, 3]));
    const pg = createPool(DATABASE_URL, name, 1);
    await pg.query(`CREATE SCHEMA IF NOT EXISTS ${name}; CREATE TABLE IF NOT EXISTS ${name}.t (id int)`);
    await pg.end();
    await redis.set(`${name}:gw:key:k1`, "x", "EX", 600);
  }

  async function present(name: string): Promise<{ streams: string[]; schema: boolean; redis: number }> {
    const all = await streamNames(h);
    const streams = all.filter(
      (n) => n.startsWith(`${name.toUpperCase()}_`) || n.startsWith(`KV_${name}_`) || n.startsWith(`OBJ_${name}_`),
    );
    const pg = createPool(DATABASE_URL, name, 1);
    const r = await pg.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [name]);
    await pg.end();
    return { streams: streams.sort(), schema: (r.rowCount ?? 0) > 0, redis: await redis.exists(`${name}:gw:key:k1`) };
  }

  before(async () => {
    h = await connectNats(NATS_URL, `test-teardown-${ns}`);
    redis = new Redis(REDIS_URL);
    await populate(ns);
    await populate(sibling);
  });

  after(async () => {
    await redis.del(`${ns}:gw:key:k1`, `${sibling}:gw:key:k1`);
    redis.disconnect();
    await h.nc.close();
    await cleanupNamespace(ns);
    await cleanupNamespace(sibling);
  });

  it("refuses without --yes, naming everything it would drop", async () => {
    const r = await cli("drop", ns);
    expect(r.code, r.out).to.equal(1);
    for (const name of [`${ns.toUpperCase()}_THINGS`, "c1", `KV_${ns}_state`, `OBJ_${ns}_files`, `schema "${ns}"`])
      expect(r.out).to.contain(name);
    expect(r.out).to.contain("1 Redis keys").and.contain("--yes").and.not.contain(sibling.toUpperCase());
    const p = await present(ns);
    expect(p.streams).to.have.length(3);
    expect(p.schema).to.equal(true);
    expect(p.redis).to.equal(1);
  });

  it("refuses a name that is not a namespace", async () => {
    const r = await cli("drop", "Bad_Name", "--yes");
    expect(r.code).to.equal(2);
    expect(r.out).to.contain("lower-case letter");
  });

  it("drops streams, consumers, KV buckets, object stores, the schema and Redis keys with --yes, and nothing else", async () => {
    const r = await cli("drop", ns, "--yes");
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.contain(`namespace ${ns}: dropped`);
    expect(await present(ns)).to.deep.equal({ streams: [], schema: false, redis: 0 });
    const s = await present(sibling);
    expect(s.streams).to.have.length(3);
    expect(s.schema).to.equal(true);
    expect(s.redis).to.equal(1);
    const again = await cli("drop", ns);
    expect(again.code, "an empty namespace: nothing to refuse").to.equal(0);
    expect(again.out).to.contain("0 streams, 0 KV buckets, 0 object stores, 0 consumers, no Postgres schema");
  });
});
