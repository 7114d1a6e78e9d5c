/**
 * One pagination scheme on every list: `cursor` in, `nextCursor` out (null at the end, except
 * the never-ending events feed), with the old names (`after` in; `next` / `cursor` out) still
 * answered for one release and marked deprecated in the OpenAPI document.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { call, type Answer } from "../support/http";
import { startInProcess, type InProcessNode } from "../support/node";
import { cleanupAll } from "./harness";
import { eventsEnv } from "../tenant-events/harness";
import { expectedHash, payloadOf, startSims, supportersEnv, makeClient, type Sims } from "../supporters/harness";
import { buildOpenApi } from "../../gateway";
import { collectRoutes } from "../../services/gateway/service";
import { allRoutes, declareDomains } from "../../node/assemble";
import { loadConfig } from "../../node/config";
import { SOURCES } from "../../services/supporters/model";

type Obj = Record<string, any>;

describe("pagination: cursor in, nextCursor out, everywhere", function () {
  describe("the OpenAPI document", function () {
    const routes = collectRoutes(allRoutes(declareDomains(loadConfig({}))));
    const doc = buildOpenApi(routes, { title: "t", version: "1" });
    const lists = routes.filter(
      (r) => r.method === "GET" && r.query?.["properties"] && "limit" in (r.query["properties"] as Obj),
    );

    it("every paged list takes `cursor` and answers `nextCursor`", function () {
      expect(lists.length).to.be.at.least(6);
      for (const r of lists) {
        const op = doc.paths[r.path]![r.method.toLowerCase()] as Obj;
        const names = (op["parameters"] as Obj[]).map((p) => p["name"]);
        expect(names, `${r.path}`).to.include("cursor");
        const ok = op["responses"]["200"]["content"]["application/json"]["schema"];
        expect(ok["properties"], `${r.path}`).to.have.property("nextCursor");
      }
    });

    it("the old `after` parameter is declared deprecated wherever it is still accepted", function () {
      let seen = 0;
      for (const r of lists) {
        const op = doc.paths[r.path]![r.method.toLowerCase()] as Obj;
        for (const p of op["parameters"] as Obj[])
          if (p["name"] === "after") {
            seen++;
            expect(p["deprecated"], `${r.path} after`).to.equal(true);
          }
      }
      expect(seen).to.be.at.least(5);
    });
  });

  describe("on a node", function () {
    const ns = freshNamespace("tpg");
    let sims: Sims;
    let n: InProcessNode;
    let admin: string;
    const api = (p: string) => `${n.url}/api/v1${p}`;
    const get = async (p: string, key = admin): Promise<Obj> => {
      const r: Answer = await call(api(p), key);
      expect(r.status, `${p}: ${r.text}`).to.equal(200);
      return r.json as Obj;
    };
    const post = (p: string, body: unknown, key = admin) =>
      call(api(p), key, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" },
      });

    before(async function () {
      sims = await startSims();
      const port = await freePort();
      n = await startInProcess({
        ...supportersEnv(ns, "pg1", port, sims),
        ...eventsEnv(ns, "pg1", port),
        SERVICES: "runtime,gateway,tenant-events,supporters",
      });
      admin = (await makeClient(n.node, ["admin", "events:read", "events:write", "supporters:write"])).apiKey;
      for (let i = 0; i < 2; i++) await makeClient(n.node, ["events:read"]);
    });

    after(async function () {
      await n?.stop();
      await sims?.close();
      await cleanupAll(ns);
    });

    it("clients: cursor walks every page, nextCursor is null at the end; after and next still work", async function () {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: Obj = await get(`/admin/clients?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
        ids.push(...page["items"].map((c: Obj) => c["id"]));
        expect(page["next"]).to.equal(page["nextCursor"]);
        cursor = page["nextCursor"];
        if (cursor === null) break;
      }
      expect(cursor).to.equal(null);
      expect(ids).to.have.length(3);
      expect(new Set(ids).size).to.equal(3);
      const viaAfter = await get(`/admin/clients?limit=1&after=${ids[0]}`);
      expect(viaAfter["items"].map((c: Obj) => c["id"])).to.deep.equal([ids[1]]);
    });

    it("events feed: nextCursor as cursor continues; the deprecated after and cursor fields agree", async function () {
      const r = await post("/admin/event-types/page.test/versions", { schema: { type: "object" } });
      expect(r.status, r.text).to.equal(201);
      const me = await get("/me");
      const events = [0, 1, 2].map((i) => ({
        clientId: me["id"],
        eventId: `e${i}`,
        type: "page.test",
        timestamp: new Date().toISOString(),
        data: { i },
      }));
      const ing = await post("/events", events);
      expect(ing.status, ing.text).to.equal(202);
      await waitFor("3 events stored", async () => (await get("/events?limit=10"))["items"].length === 3, 20_000);
      const first = await get("/events?limit=2");
      expect(first["items"].map((e: Obj) => e["eventId"])).to.deep.equal(["e0", "e1"]);
      expect(first["nextCursor"]).to.be.a("string").and.equal(first["cursor"]);
      expect(first["hasMore"]).to.equal(true);
      const second = await get(`/events?limit=2&cursor=${first["nextCursor"]}`);
      expect(second["items"].map((e: Obj) => e["eventId"])).to.deep.equal(["e2"]);
      expect(await get(`/events?limit=2&after=${first["nextCursor"]}`)).to.deep.equal(second);
      const bad = await call(api("/events?cursor=not-a-cursor"), admin);
      expect(bad.status).to.equal(400);
      expect(bad.json.error.details[0].path).to.equal("/query/cursor");
    });

    it("supporter event log: cursor pages by arrival; nextCursor null at the end; after still works", async function () {
      for (let k = 0; k < 3; k++) {
        const r = await post("/supporter-events", payloadOf(7, k, "shop"));
        expect(r.status, r.text).to.equal(202);
      }
      const hash = expectedHash(7);
      await waitFor(
        "3 messages in the event log",
        async () => {
          const r = await call(api(`/supporters/${hash}/events`), admin);
          return r.status === 200 && (r.json as Obj)["items"].length === 3;
        },
        20_000,
      );
      const first = await get(`/supporters/${hash}/events?limit=2`);
      expect(first["items"]).to.have.length(2);
      expect(first["nextCursor"]).to.be.a("string");
      const second = await get(`/supporters/${hash}/events?limit=2&cursor=${first["nextCursor"]}`);
      expect(second["items"].map((e: Obj) => e["id"])).to.deep.equal(["shop.s7-m2"]);
      expect(second["nextCursor"]).to.equal(null);
      // Delivery statuses move on meanwhile: compare what the page holds.
      const viaAfter = await get(`/supporters/${hash}/events?limit=2&after=${first["nextCursor"]}`);
      expect(viaAfter["items"].map((e: Obj) => e["id"])).to.deep.equal(["shop.s7-m2"]);
      expect(viaAfter["nextCursor"]).to.equal(null);
    });

    it("(validation) an unknown supporter source lists the valid sources", async function () {
      const r = await post("/supporter-events", {
        source: "nope",
        identity: { email: "a@example.org" },
        events: [{ type: "x.y", occurredAt: new Date().toISOString() }],
      });
      expect(r.status, r.text).to.equal(422);
      const d = (r.json.error.details as { path: string; message: string }[]).find((x) => x.path === "/body/source")!;
      expect(d.message).to.equal(`must be one of: ${SOURCES.join(", ")}`);
    });

    it("dead-letter lists take cursor and answer nextCursor", async function () {
      for (const p of ["/admin/supporters/dlq", "/admin/events/dlq"]) {
        const page = await get(`${p}?cursor=0&limit=5`);
        expect(page["items"], p).to.be.an("array");
        expect(page, p).to.have.property("nextCursor", null);
        const bad = await call(api(`${p}?cursor=x1`), admin);
        expect(bad.status, `${p}: ${bad.text}`).to.be.oneOf([400, 422]);
      }
    });
  });
});
