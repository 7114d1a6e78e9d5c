/**
 * Loading a work queue while a producer publishes into it (real NATS): a promoted standby's
 * intake captures the producers' subjects from the moment it exists, and producers re-pointed to
 * the standby publish at once. With `foreignWrites` the load keeps every producer message where
 * it landed and every record after it, in order, and ends past the target's next sequence;
 * without it, the load refuses (the default for restores, which need the original positions).
 */
import { expect } from "chai";
import { connectNats, RetentionPolicy, StorageType, type NatsHandles, type StreamConfig } from "../../nats";
import { loadStream } from "../../ops/restore";
import type { StreamRecord } from "../../ops/records";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "silent", name: "test:load-stream" });
const enc = new TextEncoder();
const dec = new TextDecoder();

describe("DR: a work queue loaded while a producer publishes into it (real NATS)", function () {
  this.timeout(30_000);
  const ns = freshNamespace("tlq");
  let h: NatsHandles;

  before(async () => {
    h = await connectNats(NATS_URL, `test-${ns}`);
  });
  after(async () => {
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  const config = (name: string): StreamConfig =>
    ({
      name,
      subjects: [`${ns}.${name.toLowerCase()}.in.*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: 1,
      duplicate_window: 120_000_000_000,
    }) as StreamConfig;

  /** Records at sequences 10..14; after yielding the second, a producer's message lands. */
  async function* records(name: string): AsyncIterable<StreamRecord> {
    const subject = `${ns}.${name.toLowerCase()}.in.a`;
    for (let i = 0; i < 5; i++) {
      yield { seq: 10 + i, timeNs: 0n, subject, headers: [], data: enc.encode(`r${i}`) };
      if (i === 1) await h.js.publish(subject, enc.encode("producer"), { msgID: `p-${name}` });
    }
  }

  async function contents(name: string): Promise<string[]> {
    const info = await h.jsm.streams.info(name);
    const out: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await h.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (m) out.push(dec.decode(m.data));
    }
    return out;
  }

  it("keeps the producer's message and every record, in order, and ends past the next sequence", async () => {
    const name = `${ns.toUpperCase()}_QA`;
    const loaded = await loadStream(h, log, { name, config: config(name), consumers: [], nextSeq: 20 }, records(name), {
      foreignWrites: true,
    });
    const all = await contents(name);
    expect(all.filter((d) => d.startsWith("r"))).to.deep.equal(["r0", "r1", "r2", "r3", "r4"]);
    expect(all.filter((d) => d === "producer")).to.have.length(1);
    expect(loaded.foreign).to.equal(1);
    expect(loaded.nextSeq).to.be.at.least(20);
  });

  it("without foreignWrites refuses the load (a restore keeps positions)", async () => {
    const name = `${ns.toUpperCase()}_QB`;
    const err = await loadStream(
      h,
      log,
      { name, config: config(name), consumers: [], nextSeq: 20 },
      records(name),
    ).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).to.match(/stored at|from elsewhere/);
  });
});
