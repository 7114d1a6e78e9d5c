/**
 * Issue 11, item 4: tenants must not read or erase each other's supporters. A real node (in this
 * process: NATS, Postgres, Redis, gateway, supporters) with the user and ERP simulators, driven
 * over HTTP and NATS request/reply:
 *
 * - tenant B sends a supporter's identity and events; tenant A sends the same identity (it gets
 *   the hash, as producers need) and sees only its own message of that hash: none of B's ids,
 *   types, counters or queue items, in the supporter view or the event log;
 * - a client that knows the hash but sent nothing about it gets 404, the same answer as for a
 *   hash that does not exist;
 * - A cannot forget the supporter (403, the same for any hash), neither through the forget
 *   route nor through intake (source rtbf); B's data is intact afterwards;
 * - A's resend dedupe does not tell it about B's message ids;
 * - a NATS producer's message belongs to its source: no gateway client sees it;
 * - B pages through its own messages by arrival sequence; an admin sees everyone's and forgets.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { DEV_SUPPORTER_SECRETS } from "../../services/supporters/config";
import type { CreatedClient } from "../../services/gateway/clients";
import { identityHash, normaliseEmail } from "../../services/supporters/identity";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  Producers,
  call,
  cleanupSupporters,
  freePort,
  makeClient,
  startInProcess,
  startSims,
  supportersEnv,
  type Answer,
  type InProcessNode,
  type Sims,
} from "../supporters/harness";

interface LogItem {
  id: string;
  source: string;
  types: string[];
  user: { status: string };
  erp: { status: string };
  hasPersonalData: boolean;
}

describe("security: supporters tenancy (no cross-tenant read or forget)", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tsec");
  const tag = randomBytes(4).toString("hex");
  const email = `Shared.Supporter.${tag}@Example.org`;
  const hash = identityHash({ email: normaliseEmail(email) }, DEV_SUPPORTER_SECRETS.pepper);
  const unknownHash = identityHash({ email: `nobody.${tag}@example.org` }, DEV_SUPPORTER_SECRETS.pepper);
  let sims: Sims;
  let node: InProcessNode;
  let nats: Producers;
  let a: CreatedClient;
  let b: CreatedClient;
  let c: CreatedClient;
  let admin: CreatedClient;

  const url = (p: string): string => `${node.url}/api/v1${p}`;
  const event = (type: string, k: number) => ({ type, occurredAt: "2025-03-01T10:00:00Z", data: { k } });
  const send = (
    key: string,
    messageId: string,
    type: string,
    k: number,
    who = email,
    source = "giftaid",
  ): Promise<Answer> =>
    call(url("/supporter-events"), key, {
      method: "POST",
      body: JSON.stringify({
        source,
        messageId,
        identity: { email: who, firstName: `Name${tag}` },
        events: [event(type, k)],
      }),
    });
  const eventsOf = async (key: string, query = ""): Promise<Answer> =>
    call(url(`/supporters/${hash}/events${query}`), key);
  const delivered = (items: LogItem[] | undefined, n: number): boolean =>
    items?.length === n && items.every((x) => x.user.status === "delivered" && x.erp.status === "delivered");
  /** The answer without what differs per request. */
  const shape = (r: Answer): unknown => ({
    status: r.status,
    code: r.json?.error?.code,
    message: r.json?.error?.message,
  });

  before(async () => {
    sims = await startSims();
    node = await startInProcess(supportersEnv(ns, "sec1", await freePort(), sims));
    nats = await Producers.connect(ns);
    [a, b, c, admin] = await Promise.all([
      makeClient(node.node, ["supporters:read", "supporters:write"]),
      makeClient(node.node, ["supporters:read", "supporters:write"]),
      makeClient(node.node, ["supporters:read"]),
      makeClient(node.node, ["admin"]),
    ]);
  });

  after(async () => {
    await nats?.close();
    await node?.stop();
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it("B's supporter: B sees its message; A gets the hash for the same identity and sees only its own", async () => {
    const sent = await send(b.apiKey, "b1", "tenantb.secret", 1);
    expect(sent.status, sent.text).to.equal(202);
    expect(sent.json.hash).to.equal(hash);
    await waitFor(
      "B's message delivered and logged",
      async () => delivered((await eventsOf(b.apiKey)).json?.items, 1),
      30_000,
      100,
    );

    const mine = await send(a.apiKey, "a1", "tenanta.own", 1);
    expect(mine.status, mine.text).to.equal(202);
    expect(mine.json).to.deep.include({ hash, duplicate: false });
    await waitFor(
      "A's message delivered and logged",
      async () => delivered((await eventsOf(admin.apiKey)).json?.items, 2),
      30_000,
      100,
    );

    const aLog = await eventsOf(a.apiKey);
    expect(aLog.status, aLog.text).to.equal(200);
    expect((aLog.json.items as LogItem[]).map((x) => x.id)).to.deep.equal(["giftaid.a1"]);
    expect(aLog.text).to.not.contain("tenantb.secret").and.not.contain("giftaid.b1");
    const aView = await call(url(`/supporters/${hash}`), a.apiKey);
    expect(aView.status, aView.text).to.equal(200);
    expect(aView.json.counts).to.deep.equal({ received: 1, userDelivered: 1, erpDelivered: 1, parked: 0, erased: 0 });
    expect(aView.text).to.not.contain("giftaid.b1");

    const bLog = await eventsOf(b.apiKey);
    expect((bLog.json.items as LogItem[]).map((x) => x.id)).to.deep.equal(["giftaid.b1"]);
    expect(bLog.text).to.not.contain("tenanta.own");
    expect((await call(url(`/supporters/${hash}`), b.apiKey)).json.counts.received).to.equal(1);
  });

  it("a client that sent nothing about the hash gets 404, exactly as for a hash that does not exist", async () => {
    for (const p of [
      `/supporters/${hash}`,
      `/supporters/${hash}/events`,
      `/supporters/${hash}/events?after=0&limit=5`,
    ]) {
      const known = await call(url(p), c.apiKey);
      const unknown = await call(url(p.replace(hash, unknownHash)), c.apiKey);
      expect(known.status, `${p}: ${known.text}`).to.equal(404);
      expect(shape(known), p).to.deep.equal(shape(unknown));
      expect(known.text).to.not.contain("giftaid.");
    }
    // and admins see both tenants' messages
    const all = await eventsOf(admin.apiKey);
    expect((all.json.items as LogItem[]).map((x) => x.id)).to.deep.equal(["giftaid.b1", "giftaid.a1"]);
  });

  it("A cannot forget B's supporter, through the route or through intake; B's data is unchanged", async () => {
    const before = (await eventsOf(b.apiKey)).json;
    const forget = await call(url(`/supporters/${hash}/forget`), a.apiKey, { method: "POST" });
    const forgetUnknown = await call(url(`/supporters/${unknownHash}/forget`), a.apiKey, { method: "POST" });
    expect(forget.status, forget.text).to.equal(403);
    expect(shape(forget)).to.deep.equal(shape(forgetUnknown));
    const viaIntake = await send(a.apiKey, "rtbf-a", "rtbf.request", 1, email.toUpperCase(), "rtbf");
    expect(viaIntake.status, viaIntake.text).to.equal(403);
    // a marker message from B, after the attempts: once it is logged, anything A queued before it was handled
    expect((await send(b.apiKey, "b2", "tenantb.after", 2)).status).to.equal(202);
    await waitFor("B's marker logged", async () => delivered((await eventsOf(b.apiKey)).json?.items, 2), 30_000, 100);
    const after = (await eventsOf(b.apiKey)).json;
    expect(after.items[0]).to.deep.equal(before.items[0]);
    expect(after.forgottenAt).to.deep.equal([]);
    expect((after.items as LogItem[]).every((x) => x.hasPersonalData)).to.equal(true);
    const data = await call(url(`/admin/supporters/${hash}/data`), admin.apiKey);
    expect(data.json.erased).to.equal(false);
    expect(sims.user.book.erased.has(hash)).to.equal(false);
    // the decrypted export stays admin only
    expect((await call(url(`/admin/supporters/${hash}/data`), b.apiKey)).status).to.equal(403);
  });

  it("A's resend dedupe says nothing about B's message ids", async () => {
    const other = `other.${tag}@example.org`;
    const r = await send(a.apiKey, "b1", "tenanta.other", 3, other);
    expect(r.status, r.text).to.equal(202);
    expect(r.json.duplicate).to.equal(false);
    const again = await send(a.apiKey, "b1", "tenanta.other", 3, other);
    expect(again.json.duplicate).to.equal(true); // its own resend still is one
  });

  it("a NATS producer's message belongs to its source: no gateway client sees it, admins do", async () => {
    const r = await nats.request("sms", { messageId: "n1", identity: { email }, events: [event("nats.event", 1)] });
    expect(r).to.deep.include({ ok: true, hash, duplicate: false });
    const all = await waitFor(
      "the NATS message logged",
      async () => {
        const items = (await eventsOf(admin.apiKey)).json?.items as Array<LogItem & { client: string }> | undefined;
        return items?.some((x) => x.id === "sms.n1" && x.client === "nats:sms") ? items : undefined;
      },
      30_000,
      100,
    );
    expect(all.find((x) => x.id === "giftaid.b1")?.client).to.equal(b.client.id);
    for (const key of [a.apiKey, b.apiKey]) expect((await eventsOf(key)).text).to.not.contain("sms.n1");
  });

  it("B pages through its own messages by arrival sequence", async () => {
    for (const [key, id, k] of [
      [b.apiKey, "b3", 3],
      [a.apiKey, "a2", 2],
      [b.apiKey, "b4", 4],
    ] as const)
      expect((await send(key, id, "page.event", k)).status).to.equal(202);
    await waitFor(
      "B's four messages logged",
      async () => delivered((await eventsOf(b.apiKey)).json?.items, 4),
      30_000,
      100,
    );
    const seen: string[] = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const r = await eventsOf(b.apiKey, `?limit=1&after=${after}`);
      expect(r.status, r.text).to.equal(200);
      const items = r.json.items as Array<LogItem & { seq: number }>;
      if (items.length === 0) break;
      seen.push(items[0]!.id);
      after = items[0]!.seq;
    }
    expect(seen).to.deep.equal(["giftaid.b1", "giftaid.b2", "giftaid.b3", "giftaid.b4"]);
  });

  it("an admin forgets the supporter; B then sees its own messages erased", async () => {
    const f = await call(url(`/supporters/${hash}/forget`), admin.apiKey, { method: "POST" });
    expect(f.status, f.text).to.equal(202);
    const bLog = await waitFor(
      "B sees the forget",
      async () => {
        const r = (await eventsOf(b.apiKey)).json;
        return r?.forgottenAt?.length === 1 && (r.items as LogItem[]).every((x) => !x.hasPersonalData) ? r : undefined;
      },
      30_000,
      100,
    );
    expect((bLog.items as LogItem[]).map((x) => x.id)).to.deep.equal([
      "giftaid.b1",
      "giftaid.b2",
      "giftaid.b3",
      "giftaid.b4",
    ]);
    await waitFor("the user service erased the supporter", () => sims.user.book.erased.has(hash), 30_000, 100);
    expect((await call(url(`/admin/supporters/${hash}/data`), admin.apiKey)).json.erased).to.equal(true);
  });
});
