/**
 * Store failures on the real servers, injected with a trigger in the test namespace's schema:
 * a row Postgres refuses is isolated by halving its batch, tried EVENTS_MAX_ATTEMPTS times and
 * dead-lettered with STORE_FAILED while the rest of the batch is stored in order; a transient
 * failure (serialization failure) holds the batch and retries it, losing and reordering nothing.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { call, cleanupEvents, makeClient, postJson, startEventsNode, testNats, type EventsNode } from "./harness";

describe("events: store failures", function () {
  this.timeout(90_000);
  const ns = freshNamespace("tex");
  let n: EventsNode;
  let adminKey: string;

  const ids = async (tenant: string): Promise<string[]> =>
    (
      await n.node.ctx.pg.query<{ event_id: string }>("SELECT event_id FROM events WHERE client_id = $1 ORDER BY seq", [
        tenant,
      ])
    ).rows.map((r) => r.event_id);

  async function publishBatch(tenant: string, count: number): Promise<string[]> {
    const { h, names } = await testNats(ns);
    try {
      const sent = Array.from({ length: count }, (_, i) => `${tenant}-${String(i).padStart(2, "0")}`);
      await Promise.all(
        sent.map((id, i) =>
          h.js.publish(
            names.inSubject(tenant),
            JSON.stringify({ clientId: tenant, eventId: id, type: "tick", timestamp: Date.now(), data: { i } }),
          ),
        ),
      );
      return sent;
    } finally {
      await h.nc.close();
    }
  }

  before(async () => {
    n = await startEventsNode(ns, "ex-1", { EVENTS_MAX_ATTEMPTS: "3" });
    const admin = await makeClient(n.node, ["admin"]);
    adminKey = admin.key;
    expect(
      (await postJson(`${n.url}/api/v1/admin/event-types/tick/versions`, admin.key, { schema: { type: "object" } }))
        .status,
    ).to.equal(201);
    await n.node.ctx.pg.query(`
      CREATE TABLE test_faults (event_id text PRIMARY KEY, mode text NOT NULL);
      CREATE SEQUENCE test_transient_tries;
      CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE m text;
      BEGIN
        SELECT mode INTO m FROM test_faults WHERE event_id = NEW.event_id;
        IF m = 'poison' THEN
          RAISE EXCEPTION 'test: refused row %', NEW.event_id USING ERRCODE = '22023';
        ELSIF m = 'transient' THEN
          -- a sequence is not rolled back with the failing statement: it counts the tries
          IF nextval('test_transient_tries') <= 3 THEN
            RAISE EXCEPTION 'test: serialization failure' USING ERRCODE = '40001';
          END IF;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_fault BEFORE INSERT ON event_keys FOR EACH ROW EXECUTE FUNCTION test_fault();
      INSERT INTO test_faults VALUES ('poison-07', 'poison'), ('transient-03', 'transient');
    `);
  });

  after(async () => {
    await n?.stop();
    await cleanupEvents(ns);
  });

  it("dead-letters a row the store keeps refusing, after EVENTS_MAX_ATTEMPTS tries, and stores the rest of its batch in order", async () => {
    const sent = await publishBatch("poison", 20);
    const dead = await waitFor(
      "poison-07 dead-lettered",
      async () => {
        const r = await call(`${n.url}/api/v1/admin/events/dlq?tenant=poison`, adminKey);
        return r.json?.items?.[0] as
          { code: string; reason: string; attempts: number; data: { eventId: string } } | undefined;
      },
      30_000,
      100,
    );
    expect(dead.code).to.equal("STORE_FAILED");
    expect(dead.attempts).to.equal(3);
    expect(dead.reason).to.match(/^STORE_FAILED: the store refused the event 3 times: test: refused row poison-07/);
    expect(dead.data.eventId).to.equal("poison-07");
    await waitFor("the other 19 stored", async () => (await ids("poison")).length === 19, 15_000, 100);
    expect(await ids("poison")).to.deep.equal(sent.filter((id) => id !== "poison-07"));
  });

  it("holds and retries a batch through transient failures: nothing lost, nothing reordered, nothing dead-lettered", async () => {
    const before = (await call(`${n.url}/api/v1/admin/events/stats`, adminKey)).json.storeRetries as number;
    const sent = await publishBatch("transient", 20);
    await waitFor("all 20 stored", async () => (await ids("transient")).length === 20, 30_000, 100);
    expect(await ids("transient")).to.deep.equal(sent);
    const tries = await n.node.ctx.pg.query<{ last_value: string }>("SELECT last_value FROM test_transient_tries");
    expect(Number(tries.rows[0]!.last_value), "three refused tries, then the one that worked").to.equal(4);
    const stats = (await call(`${n.url}/api/v1/admin/events/stats`, adminKey)).json;
    expect(stats.storeRetries - before).to.equal(3);
    expect(stats.tenants.transient.deadLettered).to.equal(0);
    expect((await call(`${n.url}/api/v1/admin/events/dlq?tenant=transient`, adminKey)).json.items).to.deep.equal([]);
  });
});
