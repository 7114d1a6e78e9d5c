/**
 * Access of end users through the gateway (issue 16 "Access"): tokens issued by the identity
 * provider simulator and verified with its JWKS. A user acts as itself (its balance, ledger, QR,
 * profile), never as another (403); a forged, tampered or expired token is 401; a merchant sees
 * only its own catalog and sales; admin routes need the admin scope. One node over real HTTP,
 * NATS and Postgres, the simulator in this process.
 */
import { expect } from "chai";
import { SignJWT, generateKeyPair } from "jose";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startRewardsSimulator, type RewardsSimulator } from "../../services/rewards/simulator";
import { createLogger } from "../../lib/logger";
import { cleanupRewards, freePort, json, makeClientIn, rewardsEnv, startChild, type ChildNode } from "./harness";

describe("rewards: end users act as themselves (identity-provider tokens, JWKS)", function () {
  this.timeout(180_000);
  const ns = freshNamespace("trwa");
  let sim: RewardsSimulator;
  let node: ChildNode;
  let u: string;
  let app: string;
  const tokens: Record<string, string> = {};

  /** Registers `id` in the identity provider, sets its password, and logs in. */
  async function login(id: string, kind: string): Promise<string> {
    if (kind === "admin") {
      expect(
        (await json(`${sim.url}/admin/idp/admins/${id}`, null, "PUT", { password: "admin-pass-1" })).status,
      ).to.equal(200);
    } else {
      const r = await json(`${sim.url}/idp/users`, null, "POST", { userId: id, email: `${id}@example.test`, kind });
      expect(r.status, r.text).to.be.oneOf([200, 201]);
    }
    const password = kind === "admin" ? "admin-pass-1" : `${id}-password`;
    if (kind !== "admin")
      expect((await json(`${sim.url}/idp/users/${id}/password`, null, "POST", { password })).status).to.equal(204);
    const t = await json(`${sim.url}/idp/token`, null, "POST", { username: id, password });
    expect(t.status, t.text).to.equal(200);
    expect(t.json.token_type).to.equal("Bearer");
    return t.json.access_token as string;
  }

  before(async () => {
    sim = await startRewardsSimulator({ port: 0, logger: createLogger({ level: "silent" }) });
    node = await startChild(
      rewardsEnv(ns, "a1", await freePort(), {
        SERVICES: "runtime,gateway,rewards,users",
        REWARDS_VALIDATORS_URL: sim.url,
        REWARDS_IDP_URL: sim.url,
        REWARDS_CATALOGS_URL: sim.url,
        END_USER_ISSUER: sim.issuer,
        END_USER_JWKS_URL: `${sim.url}/idp/jwks`,
        END_USER_SCOPES: "admin,rewards:read,rewards:write,users:read",
      }),
    );
    u = `${node.url}/api/v1`;
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    for (const [id, kind] of [
      ["civA", "civilian"],
      ["civB", "civilian"],
      ["offA", "officer"],
      ["shopA", "merchant"],
      ["shopB", "merchant"],
    ] as const) {
      const r = await json(`${u}/rewards/accounts`, app, "POST", { id, kind, name: `Name ${id}` });
      expect(r.status, r.text).to.equal(201);
      tokens[id] = await login(id, kind);
    }
    tokens["root"] = await login("root", "admin");
  });

  after(async () => {
    await node?.stop();
    await sim?.close();
    await cleanupRewards(ns);
  });

  it("a user reads its own balance and ledger (200), not another's (403)", async () => {
    const own = await json(`${u}/rewards/accounts/civA`, tokens["civA"]!, "GET");
    expect(own.status, own.text).to.equal(200);
    expect(own.json.id).to.equal("civA");
    expect((await json(`${u}/rewards/accounts/civA/ledger`, tokens["civA"]!, "GET")).status).to.equal(200);
    const other = await json(`${u}/rewards/accounts/civB`, tokens["civA"]!, "GET");
    expect(other.status, other.text).to.equal(403);
    expect(other.json.error.code).to.equal("FORBIDDEN");
    expect((await json(`${u}/rewards/accounts/civB/ledger`, tokens["civA"]!, "GET")).status).to.equal(403);
  });

  it("a user asks for its own QR (201), never for another's (403); the other party redeems it as itself", async () => {
    expect((await json(`${u}/rewards/qr`, tokens["civA"]!, "POST", { user: "civB" })).status).to.equal(403);
    const qr = await json(`${u}/rewards/qr`, tokens["civA"]!, "POST", { user: "civA" });
    expect(qr.status, qr.text).to.equal(201);
    // the officer cannot redeem in the civilian's name
    expect(
      (await json(`${u}/rewards/qr/redeem`, tokens["offA"]!, "POST", { token: qr.json.token, user: "civA" })).status,
    ).to.equal(403);
    const r = await json(`${u}/rewards/qr/redeem`, tokens["offA"]!, "POST", { token: qr.json.token, user: "offA" });
    expect(r.status, r.text).to.be.oneOf([200, 202]);
    // a transaction sent as another sender is refused before it is scored
    const tx = await json(`${u}/rewards/transactions`, tokens["offA"]!, "POST", {
      id: "acc-tx-1",
      kind: "encounter",
      from: "civA",
      to: "offA",
    });
    expect(tx.status, tx.text).to.equal(403);
  });

  it("a forged, tampered or expired token is 401", async () => {
    const other = await generateKeyPair("ES256");
    const forged = await new SignJWT({ scope: "rewards:read rewards:write users:read admin" })
      .setProtectedHeader({ alg: "ES256", kid: "forged" })
      .setIssuer(sim.issuer)
      .setAudience("switchyard")
      .setSubject("civA")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(other.privateKey);
    const f = await json(`${u}/rewards/accounts/civA`, forged, "GET");
    expect(f.status, f.text).to.equal(401);
    expect(f.json.error.code).to.equal("UNAUTHORIZED");

    // the civilian's own token with its subject changed: the signature no longer holds
    const [h, p, s] = tokens["civA"]!.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString("utf8")) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "civB" })).toString("base64url")}.${s}`;
    expect((await json(`${u}/rewards/accounts/civB`, tampered, "GET")).status).to.equal(401);

    const expired = await json(`${sim.url}/admin/idp/tokens`, null, "POST", { sub: "civA", expiresIn: -120 });
    const e = await json(`${u}/rewards/accounts/civA`, expired.json.access_token as string, "GET");
    expect(e.status, e.text).to.equal(401);
    expect(e.json.error.message).to.match(/expired/);

    const { access_token: control } = (
      await json(`${sim.url}/admin/idp/tokens`, null, "POST", { sub: "civA", expiresIn: 600 })
    ).json as { access_token: string };
    // a valid token still works (control), so the refusals above are the tokens'
    expect((await json(`${u}/rewards/accounts/civA`, control, "GET")).status).to.equal(200);
  });

  it("a merchant sees only its own catalog and sales (another merchant's: 403)", async () => {
    const p = await json(`${u}/rewards/merchants/shopA/products`, tokens["shopA"]!, "POST", {
      name: "Mug",
      price: 5,
      stock: 3,
    });
    expect(p.status, p.text).to.equal(201);
    const mine = await json(`${u}/rewards/merchants/shopA/products`, tokens["shopA"]!, "GET");
    expect(mine.status).to.equal(200);
    expect(mine.json.items.map((x: { name: string }) => x.name)).to.deep.equal(["Mug"]);
    expect((await json(`${u}/rewards/merchants/shopA/sales`, tokens["shopA"]!, "GET")).status).to.equal(200);
    const theirs = await json(`${u}/rewards/merchants/shopA/sales`, tokens["shopB"]!, "GET");
    expect(theirs.status, theirs.text).to.equal(403);
    expect((await json(`${u}/rewards/merchants/shopA/products`, tokens["shopB"]!, "GET")).status).to.equal(403);
    expect(
      (await json(`${u}/rewards/merchants/shopA/products`, tokens["shopB"]!, "POST", { name: "X", price: 1, stock: 1 }))
        .status,
    ).to.equal(403);
    // the users domain's sales query too
    await waitFor(
      "shopA in the users domain",
      async () => (await json(`${u}/users/shopA/sales`, tokens["shopA"]!, "GET")).status === 200,
      30_000,
      100,
    );
    expect((await json(`${u}/users/shopA/sales`, tokens["shopB"]!, "GET")).status).to.equal(403);
    // a civilian acting as a merchant of its own id is no merchant
    expect((await json(`${u}/rewards/merchants/civA/products`, tokens["civA"]!, "GET")).status).to.equal(404);
  });

  it("admin routes need the admin scope: an admin user manages rules, a civilian is refused", async () => {
    const body = { name: "meet", txKind: "encounter", points: { from: 1 } };
    expect((await json(`${u}/admin/rewards/rules`, tokens["civA"]!, "POST", body)).status).to.equal(403);
    const r = await json(`${u}/admin/rewards/rules`, tokens["root"]!, "POST", body);
    expect(r.status, r.text).to.equal(201);
    expect((await json(`${u}/admin/rewards/check`, tokens["root"]!, "GET")).status).to.equal(200);
    // an admin user may read any account (operators' surface)
    expect((await json(`${u}/rewards/accounts/civB`, tokens["root"]!, "GET")).status).to.equal(200);
    // end users do not open accounts or start signups (app backends do)
    expect(
      (await json(`${u}/rewards/accounts`, tokens["civA"]!, "POST", { id: "civA", kind: "civilian" })).status,
    ).to.equal(403);
  });

  it("an onboarded user logs in with the identity provider and reads its profile as itself", async () => {
    const s = await json(`${u}/rewards/signups`, app, "POST", {
      kind: "civilian",
      name: "New Person",
      email: "new@example.test",
      document: "ID-123",
    });
    expect(s.status, s.text).to.equal(202);
    const userId = s.json.userId as string;
    await waitFor(
      "signup created",
      async () => (await json(`${u}/rewards/signups/${s.json.id}`, app, "GET")).json?.status === "created",
      60_000,
      100,
    );
    expect(sim.idpUsers.has(userId)).to.equal(true);
    expect(
      (await json(`${sim.url}/idp/users/${userId}/password`, null, "POST", { password: "a-new-password" })).status,
    ).to.equal(204);
    const bad = await json(`${sim.url}/idp/token`, null, "POST", { username: userId, password: "wrong-password" });
    expect(bad.status).to.equal(401);
    const t = (await json(`${sim.url}/idp/token`, null, "POST", { username: userId, password: "a-new-password" })).json
      .access_token as string;
    expect((await json(`${u}/rewards/signups/${s.json.id}`, t, "GET")).status).to.equal(200);
    expect((await json(`${u}/rewards/accounts/${userId}`, t, "GET")).status).to.equal(200);
    await waitFor(
      "profile in the users domain",
      async () => (await json(`${u}/users/${userId}`, t, "GET")).status === 200,
      30_000,
      100,
    );
    expect((await json(`${u}/users/civA`, t, "GET")).status).to.equal(403);
  });
});
