/**
 * The rewards domain's pure parts, with no broker and no server: the account actor's legs
 * (balanced, never negative, resends free, pending/post/void), first-of-pair-per-day and caps,
 * rule validation and scoring, QR tokens.
 */
import { expect } from "chai";
import { accountKind, type AccountMessage, type AccountState } from "../../services/rewards/account.actor";
import type { Effect } from "../../actors/types";
import { ledgerOfTx, type LedgerRecord, type PlannedTx, type TxRecord } from "../../services/rewards/model";
import { checkRule, scoreTx, inWindow, type Rule } from "../../services/rewards/rules";
import { issueQrToken, verifyQrToken } from "../../services/rewards/qr";

const kind = accountKind({
  names: { ledgerSubject: (a) => `l.${a}`, txSubject: (k) => `t.${k}`, outcomeEvent: "o" },
  recentMax: 3,
});
const AT = Date.UTC(2026, 11, 1, 12, 0, 0);
let seq = 0;
function handle(state: AccountState, key: string, data: AccountMessage) {
  seq++;
  return kind.handle(
    state,
    { key, seq, data, headers: {}, publishedAt: AT, deliveryCount: 1 },
    { kind: "account", key, now: AT },
  );
}
const open = (key: string, k: "civilian" | "officer" | "family") =>
  handle(kind.initialState(key), key, { op: "open", kind: k }).state;
const credited = (tx: string) => ({
  id: `C:${tx}`,
  kind: "donation" as const,
  status: "posted" as const,
  from: "c",
  to: "f",
  amount: 1,
  fromPoints: 0,
  toPoints: 0,
  rules: [],
  at: AT,
});
/** Every ledger leg in `effects`: receivers' legs on the ledger subject, senders' legs riding on transaction records. */
const ledgerOf = (effects: readonly Effect[] | undefined): LedgerRecord[] =>
  (effects ?? []).flatMap((e) => {
    if (e.type !== "publish") return [];
    if (e.subject.startsWith("l.")) return [e.data as LedgerRecord];
    const leg = e.subject.startsWith("t.") ? ledgerOfTx(e.data as TxRecord) : undefined;
    return leg ? [leg] : [];
  });
const plan = (p: Partial<PlannedTx>): PlannedTx => ({
  id: "x",
  kind: "encounter",
  from: "c",
  to: "o",
  fromKind: "civilian",
  toKind: "officer",
  amount: 0,
  awards: [],
  at: AT,
  ...p,
});

describe("rewards pure: account actor", function () {
  it("awards encounter points in balanced legs, once per pair per day, and forwards the receiver's awards", function () {
    const awards = [
      { rule: "r", version: 1, party: "from" as const, points: 10, firstOfPairPerDay: true },
      { rule: "r", version: 1, party: "to" as const, points: 5, firstOfPairPerDay: true },
    ];
    const r1 = handle(open("c", "civilian"), "c", { op: "tx", tx: plan({ id: "e1", awards }) });
    expect(r1.state.balance).to.equal(10);
    const legs = ledgerOf(r1.effects);
    expect(legs).to.have.length(1);
    expect(legs[0]!.postings.reduce((s, p) => s + p.amount, 0)).to.equal(0);
    const credit = (r1.effects ?? []).find((e) => e.type === "send");
    expect(credit).to.deep.include({ kind: "account", key: "o", id: "C:e1" });
    const r2 = handle(r1.state, "c", { op: "tx", tx: plan({ id: "e2", awards }) });
    expect(r2.state.balance).to.equal(10);
    expect((r2.effects ?? []).some((e) => e.type === "send")).to.equal(false);
    const r3 = handle(r2.state, "c", { op: "tx", tx: plan({ id: "e3", awards, at: AT + 86_400_000 }) });
    expect(r3.state.balance).to.equal(20);
  });

  it("answers the waiting node by core NATS when the message names it, and carries the sender's leg on the record", function () {
    const awards = [{ rule: "r", version: 1, party: "from" as const, points: 2 }];
    const r = handle(open("c", "civilian"), "c", { op: "tx", tx: plan({ id: "n1", awards, notify: "ns.out.n1" }) });
    const fx = r.effects ?? [];
    expect(fx.some((e) => e.type === "emit")).to.equal(false);
    expect(fx.find((e) => e.type === "notify")).to.deep.include({ subject: "ns.out.n1" });
    // one durable message for the record and the sender's leg
    const records = fx.filter((e) => e.type === "publish");
    expect(records).to.have.length(1);
    expect(ledgerOfTx((records[0] as { data: TxRecord }).data)).to.deep.equal({
      tx: "n1",
      leg: "from",
      kind: "encounter",
      at: AT,
      postings: [
        { account: "@issuance", amount: -2 },
        { account: "c", amount: 2 },
      ],
    });
    // a refusal, and a message without `notify`, still broadcast
    const refused = handle(r.state, "c", {
      op: "tx",
      tx: plan({ id: "n2", kind: "donation", to: "f", toKind: "family", amount: 99, notify: "ns.out.n1" }),
    });
    expect((refused.effects ?? []).map((e) => e.type)).to.deep.equal(["notify"]);
    const plain = handle(r.state, "c", { op: "tx", tx: plan({ id: "n3" }) });
    expect((plain.effects ?? []).some((e) => e.type === "emit")).to.equal(true);
  });

  it("refuses insufficient balance, never going negative, and answers a resend from its memory", function () {
    let s = open("c", "civilian");
    s = handle(s, "c", {
      op: "tx",
      tx: plan({ id: "e1", awards: [{ rule: "r", version: 1, party: "from", points: 3 }] }),
    }).state;
    const poor = handle(s, "c", {
      op: "tx",
      tx: plan({ id: "d1", kind: "donation", to: "f", toKind: "family", amount: 4 }),
    });
    expect(poor.state.balance).to.equal(3);
    expect(ledgerOf(poor.effects)).to.deep.equal([]);
    expect(poor.state.recent["d1"]).to.include({ status: "refused", code: "INSUFFICIENT_BALANCE" });
    const ok = handle(poor.state, "c", {
      op: "tx",
      tx: plan({ id: "d2", kind: "donation", to: "f", toKind: "family", amount: 3 }),
    });
    expect(ok.state.balance).to.equal(0);
    const again = handle(ok.state, "c", {
      op: "tx",
      tx: plan({ id: "d2", kind: "donation", to: "f", toKind: "family", amount: 3 }),
    });
    expect(again.state).to.equal(ok.state);
    expect(again.effects).to.deep.equal([
      { type: "emit", event: "o", payload: { ...ok.state.recent["d2"], duplicate: true } },
    ]);
  });

  it("applies a receiver's credit once, with its own caps", function () {
    const msg: AccountMessage = {
      op: "credit",
      tx: "t1",
      kind: "donation",
      from: "c",
      amount: 4,
      awards: [{ rule: "r", version: 1, party: "to", points: 5, cap: { period: "day", max: 3 } }],
      at: AT,
    };
    const r1 = handle(open("f", "family"), "f", msg);
    expect(r1.state.balance).to.equal(7);
    expect(ledgerOf(r1.effects)[0]!.postings.reduce((s, p) => s + p.amount, 0)).to.equal(0);
    expect(handle(r1.state, "f", msg).state.balance).to.equal(7);
  });

  it("remembers credits by id only (the last recentMax), and still knows credits of older states", function () {
    const credit = (tx: string): AccountMessage => ({
      op: "credit",
      tx,
      kind: "donation",
      from: "c",
      amount: 1,
      awards: [],
      at: AT,
    });
    let s = open("f", "family");
    for (const tx of ["a", "b", "c", "d"]) s = handle(s, "f", credit(tx)).state;
    expect(s.balance).to.equal(4);
    expect(s.credited).to.deep.equal(["b", "c", "d"]);
    expect(s.recent).to.deep.equal({});
    const again = handle(s, "f", credit("d"));
    expect(again.state.balance).to.equal(4);
    expect(again.effects ?? []).to.deep.equal([]);
    // a state written before `credited` existed remembered credits in `recent` as C:<tx>
    const { credited: _dropped, ...rest } = s;
    const old: AccountState = { ...rest, recent: { "C:x": credited("x") }, order: ["C:x"] };
    expect(handle(old, "f", credit("x")).state.balance).to.equal(4);
    expect(handle(old, "f", credit("y")).state.balance).to.equal(5);
  });

  it("holds an exchange pending in transit, then posts it or voids it back, once", function () {
    let s = open("c", "civilian");
    s = handle(s, "c", {
      op: "tx",
      tx: plan({ id: "e1", awards: [{ rule: "r", version: 1, party: "from", points: 10 }] }),
    }).state;
    const ex = handle(s, "c", {
      op: "tx",
      tx: plan({ id: "x1", kind: "exchange", to: "m", toKind: "merchant", amount: 6 }),
    });
    expect(ex.state).to.include({ balance: 4, held: 6 });
    expect((ex.effects ?? []).some((e) => e.type === "send")).to.equal(false);
    const voided = handle(ex.state, "c", { op: "settle", tx: "x1", action: "void", at: AT });
    expect(voided.state).to.include({ balance: 10, held: 0 });
    expect(ledgerOf(voided.effects)[0]!.leg).to.equal("void");
    const late = handle(voided.state, "c", { op: "settle", tx: "x1", action: "post", at: AT });
    expect(late.state).to.equal(voided.state);
    expect((late.effects ?? [])[0]).to.deep.nested.include({ "payload.code": "NOT_PENDING" });
  });
});

describe("rewards pure: rules and QR", function () {
  const rule = (r: Partial<Rule>): Rule => ({
    id: "r1",
    version: 1,
    name: "n",
    txKind: "donation",
    points: { from: 2 },
    updatedAt: "",
    updatedBy: "",
    ...r,
  });

  it("validates rules against the schema and across fields", function () {
    expect(checkRule({ name: "a", txKind: "encounter", points: { from: 1 } })).to.deep.equal([]);
    expect(checkRule({ name: "a", txKind: "encounter", points: {} }).map((p) => p.path)).to.deep.equal(["/points"]);
    expect(
      checkRule({ name: "a", txKind: "donation", points: { from: 1 }, conditions: { amount: { min: 5, max: 1 } } })[0]!
        .path,
    ).to.equal("/conditions/amount");
    expect(checkRule({ name: "a", txKind: "x", points: { from: 1 } })).to.not.deep.equal([]);
  });

  it("scores only matching enabled rules: kinds, amount range, time window", function () {
    const tx = {
      kind: "donation" as const,
      fromKind: "civilian" as const,
      toKind: "family" as const,
      amount: 10,
      at: AT,
    };
    expect(scoreTx([rule({})], tx)).to.have.length(1);
    expect(scoreTx([rule({ enabled: false })], tx)).to.deep.equal([]);
    expect(scoreTx([rule({ conditions: { amount: { min: 11 } } })], tx)).to.deep.equal([]);
    expect(scoreTx([rule({ conditions: { toKinds: ["charity"] } })], tx)).to.deep.equal([]);
    expect(scoreTx([rule({ conditions: { timeWindow: { from: "11:00", to: "13:00" } } })], tx)).to.have.length(1);
    expect(inWindow({ from: "22:00", to: "02:00" }, Date.UTC(2026, 0, 1, 1, 0))).to.equal(true);
    expect(inWindow({ from: "22:00", to: "02:00" }, Date.UTC(2026, 0, 1, 12, 0))).to.equal(false);
  });

  it("verifies QR tokens: signature, expiry, shape", function () {
    const secret = "s".repeat(40);
    const { token } = issueQrToken(secret, "u1", "officer", AT, 60_000);
    expect(verifyQrToken(secret, token, AT + 1000)).to.deep.include({ user: "u1", kind: "officer" });
    expect(verifyQrToken(secret, token, AT + 61_000)).to.equal("EXPIRED");
    expect(verifyQrToken("t".repeat(40), token, AT)).to.equal("BAD_SIGNATURE");
    expect(verifyQrToken(secret, "v1.x", AT)).to.equal("MALFORMED");
  });
});
