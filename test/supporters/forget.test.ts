/**
 * Right to be forgotten, on the real servers (one child node, simulators here). A forgotten
 * supporter's personal data can no longer be read from Postgres, KV, streams (including the DLQ)
 * by any API; their data key is gone; the user service was told; and the hash still links
 * their earlier events. Checked by reading every message of every stream and bucket of the
 * namespace, every row of every table of its schema, and the node's log, for the supporter's
 * email, phone and name.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { DATABASE_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { createPool, quoteIdent } from "../../db";
import { headersToRecord } from "../../actors/codec";
import { supporterNames } from "../../services/supporters/streams";
import { identityHash, normaliseEmail } from "../../services/supporters/identity";
import { DEV_SUPPORTER_SECRETS } from "../../services/supporters/config";
import type { NatsHandles } from "../../nats";
import {
  Producers,
  call,
  cleanupSupporters,
  freePort,
  makeClientIn,
  startChild,
  startSims,
  supportersEnv,
  type ChildNode,
  type Sims,
} from "./harness";
import { testLogDir } from "../support/log-dir";

/** Every stream message (data and headers) of namespace `ns` that contains one of `needles`. */
async function streamHits(h: NatsHandles, ns: string, needles: readonly string[]): Promise<string[]> {
  const hits: string[] = [];
  const NS = ns.toUpperCase();
  const names: string[] = [];
  for await (const name of h.jsm.streams.names())
    if (name.startsWith(`${NS}_`) || name.startsWith(`KV_${ns}_`) || name.startsWith(`OBJ_${ns}_`)) names.push(name);
  expect(names.length).to.be.greaterThan(5);
  for (const name of names) {
    const info = await h.jsm.streams.info(name);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await h.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (!m) continue;
      const text = `${Buffer.from(m.data).toString("utf8")} ${JSON.stringify(headersToRecord(m.header))}`.toLowerCase();
      for (const n of needles)
        if (text.includes(n.toLowerCase())) hits.push(`${name}#${seq} (${m.subject}) contains ${n}`);
    }
  }
  return hits;
}

/** Every row of every table of schema `ns` (as text) that contains one of `needles`. */
async function tableHits(ns: string, needles: readonly string[]): Promise<string[]> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    const tables = (
      await pg.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
        [ns],
      )
    ).rows.map((r) => r.table_name);
    expect(tables).to.include("supporter_messages");
    const hits: string[] = [];
    for (const t of tables) {
      const rows = (await pg.query<{ row: string }>(`SELECT t::text AS row FROM ${quoteIdent(ns)}.${quoteIdent(t)} t`))
        .rows;
      for (const r of rows)
        for (const n of needles) if (r.row.toLowerCase().includes(n.toLowerCase())) hits.push(`${t}: ${n}`);
    }
    return hits;
  } finally {
    await pg.end();
  }
}

async function sealedColumns(
  ns: string,
  hash: string,
): Promise<Array<{ id: string; identity_ct: string | null; events_ct: string | null }>> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    return (
      await pg.query<{ id: string; identity_ct: string | null; events_ct: string | null }>(
        "SELECT id, identity_ct, events_ct FROM supporter_messages WHERE hash = $1 ORDER BY seq",
        [hash],
      )
    ).rows;
  } finally {
    await pg.end();
  }
}

describe("supporters: right to be forgotten", function () {
  this.timeout(180_000);
  const ns = freshNamespace("tsup");
  const tag = randomBytes(4).toString("hex");
  const email = `Forget.Me.${tag}@Example.org`;
  const phone = `07700 9${String(parseInt(tag, 16) % 100000).padStart(5, "0")}`;
  const e164 = `+447700${phone.slice(6)}`;
  const firstName = `Forgetta${tag}`;
  const hash = identityHash({ email: normaliseEmail(email) }, DEV_SUPPORTER_SECRETS.pepper);
  const needles = [normaliseEmail(email), e164, phone, firstName];
  let sims: Sims;
  let node: ChildNode;
  let nats: Producers;
  let writer: { apiKey: string };
  let admin: { apiKey: string };

  const identity = {
    email,
    phone,
    firstName,
    lastName: "Bloggs",
    address: { line1: `1 ${tag} Street`, town: "Leeds", postcode: "LS1 1AA", country: "GB" },
  };
  const event = (k: number, extra: Record<string, unknown> = {}) => ({
    type: "giftaid.declared",
    occurredAt: "2025-03-01T10:00:00Z",
    data: { k, ...extra },
  });
  const send = (k: number, extra: Record<string, unknown> = {}) =>
    call(`${node.url}/api/v1/supporter-events`, writer.apiKey, {
      method: "POST",
      body: JSON.stringify({ source: "giftaid", messageId: `f${k}`, identity, events: [event(k, extra)] }),
    });

  before(async () => {
    sims = await startSims();
    node = await startChild(
      supportersEnv(ns, "f1", await freePort(), sims, {
        LOG_LEVEL: "info",
        SUPPORTERS_BACKOFF_MAX_MS: "2000",
        SUPPORTERS_BREAKER_OPEN_MS: "1000",
      }),
    );
    nats = await Producers.connect(ns);
    writer = await makeClientIn(ns, ["supporters:write", "supporters:read"]);
    admin = await makeClientIn(ns, ["admin"]);
  });

  after(async () => {
    await nats?.close();
    await node?.stop("SIGKILL").catch(() => undefined);
    await sims?.close();
    await cleanupSupporters(ns);
  });

  it("before: personal data is only ever stored sealed, and readable by the admin export", async () => {
    expect((await send(0)).json.hash).to.equal(hash);
    const { email: _e, ...rest } = identity;
    void _e;
    const r = await nats.request("sms", {
      messageId: "f1",
      identity: { ...rest, email: email.toUpperCase() },
      events: [event(1)],
    });
    expect(r).to.deep.include({ ok: true, hash });
    // m2 is refused by the ERP service: a dead letter (sealed) stays in the DLQ
    await nats.publish("shop", { messageId: "f2", identity, events: [event(2, { note: "SIM-REJECT" })] });
    await waitFor(
      "m0, m1 at the ERP service and m2 parked",
      async () => {
        // m2 came from a NATS producer: only admins see it (tenancy)
        const v = await call(`${node.url}/api/v1/supporters/${hash}`, admin.apiKey);
        return sims.erp.book.deliveries(hash).length === 2 && v.json?.parked?.length === 1;
      },
      30_000,
      100,
    );
    // m3 waits: the user service is down
    sims.user.setConfig({ outage: true });
    expect((await send(3)).status).to.equal(202);
    await waitFor(
      "m3 pending in the supporter's queue",
      async () => (await call(`${node.url}/api/v1/supporters/${hash}`, writer.apiKey)).json?.pending?.user === 1,
      20_000,
      100,
    );
    const data = await call(`${node.url}/api/v1/admin/supporters/${hash}/data`, admin.apiKey);
    expect(data.status).to.equal(200);
    expect(data.json.erased).to.equal(false);
    expect(JSON.stringify(data.json)).to.contain(normaliseEmail(email)).and.contain(e164).and.contain(firstName);
    await waitFor(
      "event log has the sealed rows",
      async () => (await sealedColumns(ns, hash)).filter((r) => r.identity_ct !== null).length === 4,
      20_000,
      200,
    );
    // at rest, nowhere in plain text (the intake stream only holds messages until they are forwarded)
    expect(await streamHits(nats.h, ns, needles)).to.deep.equal([]);
    expect(await tableHits(ns, needles)).to.deep.equal([]);
    // (the scans do see what is there: the hash is in state, jobs, the DLQ and the event log)
    expect((await streamHits(nats.h, ns, [hash])).length).to.be.greaterThan(2);
    expect((await tableHits(ns, [hash])).length).to.be.greaterThan(2);
    const keys = await nats.h.kvm.open(supporterNames(ns).keysBucket);
    expect((await keys.get(hash))?.operation).to.equal("PUT");
  });

  it("forget: the data key is deleted, sealed data everywhere becomes unreadable, the user service erases them, the hash still links the events", async () => {
    // forgetting is admin only (tenancy: it erases what every tenant sent)
    expect(
      (await call(`${node.url}/api/v1/supporters/${hash}/forget`, writer.apiKey, { method: "POST" })).status,
    ).to.equal(403);
    const f = await call(`${node.url}/api/v1/supporters/${hash}/forget`, admin.apiKey, { method: "POST" });
    expect(f.status, f.text).to.equal(202);
    const keys = await nats.h.kvm.open(supporterNames(ns).keysBucket);
    await waitFor(
      "data key deleted",
      async () => (await keys.get(hash).catch(() => null))?.operation !== "PUT",
      20_000,
      100,
    );
    await waitFor(
      "actor forgot",
      async () => (await call(`${node.url}/api/v1/supporters/${hash}`, writer.apiKey)).json?.forgottenAt !== null,
      20_000,
      100,
    );
    sims.user.setConfig({ outage: false });
    await waitFor("the user service erased the supporter", () => sims.user.book.erased.has(hash), 30_000, 100);
    expect(sims.user.book.identities.has(hash)).to.equal(false);
    // m3 was never sent: its data was erased while it waited
    expect(sims.user.book.deliveries(hash).map((d) => d.messageId)).to.deep.equal(["giftaid.f0", "sms.f1", "shop.f2"]);
    await waitFor(
      "queue empty",
      async () => (await call(`${node.url}/api/v1/supporters/${hash}`, writer.apiKey)).json?.pending?.total === 0,
      20_000,
      100,
    );
    await waitFor(
      "event log scrubbed",
      async () => (await sealedColumns(ns, hash)).every((r) => r.identity_ct === null && r.events_ct === null),
      20_000,
      200,
    );

    // no API returns personal data
    const data = await call(`${node.url}/api/v1/admin/supporters/${hash}/data`, admin.apiKey);
    expect(data.json.erased).to.equal(true);
    expect(
      data.json.messages.every((m: { identity: unknown; events: unknown }) => m.identity === null && m.events === null),
    ).to.equal(true);
    const dlq = await call(`${node.url}/api/v1/admin/supporters/dlq?hash=${hash}`, admin.apiKey);
    expect(dlq.json.items).to.have.length(1); // the dead letter stays, sealed with a key that no longer exists
    const raw = await call(`${node.url}/api/v1/supporters/${hash}/events`, admin.apiKey);
    const all = JSON.stringify([data.json, dlq.json, raw.json]);
    for (const n of needles) expect(all.toLowerCase()).to.not.contain(n.toLowerCase());

    // the hash still links the earlier events
    expect(raw.json.items.map((x: { id: string }) => x.id)).to.deep.equal([
      "giftaid.f0",
      "sms.f1",
      "shop.f2",
      "giftaid.f3",
    ]);
    expect(raw.json.items.map((x: { types: string[] }) => x.types[0])).to.deep.equal(Array(4).fill("giftaid.declared"));
    expect(raw.json.items.every((x: { hasPersonalData: boolean }) => !x.hasPersonalData)).to.equal(true);
    expect(raw.json.items[3].user.status).to.equal("erased");
    expect(raw.json.forgottenAt).to.have.length(1);

    // nothing readable at rest: no plain text anywhere, and no key to open what is sealed
    expect(await streamHits(nats.h, ns, needles)).to.deep.equal([]);
    expect(await tableHits(ns, needles)).to.deep.equal([]);
    const keyStream = await nats.h.jsm.streams.getMessage(`KV_${supporterNames(ns).keysBucket}`, {
      last_by_subj: `$KV.${supporterNames(ns).keysBucket}.${hash}`,
    });
    expect(keyStream?.data.length).to.equal(0); // only the purge marker is left
    // and no log line of the node ever carried it
    const logText = readFileSync(testLogDir(`${ns}-f1.log`), "utf8").toLowerCase();
    expect(logText).to.contain("supporter forgotten");
    for (const n of needles) expect(logText).to.not.contain(n.toLowerCase());
  });

  it("the RTBF producer's event forgets the supporter it names", async () => {
    const other = { email: `rtbf.${tag}@example.org`, firstName: `Rita${tag}` };
    const h2 = identityHash({ email: other.email }, DEV_SUPPORTER_SECRETS.pepper);
    const r = await nats.request("esu", { messageId: "r0", identity: other, events: [event(0)] });
    expect(r).to.deep.include({ ok: true, hash: h2 });
    await waitFor("delivered", () => sims.erp.book.deliveries(h2).length === 1, 20_000, 100);
    await nats.publish("rtbf", {
      messageId: "rtbf-1",
      identity: { email: other.email.toUpperCase() },
      events: [{ type: "rtbf.request", occurredAt: "2025-03-02T00:00:00Z" }],
    });
    await waitFor(
      "the user service erased them",
      () => sims.user.book.erased.has(h2) && !sims.user.book.identities.has(h2),
      20_000,
      100,
    );
    const keys = await nats.h.kvm.open(supporterNames(ns).keysBucket);
    expect((await keys.get(h2).catch(() => null))?.operation).to.not.equal("PUT");
    await waitFor(
      "event log scrubbed",
      async () => (await sealedColumns(ns, h2)).every((x) => x.identity_ct === null),
      20_000,
      200,
    );
    expect(await streamHits(nats.h, ns, [other.email, other.firstName])).to.deep.equal([]);
  });

  it("a forgotten supporter who comes back is a new start: new key, delivered as usual, old data stays unreadable", async () => {
    expect((await send(4)).json.hash).to.equal(hash);
    await waitFor(
      "m4 delivered",
      () => sims.erp.book.deliveries(hash).some((d) => d.messageId === "giftaid.f4"),
      20_000,
      100,
    );
    expect(sims.user.book.identities.has(hash)).to.equal(true);
    await waitFor(
      "admin export shows only the new message",
      async () => {
        const data = await call(`${node.url}/api/v1/admin/supporters/${hash}/data`, admin.apiKey);
        const readable = (data.json.messages as Array<{ id: string; identity: unknown }>)
          .filter((m) => m.identity !== null)
          .map((m) => m.id);
        return data.json.erased === false && JSON.stringify(readable) === JSON.stringify(["giftaid.f4"]);
      },
      20_000,
      200,
    );
  });
});
