/**
 * The security agent on a production-mode node (DEV_MODE=false, its own cluster secret and master
 * key) through real HTTP, NATS, Postgres and Redis: each risky state staged for real (a
 * development secret given outside dev mode, admin clients, an old key, private webhook URLs, a
 * suspended client with live keys, a public route the policy does not allow, per-IP limits off,
 * JetStream read from a real monitoring endpoint) shows as a finding through the API, and goes
 * once the state is fixed; findings page by cursor and refuse bad input.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { freshNamespace } from "../support/namespace";
import { DEV_QR_SECRET } from "../../services/rewards/config";
import { DEFAULT_PUBLIC_ROUTES } from "../../services/agents/config";
import type { Finding } from "../../services/agents/findings";
import {
  agentEnv,
  cleanupAgents,
  findings,
  freePort,
  importClientIn,
  json,
  makeClientIn,
  sql,
  startChild,
  startMonitoredNats,
  waitForFinding,
  type ChildNode,
  type MonitoredNats,
} from "./harness";

describe("security agent (a production-mode node)", function () {
  this.timeout(180_000);
  const ns = freshNamespace("tagsec");
  const masterKey = randomBytes(32).toString("base64");
  let node: ChildNode;
  let nats: MonitoredNats;
  let admin: string;
  let adminId: string;
  const q = "agent=security&state=open";

  before(async () => {
    nats = await startMonitoredNats(`agsec${process.pid}`);
    node = await startChild(
      agentEnv(ns, "sec1", await freePort(), {
        SERVICES: "runtime,gateway,agents,rewards",
        DEV_MODE: "false",
        CLUSTER_SECRET: randomBytes(32).toString("base64"),
        MASTER_KEYS: masterKey,
        // accepted outside dev mode when given explicitly: the state the agent must catch
        REWARDS_QR_SECRET: DEV_QR_SECRET,
        REWARDS_CHECK_INTERVAL_MS: "0",
        GATEWAY_UNAUTH_PER_SEC: "0",
        EGRESS_ALLOW: "none",
        AGENTS_PUBLIC_ROUTES: DEFAULT_PUBLIC_ROUTES.filter((r) => r !== "GET /metrics").join(","),
        AGENTS_NATS_MONITOR_URL: nats.monitorUrl,
        AGENTS_KEY_MAX_AGE_DAYS: "30",
      }),
    );
    const a = await makeClientIn(ns, masterKey, ["admin"]);
    admin = a.apiKey;
    adminId = a.client.id;
  });

  after(async () => {
    await node?.stop("SIGKILL");
    await nats?.stop();
    await cleanupAgents(ns);
  });

  it("finds a development secret on a node outside dev mode (critical, an alarm)", async function () {
    const f = await waitForFinding(node.url, admin, q, (x) => x.kind === "dev-secret", "dev-secret finding");
    expect(f).to.include({ agent: "security", severity: "critical" });
    expect(f.subject).to.match(/^sec1\/rewards\.(qrSecret|devSecrets)$/);
    expect(f.detail.message).to.include("outside dev mode");
    // the detail names the setting, never its value
    expect(JSON.stringify(f)).not.to.include(DEV_QR_SECRET);
    const all = await findings(node.url, admin, `${q}&kind=dev-secret`);
    expect(all.map((x) => x.subject).sort()).to.deep.equal(["sec1/rewards.devSecrets", "sec1/rewards.qrSecret"]);
  });

  it("finds admin clients as they are created", async function () {
    const f = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "admin-client" && x.subject === adminId,
      "admin",
    );
    expect(f.severity).to.equal("medium");
    // one made over HTTP shows too (the client change notice makes the agent look at once)
    const made = await json(`${node.url}/api/v1/admin/clients`, admin, "POST", { name: "ops-2", scopes: ["admin"] });
    expect(made.status, made.text).to.equal(201);
    await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "admin-client" && x.subject === made.json.id,
      "the second admin client",
    );
  });

  it("finds keys older than AGENTS_KEY_MAX_AGE_DAYS", async function () {
    const c = await makeClientIn(ns, masterKey, ["probe:read"]);
    await sql(ns, `UPDATE client_keys SET created_at = now() - interval '45 days' WHERE client_id = $1`, [c.client.id]);
    const f = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "key-age" && x.subject.startsWith(`${c.client.id}/`),
      "key-age finding",
    );
    expect(f.detail).to.include({ clientId: c.client.id, ageDays: 45 });
  });

  it("finds webhook URLs pointing at private networks (stored past the egress policy)", async function () {
    // the registry's store checks a URL's form only (bulk imports): a private address gets in
    const priv = await importClientIn(ns, masterKey, "http://10.1.2.3/hook");
    const meta = await importClientIn(ns, masterKey, "http://169.254.169.254/latest");
    const pub = await importClientIn(ns, masterKey, "https://hooks.example.com/in");
    const a = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "webhook-private" && x.subject === priv.client.id,
      "private webhook",
    );
    expect(a).to.include({ severity: "high" });
    expect(a.detail.message).to.include("10.1.2.3");
    const b = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "webhook-private" && x.subject === meta.client.id,
      "metadata webhook",
    );
    expect(b.detail.message).to.match(/link-local|metadata/);
    const all = await findings(node.url, admin, `${q}&kind=webhook-private`);
    expect(all.map((x) => x.subject)).not.to.include(pub.client.id);
  });

  it("finds a suspended client still holding keys, and resolves it once the client is active again", async function () {
    const c = await makeClientIn(ns, masterKey, ["probe:read"]);
    const s = await json(`${node.url}/api/v1/admin/clients/${c.client.id}/suspend`, admin, "POST");
    expect(s.status, s.text).to.equal(200);
    const f = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "suspended-credentials" && x.subject === c.client.id,
      "suspended-credentials finding",
    );
    expect(f.detail["keys"]).to.have.length(1);
    expect((await json(`${node.url}/api/v1/admin/clients/${c.client.id}/activate`, admin, "POST")).status).to.equal(
      200,
    );
    const done = await waitForFinding(
      node.url,
      admin,
      "agent=security&state=resolved&kind=suspended-credentials",
      (x) => x.id === f.id,
      "suspended-credentials resolved",
    );
    expect(done.resolvedAt).to.be.a("string");
  });

  it("finds a route without auth the policy does not allow, and per-IP limits turned off", async function () {
    const pub = await waitForFinding(node.url, admin, q, (x) => x.kind === "public-route", "public-route finding");
    expect(pub).to.include({ subject: "GET /metrics", severity: "high" });
    const all = await findings(node.url, admin, `${q}&kind=public-route`);
    expect(all.map((x) => x.subject)).to.deep.equal(["GET /metrics"]);
    const off = await waitForFinding(
      node.url,
      admin,
      q,
      (x) => x.kind === "rate-limit-off" && x.subject === "GATEWAY_UNAUTH_PER_SEC",
      "rate-limit-off finding",
    );
    expect(off.severity).to.equal("medium");
  });

  it("reads JetStream's sync setting from the monitoring endpoint: 2.9 has no sync_interval: always", async function () {
    const f = await waitForFinding(node.url, admin, q, (x) => x.kind === "jetstream-sync", "jetstream-sync finding");
    expect(f.severity).to.equal("medium");
    expect(f.subject).to.equal(`jetstream/${nats.name}`);
    expect(f.detail).to.include({ readable: true, syncInterval: null });
    expect(String(f.detail["version"])).to.match(/^2\./);
  });

  it("pages findings by cursor (newest first), answers one by id, and refuses bad input", async function () {
    const p1 = await json(`${node.url}/api/v1/admin/agents/security/findings?limit=2`, admin, "GET");
    expect(p1.status, p1.text).to.equal(200);
    expect(p1.json.items).to.have.length(2);
    expect(p1.json.nextCursor).to.be.a("string");
    const seen: Finding[] = [...p1.json.items];
    let cursor: string | null = p1.json.nextCursor;
    while (cursor) {
      const p = await json(`${node.url}/api/v1/admin/agents/security/findings?limit=2&cursor=${cursor}`, admin, "GET");
      expect(p.status).to.equal(200);
      seen.push(...p.json.items);
      cursor = p.json.nextCursor;
    }
    const ids = seen.map((f) => f.id);
    expect(new Set(ids).size).to.equal(ids.length);
    expect([...ids].sort().reverse()).to.deep.equal(ids);
    expect(seen.every((f) => f.agent === "security" && f.resolvedAt === undefined)).to.equal(true);
    const one = await json(`${node.url}/api/v1/admin/agents/findings/${ids[0]}`, admin, "GET");
    expect(one.status).to.equal(200);
    expect(one.json).to.include({ id: seen[0]!.id, kind: seen[0]!.kind, subject: seen[0]!.subject });
    expect(one.json.firstSeen).to.equal(seen[0]!.firstSeen);
    const missing = await json(`${node.url}/api/v1/admin/agents/findings/af_9999999999999999999`, admin, "GET");
    expect(missing.status).to.equal(404);
    expect(missing.json.error.code).to.equal("NOT_FOUND");
    const bad = await json(`${node.url}/api/v1/admin/agents/findings?cursor=nope&severity=awful`, admin, "GET");
    expect(bad.status).to.equal(400);
    expect(bad.json.error.details.map((d: { path: string }) => d.path).sort()).to.deep.equal([
      "/query/cursor",
      "/query/severity",
    ]);
    expect((await json(`${node.url}/api/v1/admin/agents/nobody/findings`, admin, "GET")).status).to.equal(400);
    const reader = await makeClientIn(ns, masterKey, ["probe:read"]);
    expect((await json(`${node.url}/api/v1/admin/agents/findings`, reader.apiKey, "GET")).status).to.equal(403);
    expect((await json(`${node.url}/api/v1/admin/agents/findings`, null, "GET")).status).to.equal(401);
  });

  it("looks on demand: POST /api/v1/admin/agents/security/run answers what it changed", async function () {
    const r = await json(`${node.url}/api/v1/admin/agents/security/run`, admin, "POST");
    expect(r.status, r.text).to.equal(200);
    expect(r.json).to.include({ agent: "security", node: "sec1" });
    expect(r.json.updated).to.be.greaterThan(5);
  });
});
