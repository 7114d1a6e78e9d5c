/**
 * The intake: hands every stored receipt record to its actor. A durable consumer on the
 * record subjects, shared by every node running the receipts domain; each record becomes a
 * `submit` message (Nats-Msg-Id `submit-{id}`, and the actor ignores a second submit), acked
 * once the actor's mailbox stored it. Nothing is lost on a crash: unacked records come back.
 */
import type { ConsumerMessages, JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { ActorRuntime } from "../actors/types";
import { RECEIPT_KIND, type ReceiptCommand } from "../actors/receipt.actor";
import { backoffDelay } from "../actors/backoff";
import { errorMessage } from "../lib/errors";
import type { ReceiptNames } from "../streams/receipts.stream";
import { isReceiptRecord, submittedFromRecord } from "./record";

/** A running consumer loop. */
export interface ConsumerLoop {
  readonly stats: Record<string, number>;
  /** True while the loop is consuming. */
  running(): boolean;
  stop(): Promise<void>;
}

/** Starts the intake consumer; `concurrency` records are handed over in parallel. */
export async function startReceiptIntake(opts: { nats: NatsHandles; names: ReceiptNames; runtime: ActorRuntime; logger: Logger; concurrency?: number }): Promise<ConsumerLoop> {
  const { nats, names, runtime, logger } = opts;
  const concurrency = opts.concurrency ?? 256;
  const stats = { submitted: 0, retried: 0, dropped: 0 };
  const consumer = await nats.js.consumers.get(names.stream, names.intakeConsumer);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: concurrency });
  let inflight = 0;
  let wake: (() => void) | null = null;
  let stopped = false;

  async function handle(msg: JsMsg): Promise<void> {
    let rec: unknown;
    try {
      rec = msg.json();
    } catch {
      rec = undefined;
    }
    if (!isReceiptRecord(rec)) {
      stats.dropped++;
      logger.error({ subject: msg.subject }, "undecodable receipt record dropped from intake");
      msg.term("undecodable receipt record");
      return;
    }
    try {
      const submit: ReceiptCommand = { type: "submit", receipt: submittedFromRecord(rec) };
      await runtime.send(RECEIPT_KIND, rec.id, submit, { id: `submit-${rec.id}` });
      msg.ack();
      stats.submitted++;
    } catch (err) {
      stats.retried++;
      logger.warn({ id: rec.id, err: errorMessage(err) }, "receipt intake failed; will retry");
      msg.nak(backoffDelay(msg.info.deliveryCount, 200, 10_000));
    }
  }

  const loop = (async () => {
    try {
      for await (const msg of messages) {
        inflight++;
        void handle(msg).finally(() => {
          inflight--;
          wake?.();
        });
        while (!stopped && inflight >= concurrency) {
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      }
    } catch (err) {
      if (!stopped) logger.error({ err: errorMessage(err) }, "receipt intake consumer failed");
    }
  })();

  return {
    stats,
    running: () => !stopped,
    async stop() {
      stopped = true;
      wake?.();
      await messages.close().catch(() => undefined);
      await loop;
      const deadline = Date.now() + 5000;
      while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
  };
}
