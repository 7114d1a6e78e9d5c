/**
 * KindHost's delivery rules with an in-memory state store and hand-made messages: no server
 * is needed to check what happens on redelivery, on a revision conflict and on poison.
 */
import { expect } from "chai";
import { KindHost, type HostIo } from "../../actors/host";
import type { ResolvedEffect } from "../../actors/effects";
import { isWake, type ActorKind, type Effect } from "../../actors/types";
import { topology } from "../../streams/subjects";
import { createLogger } from "../../lib/logger";
import { JetStreamApiCodes, JetStreamApiError, type JsMsg, type KV } from "../../nats";
import { waitFor } from "../support/wait";
import { STORED_AT_HEADER, withStoredAt } from "../../streams/stored-at";

interface Entry {
  value: Uint8Array;
  revision: number;
}

/** What JetStream answers to a KV create of an existing key or an update at a stale revision. */
/** A host of `kind` on one partition with fast retries, actors idle after `idleMs`, on clock `now`. */
function testHost(kind: ActorKind, io: HostIo, idleMs: number, now?: () => number): KindHost {
  return new KindHost(
    kind,
    io,
    { topology: topology("ns"), partitionsOf: () => 1, jobDeadlineMs: () => 1000 },
    { partitions: 1, idleMs, maxResident: 100, maxBatch: 64, retry: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 2 } },
    createLogger({ level: "silent" }),
    now,
  );
}

function wrongLastSequence(seq: number): JetStreamApiError {
  return new JetStreamApiError({
    code: 400,
    err_code: JetStreamApiCodes.StreamWrongLastSequence,
    description: `wrong last sequence: ${seq}`,
  });
}

/** The subset of KV the host uses, in memory, with revision checks (and their errors) like JetStream's. */
class MemoryKv {
  readonly entries = new Map<string, Entry>();
  writes = 0;
  private rev = 0;
  async get(k: string) {
    const e = this.entries.get(k);
    return e ? { key: k, value: e.value, revision: e.revision, operation: "PUT" as const } : null;
  }
  async create(k: string, v: Uint8Array) {
    if (this.entries.has(k)) throw wrongLastSequence(this.entries.get(k)!.revision);
    this.writes++;
    this.entries.set(k, { value: v, revision: ++this.rev });
    return this.rev;
  }
  async update(k: string, v: Uint8Array, version: number) {
    if (this.entries.get(k)?.revision !== version) throw wrongLastSequence(this.entries.get(k)?.revision ?? 0);
    this.writes++;
    this.entries.set(k, { value: v, revision: ++this.rev });
    return this.rev;
  }
  put(k: string, obj: unknown) {
    this.entries.set(k, { value: new TextEncoder().encode(JSON.stringify(obj)), revision: ++this.rev });
  }
  json(k: string) {
    const e = this.entries.get(k);
    return e ? JSON.parse(new TextDecoder().decode(e.value)) : undefined;
  }
}

/** Stream time of the message at sequence `seq`: one ms apart, in stream order, as a server stores them. */
const T0 = Date.now();
const streamTime = (seq: number): number => T0 + seq;

function fakeMsg(seq: number, data: unknown, acks: number[], storedAt = streamTime(seq)): JsMsg {
  return {
    seq,
    subject: `ns.actor.sum.0.k`,
    data: new TextEncoder().encode(JSON.stringify(data)),
    headers: undefined,
    info: { timestampNanos: storedAt * 1e6, deliveryCount: 1, stream: "NS_ACTOR_SUM" },
    ack: () => acks.push(seq),
  } as unknown as JsMsg;
}

const sumKind: ActorKind<{ total: number }, { add: number; poison?: boolean; notify?: boolean }> = {
  name: "sum",
  initialState: () => ({ total: 0 }),
  handle(state, msg) {
    if (msg.data.poison) throw new Error("poison");
    const total = state.total + msg.data.add;
    const effects: Effect[] = [{ type: "emit", event: "sum.changed", payload: total }];
    // a send (its default id names the sequence) when the message asks for one
    if (msg.data.notify) effects.push({ type: "send", kind: "sum", key: "audit", data: { total } });
    return { state: { total }, effects };
  },
  retry: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 2 },
};

describe("KindHost delivery rules", () => {
  let kv: MemoryKv;
  let effects: ResolvedEffect[][];
  let dead: Array<{ seq: number; error: string; attempts: number }>;
  let acks: number[];
  let host: KindHost;

  beforeEach(() => {
    kv = new MemoryKv();
    effects = [];
    dead = [];
    acks = [];
    const io: HostIo = {
      kv: kv as unknown as KV,
      runEffects: async (e) => void effects.push([...e]),
      deadLetter: async (msg, error, attempts) => void dead.push({ seq: msg.seq, error, attempts }),
    };
    host = testHost(sumKind as ActorKind, io, 60_000);
    host.openPartition(0);
  });

  function deliver(seq: number, data: unknown, storedAt?: number): Promise<void> {
    return new Promise((resolve) => host.deliver(0, "k", fakeMsg(seq, data, acks, storedAt), resolve));
  }

  it("applies messages once, stores state with the last sequence and its effects", async () => {
    await deliver(1, { add: 2 });
    await deliver(2, { add: 3 });
    const { t, ...stored } = kv.json("k");
    expect(stored).to.deep.equal({
      s: { total: 5 },
      q: 2,
      qt: streamTime(2),
      e: [{ t: "emit", event: "sum.changed", payload: 5 }],
    });
    expect(t).to.be.a("number");
    expect(acks).to.deep.equal([1, 2]);
  });

  it("runs a freshly loaded write's effects before a newer message's write replaces them (the old owner may not have)", async () => {
    const stored = [{ t: "pub", subject: "ns.x", id: "sum:k:7:0", data: 1 }];
    kv.put("k", { s: { total: 10 }, q: 7, e: stored, t: Date.now() });
    await deliver(8, { add: 1 }); // newer than the write: its messages come back later, or never
    expect(kv.json("k").s).to.deep.equal({ total: 11 });
    expect(effects).to.have.length(1);
    expect(effects[0]).to.deep.include.members(stored);
    expect(kv.json("k").e).to.deep.include.members(stored); // kept until they ran: a crash now re-runs them
    await deliver(7, { add: 100 }); // the old write's message, redelivered: already applied, nothing again
    expect(kv.json("k").s).to.deep.equal({ total: 11 });
  });

  it("does not run again the effects of a write older than the duplicate window on load", async () => {
    const stored = [{ t: "pub", subject: "ns.x", id: "sum:k:7:0", data: 1 }];
    kv.put("k", { s: { total: 10 }, q: 7, e: stored, t: Date.now() - 10 * 60_000 });
    await deliver(8, { add: 1 });
    expect(effects.flat()).to.not.deep.include(stored[0]);
  });

  it("re-emits the stored effects of a redelivered message whose write landed, without changing state", async () => {
    const stored = [{ t: "pub", subject: "ns.x", id: "sum:k:7:0", data: 1 }];
    kv.put("k", { s: { total: 10 }, q: 7, e: stored });
    await deliver(7, { add: 100 });
    expect(kv.writes).to.equal(0);
    expect(kv.json("k").s).to.deep.equal({ total: 10 });
    expect(effects).to.deep.equal([stored]);
    expect(acks).to.deep.equal([7]);
    await deliver(5, { add: 100 }); // older still: nothing to re-emit
    expect(effects).to.have.length(1);
    expect(acks).to.deep.equal([7, 5]);
  });

  it("handles a message at or below the applied sequence that was stored after it (the stream lost its tail), with ids of a new epoch", async () => {
    kv.put("k", { s: { total: 10 }, q: 50, qt: streamTime(50), e: [] });
    await deliver(40, { add: 100 }); // stored before seq 50: a redelivery, nothing again
    await deliver(50, { add: 100 }, streamTime(50) + 500); // a stored time a little off: still a redelivery
    expect(kv.json("k").s).to.deep.equal({ total: 10 });
    const later = streamTime(50) + 5_000;
    await deliver(3, { add: 1, notify: true }, later); // the stream went back to seq 2 and stored a new message
    await deliver(4, { add: 2, notify: true }, later + 1);
    expect(kv.json("k")).to.deep.include({ s: { total: 13 }, q: 4, qt: later + 1, g: 1 });
    const ids = effects.flatMap((batch) => batch.flatMap((e) => (e.t === "pub" ? [e.id] : [])));
    expect(ids).to.deep.equal(["sum:k:3g1:1", "sum:k:4g1:1"]);
    // a message a restore stored anew (today) at its old sequence, with its first store time kept
    const restored = fakeMsg(2, { add: 1000 }, acks, Date.now() + 60_000);
    (restored as { headers: unknown }).headers = {
      get: (k: string) => (k === STORED_AT_HEADER ? String(streamTime(2)) : ""),
    };
    await new Promise<void>((resolve) => host.deliver(0, "k", restored, resolve));
    expect(kv.json("k").s).to.deep.equal({ total: 13 });
    effects.length = 0;
    await deliver(3, { add: 1, notify: true }, later); // a redelivery of the new message 3
    expect(kv.json("k").s).to.deep.equal({ total: 13 });
    expect(host.stats.sequenceRegressions).to.equal(1);
  });

  it("a message stored anew keeps its first store time, once", () => {
    const first = withStoredAt([["Nats-Msg-Id", "a"]], 1_700_000_000_123_456_789n);
    expect(first).to.deep.equal([
      ["Nats-Msg-Id", "a"],
      [STORED_AT_HEADER, "1700000000123"],
    ]);
    expect(withStoredAt(first, 1_800_000_000_000_000_000n)).to.equal(first);
  });

  it("reloads and folds again when another writer moved the state", async () => {
    await deliver(1, { add: 1 });
    kv.put("k", { s: { total: 50 }, q: 3, e: [] }); // a stale owner's later write
    await deliver(4, { add: 1 });
    expect(kv.json("k").s).to.deep.equal({ total: 51 });
    expect(kv.json("k").q).to.equal(4);
  });

  it("dead-letters a message that keeps failing, then goes on with the key", async () => {
    const poisoned = deliver(1, { add: 1, poison: true });
    const next = deliver(2, { add: 5 });
    await Promise.all([poisoned, next]);
    expect(dead).to.deep.equal([{ seq: 1, error: "poison", attempts: 2 }]);
    expect(kv.json("k").s).to.deep.equal({ total: 5 });
    expect(acks).to.deep.equal([1, 2]);
  });

  it("folds a queue of messages for one key into one state write", async () => {
    const all = Array.from({ length: 20 }, (_, i) => deliver(i + 1, { add: 1 }));
    await Promise.all(all);
    expect(kv.json("k").s).to.deep.equal({ total: 20 });
    expect(kv.writes).to.be.below(20);
  });

  it("wakes a resident actor whose kind's wakeAt passed, with nothing else queued, and stores what it did", async () => {
    // a kind that asks to be woken 1 s after each message, and counts its wake-ups
    const clock = { now: 10_000 };
    const wakeKind: ActorKind<{ total: number; wakes: number; due: number | null }, { add: number }> = {
      name: "sum",
      initialState: () => ({ total: 0, wakes: 0, due: null }),
      handle(state, msg, ctx) {
        if (isWake(msg.data)) return { state: { ...state, wakes: state.wakes + 1, due: null } };
        return { state: { ...state, total: state.total + msg.data.add, due: ctx.now + 1000 } };
      },
      wakeAt: (state) => state.due,
    };
    const io: HostIo = {
      kv: kv as unknown as KV,
      runEffects: async (e) => void effects.push([...e]),
      deadLetter: async () => undefined,
    };
    const h = testHost(wakeKind as ActorKind, io, 100, () => clock.now);
    h.openPartition(0);
    h.start();
    try {
      await new Promise<void>((resolve) => h.deliver(0, "k", fakeMsg(1, { add: 2 }, acks), resolve));
      expect(kv.json("k").s).to.deep.equal({ total: 2, wakes: 0, due: 11_000 });
      // not yet due: idle past idleMs, but kept resident for its wake-up, and not woken
      clock.now = 10_900;
      await new Promise((r) => setTimeout(r, 400));
      expect(h.resident).to.equal(1);
      expect(kv.json("k").s.wakes).to.equal(0);
      clock.now = 11_000;
      await waitFor("the wake-up stored", () => kv.json("k").s.wakes === 1, 5_000, 20);
      expect(kv.json("k").s).to.deep.equal({ total: 2, wakes: 1, due: null });
      expect(kv.json("k").q, "a wake-up is no mailbox message").to.equal(1);
      // no wake-up due any more: it leaves memory as idle actors do
      clock.now = 20_000;
      await waitFor("evicted", () => h.resident === 0, 5_000, 20);
      expect(kv.json("k").s.wakes).to.equal(1);
    } finally {
      h.stop();
    }
  });

  it("abandons queued messages unacked when its partition closes", async () => {
    host.closePartition(0);
    await deliver(1, { add: 1 });
    expect(acks).to.deep.equal([]);
    expect(kv.writes).to.equal(0);
    await waitFor("nothing resident", () => host.resident === 0);
  });
});
