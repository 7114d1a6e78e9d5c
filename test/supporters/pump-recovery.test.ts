/**
 * The intake pump through NATS faults (real NATS, one node in this process).
 *
 * It keeps forwarding when its consumer goes under it. After a NATS server fault the pump's consumer can be gone while the node still holds
 * the pump's lease: nats.js then checks for the consumer forever and delivers nothing, and every
 * supporter message accepted from then on waited in the intake stream (the fault matrix's
 * supporters stall). Now the session ends (ConsumerGoneError) and the pump opens the consumer
 * again: what is published after the loss reaches both services, in order, once.
 *
 * It keeps a supporter's order while the mailbox refuses publishes (a stream without a leader
 * for a few seconds): each publish is retried with its own backoff, and before the fix a retry of
 * message k landed after message k+1 (the matrix's nats-server-kill row: every supporter's
 * messages around the kill reached the services shuffled).
 */
import { expect } from "chai";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { supporterNames } from "../../services/supporters/streams";
import { topology } from "../../streams/subjects";
import {
  Producers,
  cleanupSupporters,
  expectedHash,
  freePort,
  payloadOf,
  startInProcess,
  startSims,
  supportersEnv,
  type InProcessNode,
  type Sims,
} from "./harness";

describe("supporters: the pump through NATS faults", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tspr");
  let sims: Sims;
  let node: InProcessNode;
  let nats: Producers;

  before(async () => {
    sims = await startSims();
    node = await startInProcess(supportersEnv(ns, "a1", await freePort(), sims));
    nats = await Producers.connect(ns);
  });

  after(async () => {
    await nats?.close();
    await node?.stop();
    await sims?.close();
    await cleanupSupporters(ns);
  });

  const delivered = (i: number): string[] => sims.erp.book.deliveries(expectedHash(i)).map((d) => d.messageId);

  it("forwards what is published after the loss, in order, once", async () => {
    for (let k = 0; k < 3; k++) await nats.publish("giftaid", payloadOf(7, k, "giftaid"), `s7-m${k}`);
    await waitFor("the first three at the ERP service", () => delivered(7).length === 3, 60_000, 200);

    const names = supporterNames(ns);
    await nats.h.jsm.consumers.delete(names.inStream, names.pumpConsumer);
    for (let k = 3; k < 6; k++) await nats.publish("giftaid", payloadOf(7, k, "giftaid"), `s7-m${k}`);

    await waitFor(
      "the messages published after the loss at the ERP service",
      () => delivered(7).length >= 6,
      60_000,
      250,
    );
    const ids = Array.from({ length: 6 }, (_, k) => `giftaid.s7-m${k}`);
    expect(delivered(7)).to.deep.equal(ids);
    expect(sims.user.book.deliveries(expectedHash(7)).map((d) => d.messageId)).to.deep.equal(ids);
  });

  it("keeps a supporter's order when its mailbox refuses publishes for a while (each retried on its own)", async () => {
    for (let k = 0; k < 2; k++) await nats.publish("giftaid", payloadOf(8, k, "giftaid"), `s8-m${k}`);
    await waitFor("the first two at the ERP service", () => delivered(8).length === 2, 60_000, 200);

    // The mailbox refuses every message for 3 s (as a stream without a leader does), while
    // six more of the supporter's messages come in; each forward retries with its own backoff.
    const mailbox = topology(ns).actors.stream("supporter");
    const cfg = (await nats.h.jsm.streams.info(mailbox)).config;
    await nats.h.jsm.streams.update(mailbox, { ...cfg, max_msg_size: 16 });
    try {
      for (let k = 2; k < 8; k++) {
        await nats.publish("giftaid", payloadOf(8, k, "giftaid"), `s8-m${k}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, 1200));
    } finally {
      await nats.h.jsm.streams.update(mailbox, { ...cfg, max_msg_size: cfg.max_msg_size ?? -1 });
    }
    await waitFor("all eight at the ERP service", () => delivered(8).length >= 8, 60_000, 250);
    const ids = Array.from({ length: 8 }, (_, k) => `giftaid.s8-m${k}`);
    expect(delivered(8)).to.deep.equal(ids);
    expect(sims.user.book.deliveries(expectedHash(8)).map((d) => d.messageId)).to.deep.equal(ids);
  });
});
