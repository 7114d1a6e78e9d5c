/**
 * Rewards end to end on the real servers: two nodes as child processes (runtime, gateway,
 * rewards), clients of the gateway (an app backend with rewards:read+write, an admin), every
 * call over HTTP, plus the NATS scoring subject. Accounts, rules changed and applied on the
 * other node at once, encounters (by rule, first of the pair per day, caps), donations,
 * giveaways, refusals, resends, pending exchanges posted and voided, QR encounters with their
 * refusals, and the ledger invariant (KV balances equal the ledger sums).
 */
import { expect } from "chai";
import { connectNats, type NatsHandles } from "../../nats";
import { freshNamespace, NATS_URL } from "../support/namespace";
import { waitFor } from "../support/wait";
import { DEV_QR_SECRET } from "../../services/rewards/config";
import { issueQrToken } from "../../services/rewards/qr";
import { rewardCommands, rewardRepl } from "../../services/rewards/repl";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../node/config";
import { cleanupRewards, freePort, json, makeClientIn, rewardsEnv, startChild, type ChildNode } from "./harness";

describe("rewards end to end (two nodes, real HTTP, NATS and Postgres)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("trw");
  let nodes: ChildNode[] = [];
  let app: string;
  let admin: string;
  let nats: NatsHandles;
  let a: string;
  let b: string;
  const u = (p: string) => `${a}/api/v1/rewards${p}`;

  before(async () => {
    const ports = [await freePort(), await freePort()];
    nodes = await Promise.all([
      startChild(rewardsEnv(ns, "r1", ports[0]!)),
      startChild(rewardsEnv(ns, "r2", ports[1]!)),
    ]);
    a = nodes[0]!.url;
    b = nodes[1]!.url;
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    admin = (await makeClientIn(ns, ["admin"])).apiKey;
    nats = await connectNats(NATS_URL, `test-${ns}`);
    for (const [id, kind] of [
      ["civ1", "civilian"],
      ["civ2", "civilian"],
      ["off1", "officer"],
      ["off2", "officer"],
      ["char1", "charity"],
      ["fam1", "family"],
      ["shop1", "merchant"],
    ] as const) {
      const r = await json(u("/accounts"), app, "POST", { id, kind, name: `${kind} ${id}` });
      expect(r.status, r.text).to.equal(201);
    }
  });

  after(async () => {
    await nats?.nc.close();
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await cleanupRewards(ns);
  });

  const balance = async (id: string, url = a): Promise<number> => {
    const r = await json(`${url}/api/v1/rewards/accounts/${id}`, app, "GET");
    expect(r.status, r.text).to.equal(200);
    return r.json.balance as number;
  };
  /** Submits a transaction; a 202 (outcome not known within the wait, e.g. a cold node) is followed up until known. */
  const tx = async (body: Record<string, unknown>, url = a) => {
    const r = await json(`${url}/api/v1/rewards/transactions`, app, "POST", body);
    if (r.status !== 202) return r;
    let known = r;
    await waitFor(
      `outcome of ${String(body["id"])}`,
      async () => {
        known = await json(
          `${url}/api/v1/rewards/accounts/${String(body["from"])}/transactions/${String(body["id"])}`,
          app,
          "GET",
        );
        return known.status === 200;
      },
      20_000,
      50,
    );
    return known;
  };

  /** Waits until the ledger check is settled and OK, and answers it. */
  const checked = async () => {
    let last: unknown;
    await waitFor(
      "ledger check settled and ok",
      async () => {
        const r = await json(`${a}/api/v1/admin/rewards/check`, admin, "GET");
        last = r.json;
        return r.status === 200 && r.json.ok === true;
      },
      20_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(last)}`);
    });
    return last as { ok: boolean; mismatches: unknown[]; unbalancedLegs: number; transit: number; held: number };
  };

  it("opens accounts idempotently and refuses another kind for the same id (409)", async function () {
    const again = await json(u("/accounts"), app, "POST", { id: "civ1", kind: "civilian" });
    expect(again.status).to.equal(200);
    expect(again.json.created).to.equal(false);
    const other = await json(u("/accounts"), app, "POST", { id: "civ1", kind: "officer" });
    expect(other.status).to.equal(409);
    expect(other.json.error.code).to.equal("CONFLICT");
    const bad = await json(u("/accounts"), app, "POST", { id: "bad id!", kind: "civilian" });
    expect(bad.status).to.equal(422);
    expect(await balance("civ1")).to.equal(0);
  });

  it("refuses rule changes from non-admins and invalid rules (4xx, nothing stored)", async function () {
    const forbidden = await json(`${a}/api/v1/admin/rewards/rules`, app, "POST", {
      name: "x",
      txKind: "encounter",
      points: { from: 1 },
    });
    expect(forbidden.status).to.equal(403);
    const invalid = await json(`${a}/api/v1/admin/rewards/rules`, admin, "POST", {
      name: "x",
      txKind: "encounter",
      points: { from: -5 },
    });
    expect(invalid.status).to.equal(422);
    const cross = await json(`${a}/api/v1/admin/rewards/rules`, admin, "POST", {
      name: "x",
      txKind: "donation",
      points: { from: 1 },
      conditions: { firstEncounterOfPairPerDay: true },
    });
    expect(cross.status).to.equal(422);
    expect(cross.json.error.details[0].path).to.equal("/conditions/firstEncounterOfPairPerDay");
    const list = await json(u("/rules"), app, "GET");
    expect(list.json.items).to.deep.equal([]);
  });

  let encounterRule: string;
  it("scores encounters by the rules, first of a pair per day only, and applies a rule change on the other node at once", async function () {
    const created = await json(`${a}/api/v1/admin/rewards/rules`, admin, "POST", {
      name: "meet an officer",
      txKind: "encounter",
      points: { from: 10, to: 5 },
      conditions: { firstEncounterOfPairPerDay: true, fromKinds: ["civilian"], toKinds: ["officer"] },
    });
    expect(created.status, created.text).to.equal(201);
    encounterRule = created.json.id as string;
    expect(created.json.version).to.equal(1);
    // node b sees it (watch), then scores with it
    await waitFor(
      "rule on node b",
      async () => (await json(`${b}/api/v1/rewards/rules/${encounterRule}`, app, "GET")).status === 200,
      5000,
      20,
    );
    const first = await tx({ id: "enc-1", kind: "encounter", from: "civ1", to: "off1" }, b);
    expect(first.status, first.text).to.equal(200);
    expect(first.json).to.include({ status: "posted", fromPoints: 10, toPoints: 5 });
    expect(first.json.rules).to.deep.equal([`${encounterRule}@1`]);
    const again = await tx({ id: "enc-2", kind: "encounter", from: "civ1", to: "off1" });
    expect(again.json).to.include({ status: "posted", fromPoints: 0, toPoints: 0 });

    const updated = await json(`${a}/api/v1/admin/rewards/rules/${encounterRule}`, admin, "PUT", {
      name: "meet an officer (double)",
      txKind: "encounter",
      points: { from: 20, to: 8 },
      conditions: { firstEncounterOfPairPerDay: true },
    });
    expect(updated.status, updated.text).to.equal(200);
    expect(updated.json.version).to.equal(2);
    await waitFor(
      "version 2 in force on node b",
      async () => (await json(`${b}/api/v1/rewards/rules/${encounterRule}`, app, "GET")).json?.version === 2,
      5000,
      20,
    );
    const third = await tx({ id: "enc-3", kind: "encounter", from: "civ2", to: "off1" }, b);
    expect(third.json).to.include({ status: "posted", fromPoints: 20, toPoints: 8 });
    expect(third.json.rules).to.deep.equal([`${encounterRule}@2`]);

    await waitFor("officer credited", async () => (await balance("off1", b)) === 13, 5000, 20);
    expect(await balance("civ1")).to.equal(10);
    expect(await balance("civ2")).to.equal(20);
    const versions = await json(`${a}/api/v1/admin/rewards/rules/${encounterRule}/versions`, admin, "GET");
    expect(versions.json.items.map((v: { version: number }) => v.version)).to.deep.equal([1, 2]);
  });

  it("refuses an encounter between the wrong kinds (refused, nothing posted) and bad input (422)", async function () {
    const wrong = await tx({ id: "enc-wrong", kind: "encounter", from: "off1", to: "off2" });
    expect(wrong.status).to.equal(200);
    expect(wrong.json).to.include({ status: "refused", code: "WRONG_KIND" });
    const noAmount = await tx({ id: "don-x", kind: "donation", from: "civ1", to: "char1" });
    expect(noAmount.status).to.equal(422);
    const unknown = await tx({ id: "don-y", kind: "donation", from: "civ1", to: "nobody", amount: 1 });
    expect(unknown.status).to.equal(404);
    const extra = await tx({ id: "don-z", kind: "donation", from: "civ1", to: "char1", amount: 1, hack: true });
    expect(extra.status).to.equal(422);
  });

  it("moves a donation and a giveaway, refuses insufficient balance, and counts a resend once", async function () {
    const bonus = await json(`${a}/api/v1/admin/rewards/rules`, admin, "POST", {
      name: "donor bonus",
      txKind: "donation",
      points: { from: 2 },
      conditions: { amount: { min: 5 } },
      cap: { period: "day", maxPointsPerParty: 3 },
    });
    expect(bonus.status, bonus.text).to.equal(201);
    await waitFor(
      "bonus rule on node a",
      async () => (await json(u(`/rules/${bonus.json.id}`), app, "GET")).status === 200,
      5000,
      20,
    );
    const don = await tx({ id: "don-1", kind: "donation", from: "civ2", to: "fam1", amount: 5 });
    expect(don.json).to.include({ status: "posted", amount: 5, fromPoints: 2 });
    const resend = await tx({ id: "don-1", kind: "donation", from: "civ2", to: "fam1", amount: 5 }, b);
    expect(resend.status).to.equal(200);
    expect(resend.json).to.include({ status: "posted", duplicate: true });
    // the cap: 3 points a day from this rule, 2 already taken
    const don2 = await tx({ id: "don-2", kind: "donation", from: "civ2", to: "char1", amount: 6 });
    expect(don2.json).to.include({ status: "posted", fromPoints: 1 });
    const poor = await tx({ id: "don-3", kind: "donation", from: "civ2", to: "char1", amount: 1000 });
    expect(poor.status).to.equal(200);
    expect(poor.json).to.include({ status: "refused", code: "INSUFFICIENT_BALANCE" });
    expect(poor.json.reason).to.match(/balance 12 does not cover 1000/);

    const give = await tx({ id: "give-1", kind: "giveaway", from: "off1", to: "off2", amount: 4 });
    expect(give.json).to.include({ status: "posted", amount: 4 });
    const civGive = await tx({ id: "give-2", kind: "giveaway", from: "civ1", to: "off2", amount: 1 });
    expect(civGive.json).to.include({ status: "refused", code: "WRONG_KIND" });

    await waitFor(
      "receivers credited",
      async () => (await balance("off2")) === 4 && (await balance("fam1")) === 5,
      5000,
      20,
    );
    expect(await balance("civ2")).to.equal(20 - 5 + 2 - 6 + 1);
    expect(await balance("char1")).to.equal(6);
    expect(await balance("off1")).to.equal(9);
    const report = await checked();
    expect(report.mismatches).to.deep.equal([]);
    expect(report.unbalancedLegs).to.equal(0);
  });

  it("holds an exchange pending, then posts it to the merchant; voids another back", async function () {
    const ex = await tx({ id: "ex-1", kind: "exchange", from: "civ1", to: "shop1", amount: 3 });
    expect(ex.json).to.include({ status: "pending", amount: 3 });
    let acct = await json(u("/accounts/civ1"), app, "GET");
    expect(acct.json).to.include({ balance: 7, held: 3 });
    expect(acct.json.pending).to.deep.equal([{ tx: "ex-1", to: "shop1", amount: 3 }]);
    const posted = await json(u("/transactions/ex-1/post"), app, "POST", { from: "civ1" });
    expect(posted.json).to.include({ status: "posted" });
    const again = await json(u("/transactions/ex-1/void"), app, "POST", { from: "civ1" });
    expect(again.json).to.include({ status: "refused", code: "NOT_PENDING" });
    await waitFor("merchant paid", async () => (await balance("shop1")) === 3, 5000, 20);

    const ex2 = await tx({ id: "ex-2", kind: "exchange", from: "civ1", to: "shop1", amount: 7 });
    expect(ex2.json).to.include({ status: "pending" });
    expect(await balance("civ1")).to.equal(0);
    const voided = await json(u("/transactions/ex-2/void"), app, "POST", { from: "civ1" });
    expect(voided.json).to.include({ status: "voided" });
    acct = await json(u("/accounts/civ1"), app, "GET");
    expect(acct.json).to.include({ balance: 7, held: 0 });
    const report = await checked();
    expect(report.transit).to.equal(0);
    const ledger = await json(u("/accounts/civ1/ledger?limit=2"), app, "GET");
    expect(ledger.json.items).to.have.length(2);
    expect(ledger.json.sum).to.equal(7);
    const page2 = await json(u(`/accounts/civ1/ledger?limit=100&before=${ledger.json.next}`), app, "GET");
    const all = [...ledger.json.items, ...page2.json.items] as { amount: number }[];
    expect(all.reduce((s, p) => s + p.amount, 0)).to.equal(7);
  });

  it("encounters by QR: PNG and base64, redeemed once; replay, expired, forged and self tokens refused", async function () {
    const q = await json(u("/qr"), app, "POST", { user: "off2" });
    expect(q.status, q.text).to.equal(201);
    const png = Buffer.from(q.json.pngBase64 as string, "base64");
    expect(png.subarray(1, 4).toString("latin1")).to.equal("PNG");
    expect(q.json.dataUrl).to.match(/^data:image\/png;base64,/);
    const self = await json(u("/qr/redeem"), app, "POST", { token: q.json.token, user: "off2" });
    expect(self.status).to.equal(422);
    const sameKind = await json(u("/qr/redeem"), app, "POST", { token: q.json.token, user: "off1" });
    expect(sameKind.status).to.equal(422);
    const ok = await json(u("/qr/redeem"), app, "POST", { token: q.json.token, user: "civ2" });
    expect(ok.status, ok.text).to.equal(200);
    expect(ok.json).to.include({ status: "posted", from: "civ2", to: "off2", fromPoints: 20, toPoints: 8 });
    const replay = await json(`${b}/api/v1/rewards/qr/redeem`, app, "POST", { token: q.json.token, user: "civ2" });
    expect(replay.status).to.equal(409);
    const old = issueQrToken(DEV_QR_SECRET, "off1", "officer", Date.now() - 600_000, 1000).token;
    const expired = await json(u("/qr/redeem"), app, "POST", { token: old, user: "civ1" });
    expect(expired.status).to.equal(422);
    expect(expired.json.error.message).to.match(/expired/);
    const forged = issueQrToken(
      "another-secret-of-at-least-32-characters!!",
      "off1",
      "officer",
      Date.now(),
      60_000,
    ).token;
    const bad = await json(u("/qr/redeem"), app, "POST", { token: forged, user: "civ1" });
    expect(bad.status).to.equal(422);
  });

  it("scores through the NATS subject for other domains", async function () {
    const reply = await nats.nc.request(
      `${ns}.rewards.score`,
      JSON.stringify({ id: "nats-1", kind: "encounter", from: "civ1", to: "off2" }),
      {
        timeout: 10_000,
      },
    );
    const r = reply.json<{ ok: boolean; outcome: { status: string; fromPoints: number } }>();
    expect(r.ok).to.equal(true);
    expect(r.outcome).to.include({ status: "posted", fromPoints: 20 });
    const bad = (
      await nats.nc.request(`${ns}.rewards.score`, JSON.stringify({ id: "nats-2", kind: "encounter" }), {
        timeout: 10_000,
      })
    ).json<{
      ok: boolean;
      error: { code: string };
    }>();
    expect(bad).to.deep.include({ ok: false });
    expect(bad.error.code).to.equal("VALIDATION_ERROR");
  });

  it("answers the REPL commands: a user's balance and ledger, the rules in force, the check", async function () {
    // an operator's broker, as the REPL joins the cluster
    const broker = new ServiceBroker(
      brokerOptions(loadConfig({ NAMESPACE: ns, NATS_URL, NODE_ID: `repl-${process.pid}`, LOG_LEVEL: "warn" }), {
        logger: false,
      }),
    );
    await broker.start();
    try {
      await broker.waitForServices(["rewards"], 10_000);
      const acct = await rewardCommands.account(broker, "civ1", 5);
      expect(acct.account.balance).to.equal(await balance("civ1"));
      expect(acct.ledger.sum).to.equal(acct.account.balance);
      expect(acct.ledger.items.length).to.be.within(1, 5);
      const rules = await rewardCommands.rules(broker);
      expect(rules.items.map((r) => r.id)).to.include(encounterRule);
      const out: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
      try {
        for (const c of rewardRepl) {
          await c.action(
            broker,
            { options: {}, id: "civ1" },
            { table: (rows) => rows.map((r) => r.join(" | ")).join("\n") },
          );
        }
      } finally {
        process.stdout.write = write;
      }
      const text = out.join("");
      expect(text).to.match(/civ1 \(civilian\): balance \d+/);
      expect(text).to.include(encounterRule);
      expect(text).to.match(/^OK: \d+ accounts/m);
      // the Moleculer entry point other domains call
      const scored = await broker.call<{ status: string; fromPoints: number }, Record<string, unknown>>(
        "rewards.score",
        {
          id: "mol-1",
          kind: "encounter",
          from: "civ2",
          to: "off2",
        },
      );
      // civ2 met off2 today already (the QR encounter): posted, no points under first-of-pair-per-day
      expect(scored).to.include({ status: "posted", fromPoints: 0 });
    } finally {
      await broker.stop();
    }
  });

  it("publishes every transaction on the transactions stream, and the ledger agrees with KV", async function () {
    const info = await nats.jsm.streams.info(`${ns.toUpperCase()}_TRANSACTIONS`);
    // posted/pending/voided records (refusals are not transactions): enc-1..3, don-1, don-2, give-1,
    // ex-1 pending+posted, ex-2 pending+voided, the QR encounter, nats-1, mol-1
    expect(info.state.messages).to.equal(13);
    const report = await checked();
    expect(report.ok).to.equal(true);
    const metrics = await fetch(`${a}/metrics`).then((r) => r.text());
    expect(metrics).to.match(/switchyard_rewards_ledger_mismatches 0/);
  });
});
