/**
 * The users domain end to end: one node hosting the rewards and users domains; users and
 * transactions made through the rewards routes reach the users domain through the users and
 * transactions streams, and the seed's queries answer the right rows with keyset pages.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  cleanupRewards,
  freePort,
  json,
  makeClientIn,
  rewardsEnv,
  startChild,
  type ChildNode,
} from "../rewards/harness";

describe("users domain queries (fed from the users and transactions streams)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tusr");
  let node: ChildNode;
  let app: string;
  let reader: string;
  let admin: string;
  let u: string;

  const tx = async (body: Record<string, unknown>, want: string) => {
    const r = await json(`${u}/rewards/transactions`, app, "POST", body);
    expect(r.json?.status, r.text).to.equal(want);
  };

  before(async () => {
    node = await startChild(rewardsEnv(ns, "u1", await freePort(), { SERVICES: "runtime,gateway,rewards,users" }));
    u = `${node.url}/api/v1`;
    app = (await makeClientIn(ns, ["rewards:read", "rewards:write"])).apiKey;
    reader = (await makeClientIn(ns, ["users:read"])).apiKey;
    admin = (await makeClientIn(ns, ["admin"])).apiKey;
    for (const [id, kind] of [
      ["civ", "civilian"],
      ["civ2", "civilian"],
      ["offA", "officer"],
      ["offB", "officer"],
      ["offC", "officer"],
      ["fam", "family"],
      ["shop", "merchant"],
    ] as const)
      expect((await json(`${u}/rewards/accounts`, app, "POST", { id, kind, name: `Name ${id}` })).status).to.equal(201);
    const rule = await json(`${u}/admin/rewards/rules`, admin, "POST", {
      name: "meet",
      txKind: "encounter",
      points: { from: 100 },
    });
    await waitFor(
      "rule",
      async () => (await json(`${u}/rewards/rules/${rule.json.id}`, app, "GET")).status === 200,
      5000,
      20,
    );
    await tx({ id: "e1", kind: "encounter", from: "civ", to: "offA" }, "posted");
    await tx({ id: "e2", kind: "encounter", from: "civ", to: "offB" }, "posted");
    await tx({ id: "e3", kind: "encounter", from: "civ", to: "offA" }, "posted");
    await tx({ id: "e4", kind: "encounter", from: "civ2", to: "offC" }, "posted");
    await tx({ id: "d1", kind: "donation", from: "civ", to: "fam", amount: 10 }, "posted");
    await tx({ id: "d2", kind: "donation", from: "civ2", to: "fam", amount: 20 }, "posted");
    await tx({ id: "d3", kind: "donation", from: "civ", to: "fam", amount: 30 }, "posted");
    await tx({ id: "d4", kind: "donation", from: "civ", to: "fam", amount: 100000 }, "refused");
    await tx({ id: "x1", kind: "exchange", from: "civ", to: "shop", amount: 5, memo: "coffee" }, "pending");
    await tx({ id: "x2", kind: "exchange", from: "civ", to: "shop", amount: 7, memo: "tea" }, "pending");
    expect((await json(`${u}/rewards/transactions/x1/post`, app, "POST", { from: "civ" })).json.status).to.equal(
      "posted",
    );
    expect((await json(`${u}/rewards/transactions/x2/void`, app, "POST", { from: "civ" })).json.status).to.equal(
      "voided",
    );
    let last = "";
    await waitFor(
      "users domain fed",
      async () => {
        const [s, d] = [
          await json(`${u}/users/shop/sales`, reader, "GET"),
          await json(`${u}/users/fam/donations`, reader, "GET"),
        ];
        last = `${s.text} ${d.text}`;
        return s.json?.count === 1 && d.json?.count === 3;
      },
      20_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${last}`);
    });
  });

  after(async () => {
    await node?.stop("SIGKILL");
    await cleanupRewards(ns);
  });

  it("answers a user's profile, 404 for unknown users, 403 without the scope", async function () {
    const p = await json(`${u}/users/offA`, reader, "GET");
    expect(p.json).to.include({ id: "offA", kind: "officer", name: "Name offA" });
    expect((await json(`${u}/users/nobody`, reader, "GET")).status).to.equal(404);
    expect((await json(`${u}/users/offA`, app, "GET")).status).to.equal(403);
  });

  it("lists every officer a civilian has met, in keyset pages", async function () {
    const p1 = await json(`${u}/users/civ/officers-met?limit=1`, reader, "GET");
    expect(p1.json.items).to.have.length(1);
    expect(p1.json.items[0]).to.include({ officer: "offA", encounters: 2, name: "Name offA" });
    const p2 = await json(`${u}/users/civ/officers-met?limit=1&after=${p1.json.next}`, reader, "GET");
    expect(p2.json.items.map((x: { officer: string }) => x.officer)).to.deep.equal(["offB"]);
    const p3 = await json(`${u}/users/civ/officers-met?limit=1&after=${p2.json.next}`, reader, "GET");
    expect(p3.json.items).to.deep.equal([]);
    expect((await json(`${u}/users/offA/officers-met`, reader, "GET")).status).to.equal(404);
  });

  it("lists the donations to a family, newest first, in keyset pages (refusals are not donations)", async function () {
    const p1 = await json(`${u}/users/fam/donations?limit=2`, reader, "GET");
    expect(p1.json.items.map((x: { id: string }) => x.id)).to.deep.equal(["d3", "d2"]);
    expect(p1.json).to.include({ count: 3, points: 60 });
    const p2 = await json(`${u}/users/fam/donations?limit=2&before=${p1.json.next}`, reader, "GET");
    expect(p2.json.items.map((x: { id: string; from: string }) => [x.id, x.from])).to.deep.equal([["d1", "civ"]]);
  });

  it("counts the goods a merchant sold (posted exchanges only)", async function () {
    const s = await json(`${u}/users/shop/sales`, reader, "GET");
    expect(s.json).to.include({ count: 1, points: 5 });
    expect(s.json.items[0]).to.include({ id: "x1", memo: "coffee", status: "posted" });
  });
});
