/**
 * Onboarding and user catalogs end to end: two nodes (child processes), the ID validators, the
 * identity provider and the catalog providers simulated in this process with run-time faults,
 * every call over HTTP. Every entity kind is onboarded; a validator rejects; a validator is
 * down and then recovers; the identity provider is down (the signup fails, an operator retries
 * it); a charity is not in the catalogs. Catalogs are polled by one node, stored with source and
 * version, and changes are published.
 */
import { expect } from "chai";
import pino from "pino";
import { connectNats, type NatsHandles } from "../../nats";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startRewardsSimulator, type RewardsSimulator } from "../../services/rewards/simulator";
import { cleanupRewards, freePort, json, makeClientIn, rewardsEnv, startChild, type ChildNode } from "./harness";

const at = "2026-01-01T00:00:00Z";

describe("rewards onboarding and user catalogs (two nodes, simulators with faults)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("trwo");
  let sim: RewardsSimulator;
  let nodes: ChildNode[] = [];
  let app: string;
  let admin: string;
  let nats: NatsHandles;
  let a: string;

  before(async () => {
    sim = await startRewardsSimulator({
      port: 0,
      logger: pino({ level: "silent" }),
      pageSize: 2,
      catalogs: {
        irs: [
          { id: "EIN-1", name: "Blue Line Fund", updatedAt: at },
          { id: "EIN-2", name: "Food Bank", updatedAt: at },
          { id: "EIN-3", name: "Shelter", updatedAt: at },
        ],
        hud: [{ id: "HUD-1", name: "Rivera family", updatedAt: at }],
      },
    });
    const extra = {
      REWARDS_VALIDATORS_URL: sim.url,
      REWARDS_IDP_URL: sim.url,
      REWARDS_CATALOGS_URL: sim.url,
      REWARDS_SIGNUP_DEADLINE_MS: "4000",
      REWARDS_BACKOFF_BASE_MS: "50",
      REWARDS_BACKOFF_MAX_MS: "300",
      REWARDS_CALL_TIMEOUT_MS: "1000",
      REWARDS_CATALOG_POLL_MS: "300",
      REWARDS_CATALOG_LEASE_MS: "3000",
    };
    const ports = [await freePort(), await freePort()];
    nodes = await Promise.all([
      startChild(rewardsEnv(ns, "o1", ports[0]!, extra)),
      startChild(rewardsEnv(ns, "o2", ports[1]!, extra)),
    ]);
    a = nodes[0]!.url;
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    admin = (await makeClientIn(ns, ["admin"])).apiKey;
    nats = await connectNats(NATS_URL, `test-${ns}`);
  });

  after(async () => {
    await nats?.nc.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await sim?.close();
    await cleanupRewards(ns);
  });

  const start = async (body: Record<string, unknown>) => {
    const r = await json(`${a}/api/v1/rewards/signups`, app, "POST", body);
    expect(r.status, r.text).to.equal(202);
    return r.json as { id: string; userId: string };
  };
  const status = async (id: string) => (await json(`${a}/api/v1/rewards/signups/${id}`, app, "GET")).json;
  const until = async (id: string, want: string, ms = 20_000) => {
    let last: { status?: string } = {};
    await waitFor(
      `signup ${id} ${want}`,
      async () => {
        last = await status(id);
        return last.status === want;
      },
      ms,
      50,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last ${JSON.stringify(last)}`);
    });
    return last as Record<string, unknown>;
  };

  it("polls the catalogs on one node, stores entries with source and version, and reads them by keyset pages", async function () {
    await waitFor(
      "catalogs polled",
      async () => (await json(`${a}/api/v1/rewards/catalogs/charity`, app, "GET")).json?.items?.length === 3,
      20_000,
      100,
    );
    const p1 = await json(`${a}/api/v1/rewards/catalogs/charity?limit=2`, app, "GET");
    expect(p1.json.items.map((e: { id: string }) => e.id)).to.deep.equal(["EIN-1", "EIN-2"]);
    expect(p1.json.items[0]).to.include({ provider: "irs", version: 1, kind: "charity", name: "Blue Line Fund" });
    const p2 = await json(`${a}/api/v1/rewards/catalogs/charity?limit=2&after=${p1.json.next}`, app, "GET");
    expect(p2.json.items.map((e: { id: string }) => e.id)).to.deep.equal(["EIN-3"]);
    const lease = await (await nats.kvm.open(`${ns}_rw_lease`)).get("catalogs");
    expect(["o1", "o2"]).to.include(lease?.json<{ owner: string }>().owner);

    sim.setCatalog("irs", [
      { id: "EIN-1", name: "Blue Line Fund (renamed)", updatedAt: "2026-02-01T00:00:00Z" },
      { id: "EIN-2", name: "Food Bank", updatedAt: at },
      { id: "EIN-3", name: "Shelter", updatedAt: at },
    ]);
    await waitFor(
      "change polled",
      async () =>
        (await json(`${a}/api/v1/rewards/catalogs/charity?limit=1`, app, "GET")).json?.items?.[0]?.version === 2,
      20_000,
      100,
    );
    const info = await nats.jsm.streams.info(`${ns.toUpperCase()}_RW_CATALOG`);
    expect(info.state.messages).to.equal(5); // 4 entries first seen, 1 change
  });

  it("onboards every entity kind: validated, catalog-checked, created at the identity provider, users.created published", async function () {
    const kinds = [
      { kind: "civilian", document: "ID-100" },
      { kind: "officer", document: "BADGE-7" },
      { kind: "merchant", document: "BIZ-9" },
      { kind: "charity", document: "EIN-2" },
      { kind: "family", document: "HUD-1" },
    ];
    const started = await Promise.all(
      kinds.map((k, i) => start({ ...k, name: `${k.kind} ${i}`, email: `${k.kind}@example.org` })),
    );
    for (const s of started) {
      const done = await until(s.id, "created");
      expect(done["subject"]).to.match(/^idp\|/);
      const acct = await waitFor(
        "account open",
        async () => {
          const r = await json(`${a}/api/v1/rewards/accounts/${s.userId}`, app, "GET");
          return r.status === 200 ? r.json : undefined;
        },
        10_000,
        50,
      );
      expect(acct.balance).to.equal(0);
    }
    const charity = await status(started[3]!.id);
    expect(charity.catalogEntry).to.deep.include({ provider: "irs", id: "EIN-2" });
    expect(sim.idpUsers.size).to.equal(5);
    const users = await nats.jsm.streams.info(`${ns.toUpperCase()}_USERS`);
    expect(users.state.messages).to.equal(5);
    const first = await nats.jsm.streams.getMessage(`${ns.toUpperCase()}_USERS`, { seq: 1 });
    expect(first?.subject).to.equal(`${ns}.users.created`);
    expect(Object.keys(first!.json<Record<string, unknown>>())).to.include.members([
      "userId",
      "kind",
      "subject",
      "signup",
    ]);
    // a resend of a signup id changes nothing
    const again = await json(`${a}/api/v1/rewards/signups`, app, "POST", {
      id: started[0]!.id,
      kind: "civilian",
      name: "x",
      email: "x@example.org",
      document: "ID-100",
    });
    expect(again.json.status).to.equal("created");
    expect(sim.idpUsers.size).to.equal(5);
  });

  it("rejects with the validator's reason, and a charity missing from the catalogs", async function () {
    const bad = await start({ kind: "officer", name: "Fake", email: "f@example.org", document: "REJECT-42" });
    const r = await until(bad.id, "rejected");
    expect(r["reason"]).to.match(/police: document REJECT-42 is not valid/);
    const ghost = await start({ kind: "charity", name: "Ghost", email: "g@example.org", document: "EIN-404" });
    const g = await until(ghost.id, "rejected");
    expect(g["reason"]).to.match(/no charity with id EIN-404 in the user catalogs/);
    const none = await json(`${a}/api/v1/rewards/accounts/${ghost.userId}`, app, "GET");
    expect(none.status).to.equal(404);
    const invalid = await json(`${a}/api/v1/rewards/signups`, app, "POST", {
      kind: "pirate",
      name: "x",
      email: "x@example.org",
      document: "1",
    });
    expect(invalid.status).to.equal(422);
  });

  it("keeps validating while the validator is down, and completes when it recovers", async function () {
    sim.setFault("police", { down: true });
    const before = sim.calls.police;
    const s = await start({ kind: "officer", name: "Patient", email: "p@example.org", document: "BADGE-8" });
    await waitFor("validator retried", () => Promise.resolve(sim.calls.police >= before + 3), 10_000, 20);
    expect((await status(s.id)).status).to.equal("validating");
    sim.setFault("police", { down: false });
    await until(s.id, "created");
  });

  it("fails when the identity provider stays down past the deadline; an operator retry completes it", async function () {
    sim.setFault("idp", { down: true });
    const s = await start({ kind: "civilian", name: "Late", email: "l@example.org", document: "ID-200" });
    const failed = await until(s.id, "failed");
    expect(failed["step"]).to.equal("idp");
    expect(String(failed["reason"])).to.match(/^idp:/);
    const early = await json(`${a}/api/v1/admin/rewards/signups/${s.id}/retry`, app, "POST");
    expect(early.status).to.equal(403);
    sim.setFault("idp", { down: false });
    const retried = await json(`${a}/api/v1/admin/rewards/signups/${s.id}/retry`, admin, "POST");
    expect(retried.status, retried.text).to.equal(202);
    await until(s.id, "created");
    const twice = await json(`${a}/api/v1/admin/rewards/signups/${s.id}/retry`, admin, "POST");
    expect(twice.status).to.equal(409);
  });
});
