/**
 * Validation answers list every problem at once: a batch of events gets one 422 naming each
 * problem of each event (envelope fields and data against its type together, not in rounds),
 * an alternative (timestamp: date-time or epoch ms) is one line without anyOf noise, and an
 * enum (a supporter's source) lists the values it would accept (over HTTP: test/gateway/pagination.test.ts,
 * whose node hosts the supporters). Real node, real servers.
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { cleanupEvents, makeClient, postJson, startEventsNode, type EventsNode, type TestClient } from "./harness";
import { checkPayload } from "../../services/supporters/schema";
import { SOURCES } from "../../services/supporters/model";

type Detail = { path: string; message: string };

describe("validation reports every problem at once", function () {
  const ns = freshNamespace("tbv");
  let n: EventsNode;
  let admin: TestClient;
  let writer: TestClient;
  const api = (p: string) => `${n.url}/api/v1${p}`;
  const ev = (eventId: string | undefined, data: unknown, timestamp: unknown = new Date().toISOString()) => ({
    clientId: writer.id,
    ...(eventId !== undefined ? { eventId } : {}),
    type: "batch.test",
    timestamp,
    data,
  });

  before(async function () {
    n = await startEventsNode(ns, "bv1");
    admin = await makeClient(n.node, ["admin"]);
    writer = await makeClient(n.node, ["events:write", "supporters:write"]);
    const r = await postJson(api("/admin/event-types/batch.test/versions"), admin.key, {
      schema: { type: "object", required: ["n"], properties: { n: { type: "integer" } } },
    });
    expect(r.status, r.text).to.equal(201);
  });

  after(async function () {
    await n?.stop();
    await cleanupEvents(ns);
  });

  it("a batch's envelope and data problems come in one 422, one line per problem", async function () {
    const r = await postJson(api("/events"), writer.key, [
      ev(undefined, { n: "one" }), // envelope and data both wrong
      ev("e1", { n: 1 }, "yesterday"), // neither form of timestamp
      ev("e2", {}), // data misses n
      ev("e3", { n: 3 }), // fine
    ]);
    expect(r.status, r.text).to.equal(422);
    const details = r.json.error.details as Detail[];
    expect(details.map((d) => d.path)).to.deep.equal([
      "/body/0/eventId",
      "/body/0/data/n",
      "/body/1/timestamp",
      "/body/2/data/n",
    ]);
    expect(details.find((d) => d.path === "/body/1/timestamp")!.message).to.match(/date-time.*or.*integer/);
    for (const d of details) expect(d.message).not.to.match(/anyOf|oneOf|must match a schema/);
  });

  it("a foreign clientId is a 403 that lists the batch's other problems too", async function () {
    const r = await postJson(api("/events"), writer.key, [{ ...ev("e4", { n: 4 }), clientId: admin.id }, ev("e5", {})]);
    expect(r.status, r.text).to.equal(403);
    expect((r.json.error.details as Detail[]).map((d) => d.path)).to.deep.equal(["/body/0/clientId", "/body/1/data/n"]);
  });

  it("an unknown supporter source lists the valid sources (the domain's own check, as on NATS)", function () {
    const r = checkPayload({ source: "nope", identity: { email: "a@example.org" }, events: [] });
    if (r.ok) throw new Error("an unknown source was accepted");
    const d = r.errors.find((x) => x.path === "/source")!;
    expect(d.message).to.equal(`must be one of: ${SOURCES.join(", ")}`);
  });
});
