/**
 * Issue 11, item 8: secrets at rest. Through a real node (HTTP gateway, Postgres, Redis):
 * - no column of the namespace's schema holds the private signing key (its JWK "d") or a client's
 *   webhook secret, and nothing read from the tables is a JWK that mints a token the gateway takes;
 * - a credential entry planted, copied or forged in Redis is not trusted (401, or the true scopes)
 *   and is replaced;
 * - a database of the previous version (plaintext rows) is sealed when the node starts, and keeps
 *   working: the old signing key still signs, the webhook secret still reads.
 */
import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  importJWK,
  calculateJwkThumbprint,
  jwtVerify,
  decodeProtectedHeader,
  type JWK,
} from "jose";
import { createPool, migrate, quoteIdent, type Pool } from "../../db";
import { clientMigrations, createClientStore, type CreatedClient } from "../../services/gateway/clients";
import { newApiKey, newClientId, newWebhookSecret } from "../../services/gateway/clients/keys";
import { redisClientEntry, redisKeyEntry } from "../../services/gateway/clients/cache";
import { signingKeyContext, sealClientSecrets } from "../../services/gateway/clients/secrets";
import { DEV_MASTER_KEY } from "../../config/master";
import { createKeyring } from "../../lib/sealed";
import { DATABASE_URL, REDIS_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startGatewayNode, makeClient, request, cleanupAll, type GatewayNode } from "../gateway/harness";

/** The nodes of this test run with dev defaults, so with the dev master key. */
const keyring = createKeyring([DEV_MASTER_KEY]);

/** Every "table.column" of `schema` whose text form contains `needle` (all tables, found through information_schema). */
async function columnsHolding(pg: Pool, schema: string, needle: string): Promise<string[]> {
  const cols = await pg.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' ORDER BY 1, 2`,
    [schema],
  );
  expect(cols.rows.length, "the schema has columns to scan").to.be.greaterThan(0);
  const hits: string[] = [];
  for (const { table_name: t, column_name: c } of cols.rows) {
    const r = await pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(t)} WHERE strpos(${quoteIdent(c)}::text, $1) > 0`,
      [needle],
    );
    if (Number(r.rows[0]!.n) > 0) hits.push(`${t}.${c}`);
  }
  return hits;
}

/** The forms a secret's bytes could be stored in (as given, base64, base64url, hex). */
function formsOf(secret: string, b64: string): string[] {
  const bytes = Buffer.from(b64, b64.includes("-") || b64.includes("_") ? "base64url" : "base64");
  return [
    ...new Set([
      secret,
      b64,
      bytes.toString("base64").replace(/=+$/, ""),
      bytes.toString("base64url"),
      bytes.toString("hex"),
    ]),
  ];
}

/** Every value of every row of `table` (jsonb comes back parsed, the rest as text). */
async function rowValues(
  pg: Pool,
  schema: string,
  table: string,
): Promise<{ row: Record<string, unknown>; values: unknown[] }[]> {
  const res = await pg.query<Record<string, unknown>>(`SELECT * FROM ${quoteIdent(schema)}.${quoteIdent(table)}`);
  return res.rows.map((row) => ({ row, values: Object.values(row) }));
}

/** Private EC JWKs found in the values as stored: objects, or JSON text. */
function privateJwksIn(values: readonly unknown[]): JWK[] {
  const out: JWK[] = [];
  for (const v of values) {
    let o: unknown = v;
    if (typeof v === "string") {
      try {
        o = JSON.parse(v);
      } catch {
        continue;
      }
    }
    if (o && typeof o === "object" && typeof (o as JWK).d === "string") out.push(o as JWK);
  }
  return out;
}

/** A token for `clientId` with scope admin, signed with `jwk` as if by the gateway. */
async function mint(jwk: JWK, kid: string, ns: string, clientId: string): Promise<string | undefined> {
  let key;
  try {
    key = await importJWK(jwk, "ES256");
  } catch {
    return undefined;
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: clientId, scope: "admin" })
    .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
    .setIssuer(`switchyard:${ns}`)
    .setAudience(`switchyard:${ns}`)
    .setSubject(clientId)
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + 300)
    .setJti(`forged-${now}`)
    .sign(key);
}

const adminList = (gw: GatewayNode, bearer: string) =>
  request(`${gw.url}/api/v1/admin/clients`, { headers: { authorization: `Bearer ${bearer}` } });

describe("security: secrets at rest (issue 11, item 8)", function () {
  this.timeout(120_000);

  describe("a fresh namespace", function () {
    const ns = freshNamespace("tsec");
    let gw: GatewayNode;
    let pg: Pool;
    let redis: Redis;
    let admin: CreatedClient;
    let created: { id: string; webhookSecret: string; apiKey: string };

    before(async function () {
      gw = await startGatewayNode({ ns, nodeId: "sec1" });
      pg = createPool(DATABASE_URL, ns, 2);
      redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      admin = await makeClient(gw.admin, { name: "sec-admin", scopes: ["admin"] });
      // A client created through the HTTP API: its webhook secret is shown once, in this answer.
      const r = await request(`${gw.url}/api/v1/admin/clients`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "sec-reader", scopes: ["receipts:read"] }),
      });
      expect(r.status, r.text).to.equal(201);
      created = r.json as typeof created;
      expect(created.webhookSecret).to.match(/^whsec_/);
      // The node has made its signing key: a token exchange uses it.
      const t = await request(`${gw.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: admin.client.id,
          client_secret: admin.apiKey,
        }).toString(),
      });
      expect(t.status, t.text).to.equal(200);
    });

    after(async function () {
      redis?.disconnect();
      await pg?.end();
      await gw?.stop();
      await cleanupAll(ns);
    });

    it("no column of the schema holds the webhook secret", async function () {
      for (const form of formsOf(created.webhookSecret, created.webhookSecret.slice("whsec_".length))) {
        expect(await columnsHolding(pg, ns, form), `columns holding ${form.slice(0, 12)}...`).to.deep.equal([]);
      }
      // ... and it is still the client's secret for signing its webhooks.
      const stored = await createClientStore({ pg, keyring }).webhookOf(created.id);
      expect(stored?.secret).to.equal(created.webhookSecret);
    });

    it("no column holds the signing key's private part, and nothing stored mints a token the gateway accepts", async function () {
      const rows = await rowValues(pg, ns, "gateway_signing_keys");
      expect(rows.length, "the node stored its signing key").to.equal(1);
      const kid = String(rows[0]!.row["kid"]);
      // The private key as the tables give it away (old versions: the JWK itself) ...
      const exposed = privateJwksIn(rows[0]!.values);
      // ... and as the master key opens it (to know which "d" to look for).
      const opened = rows[0]!.values.flatMap((v) => {
        try {
          return typeof v === "string" ? [JSON.parse(keyring.openText(v, signingKeyContext(kid))) as JWK] : [];
        } catch {
          return [];
        }
      });
      const ds = [...new Set([...exposed, ...opened].map((j) => j.d!))];
      expect(ds.length, "the private key was found (in the clear or sealed)").to.be.greaterThan(0);
      for (const d of ds) {
        for (const form of formsOf(d, d))
          expect(await columnsHolding(pg, ns, form), `columns holding d=${form.slice(0, 8)}...`).to.deep.equal([]);
      }
      // Whatever the row holds, used as a JWK, makes no token the gateway takes.
      const accepted: string[] = [];
      for (const jwk of exposed) {
        const token = await mint(jwk, kid, ns, admin.client.id);
        if (token && (await adminList(gw, token)).status === 200) accepted.push(kid);
      }
      expect(accepted, "tokens minted from what Postgres holds were accepted").to.deep.equal([]);
      expect(exposed, "usable private JWKs in the table").to.deep.equal([]);
    });

    it("a forged client entry planted in Redis under a real cache key gives no admin: 403 with the true scopes, entry replaced", async function () {
      const victim = await makeClient(gw.admin, { name: "sec-victim", scopes: ["receipts:read"] });
      const rk = redisClientEntry(ns, victim.client.id);
      const forged = JSON.stringify({
        id: victim.client.id,
        scopes: ["admin"],
        status: "active",
        rateLimit: null,
        version: Number.MAX_SAFE_INTEGER,
      });
      await redis.set(rk, forged, "EX", 300);
      const r = await adminList(gw, victim.apiKey);
      expect(r.status, r.text).to.equal(403);
      const now = await waitFor("the forged entry replaced", async () => {
        const v = await redis.get(rk);
        return v !== null && v !== forged ? v : undefined;
      });
      expect(now).to.include('"receipts:read"').and.not.include('"admin"');
      // A forged entry in the current format with a made-up MAC fares no better.
      const victim2 = await makeClient(gw.admin, { name: "sec-victim2", scopes: ["receipts:read"] });
      const rk2 = redisClientEntry(ns, victim2.client.id);
      const json = JSON.stringify({
        id: victim2.client.id,
        scopes: ["admin"],
        status: "active",
        rateLimit: null,
        version: Number.MAX_SAFE_INTEGER,
      });
      const forged2 = `m1.${keyring.currentId}.${Buffer.alloc(32, 7).toString("base64url")}.${json}`;
      await redis.set(rk2, forged2, "EX", 300);
      expect((await adminList(gw, victim2.apiKey)).status).to.equal(403);
      const now2 = await waitFor("the second forged entry replaced", async () => {
        const v = await redis.get(rk2);
        return v !== null && v !== forged2 ? v : undefined;
      });
      expect(now2).to.include('"receipts:read"').and.not.include('"admin"');
    });

    it("a genuine entry copied under another client's cache key is not accepted", async function () {
      // The admin has authenticated, so its own genuine client entry is in Redis.
      expect((await adminList(gw, admin.apiKey)).status).to.equal(200);
      const adminRaw = await waitFor("the admin's entry cached in redis", () =>
        redis.get(redisClientEntry(ns, admin.client.id)),
      );
      const victim = await makeClient(gw.admin, { name: "sec-victim3", scopes: ["receipts:read"] });
      const rk = redisClientEntry(ns, victim.client.id);
      await redis.set(rk, adminRaw, "EX", 300);
      const r = await adminList(gw, victim.apiKey);
      expect(r.status, r.text).to.equal(403);
      const now = await waitFor("the copied entry replaced", async () => {
        const v = await redis.get(rk);
        return v !== null && v !== adminRaw ? v : undefined;
      });
      expect(now).to.include(victim.client.id).and.not.include('"admin"');
    });

    it("a key entry planted for a key id Postgres does not know is refused (401) and deleted", async function () {
      const keyId = "00c0ffee00c0ffee";
      const apiKey = `sy_live_${keyId}_${Buffer.alloc(32, 1).toString("base64url")}`;
      const rk = redisKeyEntry(ns, keyId);
      await redis.set(
        rk,
        JSON.stringify({
          keyId,
          clientId: admin.client.id,
          hash: createHash("sha256").update(apiKey).digest("hex"),
          expiresAt: null,
          version: Number.MAX_SAFE_INTEGER,
        }),
        "EX",
        300,
      );
      const r = await adminList(gw, apiKey);
      expect(r.status, r.text).to.equal(401);
      await waitFor("the planted key entry deleted", async () => (await redis.exists(rk)) === 0);
    });
  });

  describe("a database of the previous version (secrets in the clear)", function () {
    const ns = freshNamespace("tsec");
    let gw: GatewayNode;
    let pg: Pool;
    const legacy = { clientId: newClientId(), key: newApiKey(), secret: newWebhookSecret() };
    let legacyPriv: JWK;
    let legacyPub: JWK;
    let legacyKid: string;

    before(async function () {
      pg = createPool(DATABASE_URL, ns, 2);
      // The schema as the first version made it, and rows as it wrote them.
      await migrate(
        pg,
        ns,
        clientMigrations.filter((m) => m.id === "gateway-0001"),
      );
      const pair = await generateKeyPair("ES256", { extractable: true });
      legacyPriv = await exportJWK(pair.privateKey);
      legacyPub = await exportJWK(pair.publicKey);
      legacyKid = await calculateJwkThumbprint(legacyPub);
      await pg.query(
        `INSERT INTO gateway_signing_keys (kid, alg, private_jwk, public_jwk) VALUES ($1, 'ES256', $2, $3)`,
        [legacyKid, legacyPriv, legacyPub],
      );
      await pg.query(`INSERT INTO clients (id, name, scopes, webhook_secret) VALUES ($1, 'legacy', '{admin}', $2)`, [
        legacy.clientId,
        legacy.secret,
      ]);
      await pg.query(`INSERT INTO client_keys (key_id, client_id, key_hash) VALUES ($1, $2, $3)`, [
        legacy.key.keyId,
        legacy.clientId,
        legacy.key.hash,
      ]);
      expect(
        await columnsHolding(pg, ns, legacyPriv.d!),
        "the plaintext key is there before the upgrade",
      ).to.deep.equal(["gateway_signing_keys.private_jwk"]);
      // The upgraded node starts on it.
      gw = await startGatewayNode({ ns, nodeId: "sec2" });
    });

    after(async function () {
      await pg?.end();
      await gw?.stop();
      await cleanupAll(ns);
    });

    it("holds neither the old private key nor the old webhook secret anywhere once the node started", async function () {
      for (const form of formsOf(legacyPriv.d!, legacyPriv.d!))
        expect(await columnsHolding(pg, ns, form)).to.deep.equal([]);
      for (const form of formsOf(legacy.secret, legacy.secret.slice("whsec_".length)))
        expect(await columnsHolding(pg, ns, form)).to.deep.equal([]);
      const rows = await rowValues(pg, ns, "gateway_signing_keys");
      expect(privateJwksIn(rows.flatMap((r) => r.values)), "usable private JWKs in the table").to.deep.equal([]);
    });

    it("keeps working: the old key still signs tokens, the webhook secret still reads, and sealing again changes nothing", async function () {
      const t = await request(`${gw.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: legacy.clientId,
          client_secret: legacy.key.key,
        }).toString(),
      });
      expect(t.status, t.text).to.equal(200);
      const token = (t.json as { access_token: string }).access_token;
      expect(decodeProtectedHeader(token).kid).to.equal(legacyKid);
      await jwtVerify(token, await importJWK(legacyPub, "ES256"), {
        issuer: `switchyard:${ns}`,
        audience: `switchyard:${ns}`,
      });
      expect((await adminList(gw, token)).status).to.equal(200);
      expect((await createClientStore({ pg, keyring }).webhookOf(legacy.clientId))?.secret).to.equal(legacy.secret);
      const snapshot = async () =>
        JSON.stringify([await rowValues(pg, ns, "clients"), await rowValues(pg, ns, "gateway_signing_keys")]);
      const before = await snapshot();
      expect(await sealClientSecrets(pg, keyring)).to.deep.equal({ sealed: 0, resealed: 0, unreadable: 0 });
      expect(await snapshot()).to.equal(before);
    });

    it("re-seals everything under a new current master key, after which the old key is no longer needed", async function () {
      const next = randomBytes(32).toString("base64");
      expect(await sealClientSecrets(pg, createKeyring([next, DEV_MASTER_KEY]))).to.deep.equal({
        sealed: 0,
        resealed: 2,
        unreadable: 0,
      });
      const onlyNext = createKeyring([next]);
      expect((await createClientStore({ pg, keyring: onlyNext }).webhookOf(legacy.clientId))?.secret).to.equal(
        legacy.secret,
      );
      const row = (await rowValues(pg, ns, "gateway_signing_keys"))[0]!;
      const opened = row.values.filter((v): v is string => typeof v === "string" && v.startsWith("sy1."));
      expect(opened.map((v) => JSON.parse(onlyNext.openText(v, signingKeyContext(legacyKid))).d)).to.deep.equal([
        legacyPriv.d,
      ]);
    });
  });
});
