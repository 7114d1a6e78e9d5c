/**
 * The supporters domain's pure parts, with no broker and no server: normalisation, the identity
 * hash, the payload schema and its errors, sealing and shredding, redaction, and the supporter
 * actor's state machine (order, lanes, refusals, deadlines, forget, bounds, duplicates, replays).
 */
import { expect } from "chai";
import {
  identityHash,
  isIdentityHash,
  normaliseEmail,
  normaliseIdentity,
  normalisePhone,
} from "../../services/supporters/identity";
import { checkPayload } from "../../services/supporters/schema";
import { isRefusal, prepareBytes, prepareValue } from "../../services/supporters/prepare";
import { kidOf, newDataKey, openJson, redact, sealJson, unwrapKey, wrapKey } from "../../services/supporters/seal";
import { erpJob, forgetJob, userJob, type IntakeMessage } from "../../services/supporters/model";
import {
  handleSupporter,
  initialSupporterState,
  supporter,
  supporterWakeAt,
  type SupporterActorOptions,
  type SupporterState,
} from "../../services/supporters/supporter.actor";
import type { ActorMessage, Effect, JobResult } from "../../actors/types";
import { DlqHeaders, REPLAYED_FROM_HEADER } from "../../actors/dlq-headers";
import { clientSupporterView, holdsItemOf, supporterView } from "../../services/supporters/view";

const PEPPER = "a-test-pepper-of-at-least-32-characters!";
const PREP = { pepper: PEPPER, defaultCountryCode: "44", maxBytes: 32 * 1024 };

describe("supporters: identity", () => {
  it("normalises emails (trim, lower case) and phones (E.164, national and 00 forms)", () => {
    expect(normaliseEmail("  Jo.Bloggs@Example.ORG \n")).to.equal("jo.bloggs@example.org");
    expect(normalisePhone("07700 900123", "44")).to.equal("+447700900123");
    expect(normalisePhone("+44 (0)7700-900.123".replace("(0)", ""), "44")).to.equal("+447700900123");
    expect(normalisePhone("0044 7700 900123", "44")).to.equal("+447700900123");
    expect(normalisePhone("+1 415 555 0100", "44")).to.equal("+14155550100");
    expect(normalisePhone("7700900123", "44")).to.equal(null); // no + and no leading 0: ambiguous
    expect(normalisePhone("+0123456789", "44")).to.equal(null);
    expect(normalisePhone("012", "44")).to.equal(null);
  });

  it("the same person gets the same hash from differently written identities; other people and peppers differ", () => {
    const a = normaliseIdentity({ email: " Jo@Example.org " }, "44");
    const b = normaliseIdentity({ email: "jo@example.ORG", phone: "07700 900123", firstName: "Jo" }, "44");
    if ("errors" in a || "errors" in b) throw new Error("normalisation failed");
    const h = identityHash(a.identity, PEPPER);
    expect(identityHash(b.identity, PEPPER)).to.equal(h);
    expect(isIdentityHash(h)).to.equal(true);
    expect(h).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(identityHash({ email: "jo2@example.org" }, PEPPER)).to.not.equal(h);
    expect(identityHash(a.identity, `${PEPPER}x`)).to.not.equal(h);
    // Phone only: keyed by the E.164 number, however written.
    const p1 = normaliseIdentity({ phone: "07700 900123" }, "44");
    const p2 = normaliseIdentity({ phone: "+447700900123" }, "44");
    if ("errors" in p1 || "errors" in p2) throw new Error("normalisation failed");
    expect(identityHash(p1.identity, PEPPER)).to.equal(identityHash(p2.identity, PEPPER));
  });
});

describe("supporters: payload schema", () => {
  const ok = {
    source: "giftaid",
    identity: { email: "jo@example.org" },
    events: [{ type: "giftaid.declared", occurredAt: "2025-03-01T10:00:00Z", data: { amount: 5 } }],
  };

  it("accepts a valid payload and names every violation of an invalid one", () => {
    expect(checkPayload(ok).ok).to.equal(true);
    const bad = checkPayload({
      source: "fax",
      identity: { email: "not-an-email", shoeSize: 9 },
      events: [{ type: "Bad Type", occurredAt: "yesterday" }],
      extra: 1,
    });
    expect(bad.ok).to.equal(false);
    const paths = bad.ok ? [] : bad.errors.map((e) => e.path);
    expect(paths).to.include.members([
      "/source",
      "/identity/email",
      "/identity/shoeSize",
      "/events/0/type",
      "/events/0/occurredAt",
      "/extra",
    ]);
    // values are never echoed (they may be personal data)
    expect(JSON.stringify(bad)).to.not.contain("not-an-email");
  });

  it("requires an email or a phone, bounds nesting, and checks the subject's source on NATS", () => {
    const noId = checkPayload({ ...ok, identity: { firstName: "Jo" } });
    expect(noId.ok === false && noId.errors[0]?.path).to.equal("/identity");
    let deep: unknown = 1;
    for (let i = 0; i < 12; i++) deep = { d: deep };
    const nested = checkPayload({
      ...ok,
      events: [{ type: "x", occurredAt: "2025-03-01T10:00:00Z", data: deep as Record<string, unknown> }],
    });
    expect(nested.ok === false && nested.errors[0]?.path).to.equal("/events/0/data");
    const { source: _s, ...natsOk } = ok;
    expect(checkPayload(natsOk, "giftaid").ok).to.equal(true);
    const mismatch = checkPayload(ok, "sms");
    expect(mismatch.ok === false && mismatch.errors[0]?.message).to.match(/must match the subject/);
    expect(checkPayload(natsOk).ok).to.equal(false); // HTTP needs the source in the body
  });

  it("prepares raw bytes: not JSON, too large, not normalisable are refusals with codes", () => {
    expect(prepareBytes(Buffer.from("{nope"), "sms", PREP)).to.deep.include({ code: "INVALID_JSON" });
    expect(prepareBytes(Buffer.from([0xff, 0xfe, 0x7b]), "sms", PREP)).to.deep.include({ code: "INVALID_JSON" });
    expect(prepareBytes(Buffer.alloc(40 * 1024, 0x20), "sms", PREP)).to.deep.include({ code: "PAYLOAD_TOO_LARGE" });
    const phone = prepareValue({ ...ok, identity: { phone: "12345678" } }, undefined, PREP);
    expect(isRefusal(phone) && phone.details[0]?.path).to.equal("/identity/phone");
    const good = prepareValue(ok, undefined, PREP);
    expect(isRefusal(good)).to.equal(false);
  });
});

describe("supporters: sealing", () => {
  it("seals per supporter, refuses another supporter's or key's blobs, and wrapped keys need the KEK", () => {
    const dk = newDataKey();
    const s = sealJson(dk, "hashA", { email: "jo@example.org" });
    expect(s).to.not.contain("jo@example.org");
    expect(kidOf(s)).to.equal(dk.kid);
    expect(openJson(dk, "hashA", s)).to.deep.equal({ email: "jo@example.org" });
    expect(() => openJson(dk, "hashB", s)).to.throw();
    expect(() => openJson(newDataKey(), "hashA", s)).to.throw();
    const kek = Buffer.alloc(32, 7);
    const w = wrapKey(kek, "hashA", dk, 1);
    expect(unwrapKey(kek, "hashA", w).key.equals(dk.key)).to.equal(true);
    expect(() => unwrapKey(Buffer.alloc(32, 8), "hashA", w)).to.throw();
  });

  it("redacts emails and phone numbers from reasons", () => {
    expect(redact("user jo@example.org with phone +44 7700 900123 refused")).to.equal(
      "user [email] with phone [number] refused",
    );
  });
});

// ---- the supporter actor ----

const OPTS: SupporterActorOptions = {
  mailboxSubject: (h) => `t.actor.supporter.0.${h}`,
  mailboxStream: "T_ACTOR_SUPPORTER",
  dlqSubject: (h) => `t.dlq.supporters.${h}`,
  logSubject: (h) => `t.supporters.log.${h}`,
  maxQueue: 5,
  maxQueueBytes: 100_000,
  jobDeadlineMs: 60_000,
};
const HASH = "H".repeat(43);

class Sim {
  state: SupporterState = initialSupporterState(HASH);
  seq = 0;
  now = 1_000;
  effects: Effect[] = [];

  deliver(data: unknown, headers: Record<string, string> = {}): Effect[] {
    const msg: ActorMessage = { key: HASH, seq: ++this.seq, data, headers, publishedAt: this.now, deliveryCount: 1 };
    const r = handleSupporter(OPTS, this.state, msg, { kind: "supporter", key: HASH, now: this.now++ });
    this.state = r.state;
    const e = [...(r.effects ?? [])];
    this.effects.push(...e);
    return e;
  }

  message(n: number, opts: { events?: boolean; client?: string } = {}): Effect[] {
    const m: IntakeMessage = {
      t: "msg",
      id: `sms.m${n}`,
      source: "sms",
      seq: n,
      receivedAt: n,
      kid: "k1",
      identity: `v1.k1.iv.ident${n}`,
      events: opts.events === false ? null : `v1.k1.iv.events${n}`,
      types: ["x.y"],
      ...(opts.client ? { client: opts.client } : {}),
    };
    return this.deliver(m);
  }

  jobs(effects: readonly Effect[] = this.effects): Array<Extract<Effect, { type: "job" }>> {
    return effects.filter((e): e is Extract<Effect, { type: "job" }> => e.type === "job");
  }

  result(job: Extract<Effect, { type: "job" }>, outcome: Partial<JobResult["$job"]> = {}): Effect[] {
    const r: JobResult = {
      $job: { id: job.id!, job: job.job, ok: true, result: { ok: true }, attempts: 1, ...outcome },
    };
    return this.deliver(r);
  }
}

describe("supporters: actor state machine", () => {
  it("one job per lane, in order; step 2 of a message only after its step 1; the user lane may run ahead", () => {
    const s = new Sim();
    const e1 = s.jobs(s.message(1));
    expect(e1.map((j) => j.job)).to.deep.equal([userJob.name]);
    expect(s.jobs(s.message(2))).to.deep.equal([]); // user lane busy, ERP waits for m1's step 1
    const afterU1 = s.jobs(s.result(e1[0]!));
    expect(afterU1.map((j) => [j.job, (j.data as { id: string }).id])).to.deep.equal([
      [userJob.name, "sms.m2"],
      [erpJob.name, "sms.m1"],
    ]);
    const u2 = afterU1[0]!;
    const e1job = afterU1[1]!;
    // step 1 of m2 done while step 2 of m1 is still in flight: nothing new for ERP yet
    expect(s.jobs(s.result(u2))).to.deep.equal([]);
    const next = s.jobs(s.result(e1job));
    expect(next.map((j) => [j.job, (j.data as { id: string }).id])).to.deep.equal([[erpJob.name, "sms.m2"]]);
    s.result(next[0]!);
    expect(s.state.queue).to.have.length(0);
    expect(s.state.counts).to.include({ received: 2, userDelivered: 2, erpDelivered: 2 });
    // idempotency keys are stable per message and hash
    expect((e1[0]!.data as { key: string }).key).to.equal(`${HASH}:sms.m1`);
  });

  it("a refusal parks the message in the DLQ with the runtime's headers and the next one goes", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    s.message(2);
    const eff = s.result(u1, {
      ok: false,
      terminal: true,
      error: "user service refused (422): bad jo@example.org",
      result: undefined,
      attempts: 1,
    });
    const dlq = eff.find(
      (e): e is Extract<Effect, { type: "publish" }> => e.type === "publish" && e.subject === OPTS.dlqSubject(HASH),
    );
    expect(dlq, "dead letter").to.not.equal(undefined);
    expect(dlq!.headers?.[DlqHeaders.Subject]).to.equal(OPTS.mailboxSubject(HASH));
    expect(dlq!.headers?.[DlqHeaders.Error]).to.contain("[email]").and.not.contain("jo@example.org");
    expect((dlq!.data as IntakeMessage).id).to.equal("sms.m1");
    expect(s.jobs(eff).map((j) => (j.data as { id: string }).id)).to.deep.equal(["sms.m2"]);
    expect(s.state.parked.map((p) => p.id)).to.deep.equal(["sms.m1"]);
    expect(s.state.queue.map((i) => i.id)).to.deep.equal(["sms.m2"]);
  });

  it("a job past its deadline is issued again with the same idempotency key; nothing is dropped", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    const again = s.jobs(
      s.result(u1, {
        ok: false,
        terminal: false,
        error: "deadline exceeded; last error: 503",
        attempts: 40,
        result: undefined,
      }),
    );
    expect(again).to.have.length(1);
    expect(again[0]!.id).to.not.equal(u1.id);
    expect((again[0]!.data as { key: string }).key).to.equal((u1.data as { key: string }).key);
    expect(s.state.counts.reissued).to.equal(1);
    // the old job's late result changes nothing
    const before = s.state;
    s.result(u1);
    expect(s.state.queue).to.deep.equal(before.queue);
  });

  it("a job lost without any result is issued again once the next message finds it past its deadline", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    // the job message is gone (no worker will ever answer): the next message waits behind it ...
    s.now += OPTS.jobDeadlineMs - 10;
    expect(s.jobs(s.message(2))).to.deep.equal([]);
    expect(s.state.lanes.user.job).to.equal(u1.id);
    // ... until one arrives after the job's deadline: issued again, same idempotency key
    s.now += 20;
    const again = s.jobs(s.message(3));
    expect(again.map((j) => [j.job, (j.data as { id: string }).id])).to.deep.equal([[userJob.name, "sms.m1"]]);
    expect(again[0]!.id).to.not.equal(u1.id);
    expect((again[0]!.data as { key: string }).key).to.equal((u1.data as { key: string }).key);
    expect(s.state.counts.reissued).to.equal(1);
    // the lost job's late result, should it come after all, changes nothing
    const before = s.state.lanes;
    s.result(u1);
    expect(s.state.lanes).to.deep.equal(before);
    expect(s.state.queue.map((i) => i.id)).to.deep.equal(["sms.m1", "sms.m2", "sms.m3"]);
  });

  it("a supporter whose job and result are lost and that gets no other message is woken past the deadline and issues it again", () => {
    const s = new Sim();
    expect(supporterWakeAt(OPTS, s.state), "idle: no wake-up").to.equal(null);
    const u1 = s.jobs(s.message(1))[0]!;
    const since = s.state.lanes.user.since!;
    const at = supporterWakeAt(OPTS, s.state)!;
    expect(at).to.be.greaterThan(since + OPTS.jobDeadlineMs);
    // the host hands the wake-up once `at` passed: issued again, same idempotency key
    s.now = at;
    const again = s.jobs(s.deliver({ $wake: at }));
    expect(again.map((j) => [j.job, (j.data as { id: string }).id])).to.deep.equal([[userJob.name, "sms.m1"]]);
    expect(again[0]!.id).to.not.equal(u1.id);
    expect((again[0]!.data as { key: string }).key).to.equal((u1.data as { key: string }).key);
    expect(s.state.counts.reissued).to.equal(1);
    // the next wake-up is the new job's deadline; a wake-up before it changes nothing
    expect(supporterWakeAt(OPTS, s.state)).to.be.greaterThan(at);
    const before = s.state.lanes;
    expect(s.jobs(s.deliver({ $wake: at + 1 }))).to.deep.equal([]);
    expect(s.state.lanes).to.deep.equal(before);
    // delivered: both lanes idle again, no wake-up
    s.result(s.jobs(s.result(again[0]!))[0]!);
    expect(s.state.queue).to.deep.equal([]);
    expect(supporterWakeAt(OPTS, s.state)).to.equal(null);
  });

  it("attempt reports show the last error; duplicates are ignored; replays are taken with fresh keys", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    s.deliver({ t: "attempt", job: u1.id, attempt: 4, error: "user service answered 503", at: 5 });
    expect(s.state.lanes.user).to.include({ attempts: 4, lastError: "user service answered 503" });
    s.message(1);
    expect(s.state.counts.duplicates).to.equal(1);
    const e1 = s.jobs(s.result(u1))[0]!;
    s.result(e1);
    s.message(1); // completed already: a duplicate
    expect(s.state.counts.duplicates).to.equal(2);
    const replay = s.jobs(
      s.deliver(
        {
          t: "msg",
          id: "sms.m1",
          source: "sms",
          seq: 1,
          receivedAt: 1,
          kid: "k1",
          identity: "",
          events: "v1.k1.iv.e",
          types: ["x.y"],
          from: "erp",
        },
        { [REPLAYED_FROM_HEADER]: "77" },
      ),
    );
    expect(replay.map((j) => [j.job, (j.data as { key: string }).key])).to.deep.equal([
      [erpJob.name, `${HASH}:sms.m1:r77`],
    ]);
  });

  it("bounds the queue: the overflow is parked in the DLQ, not dropped", () => {
    const s = new Sim();
    for (let n = 1; n <= 7; n++) s.message(n);
    expect(s.state.queue).to.have.length(5);
    expect(s.state.parked.map((p) => p.id)).to.deep.equal(["sms.m6", "sms.m7"]);
    expect(s.effects.filter((e) => e.type === "publish" && e.subject === OPTS.dlqSubject(HASH))).to.have.length(2);
  });

  it("forget: blanks sealed data, erases what was not sent, erases at the user service after the write in flight", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    s.message(2);
    s.message(3, { events: false });
    const f = s.deliver({ t: "forget", id: "forget.9", seq: 9, at: 50, by: "client1" });
    expect(s.jobs(f)).to.deep.equal([]); // the identity write in flight goes first
    expect(JSON.stringify(s.state.queue)).to.not.match(/ident\d|events\d/);
    const afterU1 = s.jobs(s.result(u1));
    expect(afterU1.map((j) => j.job)).to.deep.equal([forgetJob.name]);
    s.result(afterU1[0]!);
    expect(s.state.queue).to.have.length(0);
    expect(s.state.forgottenAt).to.equal(50);
    expect(s.state.counts.forgets).to.equal(1);
    // a message after the forget is new data: delivered as usual
    expect(s.jobs(s.message(10)).map((j) => j.job)).to.deep.equal([userJob.name]);
  });

  it("an erased result (the key was gone when the job ran) skips both steps", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    s.result(u1, { result: { erased: true } });
    expect(s.state.queue).to.have.length(0);
    expect(s.state.counts).to.include({ erased: 1, userDelivered: 0, erpDelivered: 0 });
  });

  it("the operator view shows lanes, pending counts and parked items without sealed data", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1))[0]!;
    s.message(2);
    s.deliver({ t: "attempt", job: u1.id, attempt: 2, error: "timeout", at: 5 });
    const v = supporterView(HASH, s.state);
    expect(v.pending).to.deep.equal({ user: 2, erp: 2, total: 2 });
    expect(v.lanes.user).to.include({ inFlight: "sms.m1", attempts: 2, lastError: "timeout" });
    expect(JSON.stringify(v)).to.not.contain("v1.k1");
    expect(supporterView(HASH, undefined).known).to.equal(false);
  });

  it("a client's view holds only its own items, lanes and parked entries, and its own counters", () => {
    const s = new Sim();
    const u1 = s.jobs(s.message(1, { client: "cl_b" }))[0]!;
    s.message(2, { client: "cl_a" });
    s.message(3, { client: "cl_b" });
    s.deliver({ t: "attempt", job: u1.id, attempt: 2, error: "timeout", at: 5 });
    const summary = {
      received: 2,
      userDelivered: 0,
      erpDelivered: 0,
      parked: 0,
      erased: 0,
      firstAt: new Date(1).toISOString(),
      lastAt: new Date(3).toISOString(),
    };
    const a = clientSupporterView(HASH, s.state, "cl_a", {
      ...summary,
      received: 1,
      firstAt: new Date(2).toISOString(),
      lastAt: new Date(2).toISOString(),
    });
    expect(a.queue.map((i) => i.id)).to.deep.equal(["sms.m2"]);
    expect(a.pending).to.deep.equal({ user: 1, erp: 1, total: 1 });
    expect(a.lanes.user.inFlight).to.equal(null); // B's message is in flight: A sees an idle lane
    expect(a.counts).to.deep.equal({ received: 1, userDelivered: 0, erpDelivered: 0, parked: 0, erased: 0 });
    const b = clientSupporterView(HASH, s.state, "cl_b", summary);
    expect(b.queue.map((i) => i.id)).to.deep.equal(["sms.m1", "sms.m3"]);
    expect(b.lanes.user).to.include({ inFlight: "sms.m1", lastError: "timeout" });
    expect(holdsItemOf(s.state, "cl_a")).to.equal(true);
    expect(holdsItemOf(s.state, "cl_c")).to.equal(false);
    // a refusal parks B's message: only B sees the parked entry (which keeps its owner for a replay)
    const dlq = s
      .result(u1, { ok: false, terminal: true, error: "422 bad" })
      .find((e) => e.type === "publish" && e.subject === OPTS.dlqSubject(HASH));
    expect((dlq as { data: IntakeMessage }).data.client).to.equal("cl_b");
    expect(clientSupporterView(HASH, s.state, "cl_b", summary).parked.map((p) => p.id)).to.deep.equal(["sms.m1"]);
    expect(clientSupporterView(HASH, s.state, "cl_a", summary).parked).to.deep.equal([]);
    // a forget before A's first message is not A's business; after it, it is
    s.deliver({ t: "forget", id: "forget.9", seq: 9, at: 10, by: "operator" });
    expect(
      clientSupporterView(HASH, s.state, "cl_a", { ...summary, firstAt: new Date(2).toISOString() }).forgottenAt,
    ).to.equal(new Date(10).toISOString());
    expect(
      clientSupporterView(HASH, s.state, "cl_a", { ...summary, firstAt: new Date(11).toISOString() }).forgottenAt,
    ).to.equal(null);
  });

  it("malformed messages are terminal errors (runtime DLQ)", () => {
    const s = new Sim();
    expect(() => s.deliver({ t: "msg", id: 5 })).to.throw(/not a supporter message/);
    expect(() => s.deliver("x")).to.throw();
  });

  it("a result of no delivery job changes nothing; the kind and job names of stored streams stay", () => {
    const s = new Sim();
    s.message(1);
    const before = s.state;
    const effects = s.deliver({
      $job: { id: s.jobs()[0]!.id!, job: "otherjob", ok: true, result: { ok: true }, attempts: 1 },
    });
    expect(effects).to.deep.equal([]);
    expect(s.state).to.deep.equal(before);
    expect([supporter.name, userJob.name, erpJob.name, forgetJob.name]).to.deep.equal([
      "supporter",
      "supuser",
      "superp",
      "supforget",
    ]);
  });
});
