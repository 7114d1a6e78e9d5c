/**
 * Dead letters: a message that kept failing is stored on the DLQ stream with its original
 * payload and headers plus the error, attempts, delivery count and original subject. Operators
 * list entries and replay them to the original subject (which removes them from the DLQ).
 */
import {
  headers as natsHeaders,
  isJsApiError,
  JetStreamApiCodes,
  type JsMsg,
  type NatsHandles,
  type StoredMsg,
} from "../nats";
import type { DlqEntry } from "./types";
import { headersToRecord } from "./codec";
import { DlqHeaders, REPLAYED_FROM_HEADER } from "./dlq-headers";

/** Stores, lists and replays dead letters of one namespace. */
export class DeadLetters {
  constructor(
    private readonly h: NatsHandles,
    private readonly stream: string,
  ) {}

  /**
   * Stores `msg` (from stream `fromStream`) as a dead letter on `dlqSubject`; resolves once
   * JetStream acked it. The id `dlq:{stream}:{seq}` makes a repeated call store it once.
   */
  async store(msg: JsMsg, dlqSubject: string, error: string, attempts: number): Promise<void> {
    const h = natsHeaders();
    if (msg.headers) for (const k of msg.headers.keys()) if (k !== "Nats-Msg-Id") h.set(k, msg.headers.get(k));
    h.set(DlqHeaders.Error, error.slice(0, 2000).replace(/[\r\n]+/g, " "));
    h.set(DlqHeaders.Attempts, String(attempts));
    h.set(DlqHeaders.Deliveries, String(msg.info.deliveryCount));
    h.set(DlqHeaders.Subject, msg.subject);
    h.set(DlqHeaders.Stream, msg.info.stream);
    h.set(DlqHeaders.Seq, String(msg.seq));
    h.set(DlqHeaders.At, new Date().toISOString());
    await this.h.js.publish(dlqSubject, msg.data, { headers: h, msgID: `dlq:${msg.info.stream}:${msg.seq}` });
  }

  /** Entries whose subject matches `filter`, oldest first, after sequence `afterSeq`. */
  async list(filter: string, limit: number, afterSeq = 0): Promise<DlqEntry[]> {
    const out: DlqEntry[] = [];
    let seq = afterSeq + 1;
    while (out.length < limit) {
      let m: StoredMsg | null;
      try {
        // next_by_subj (server 2.9+) is missing from the client typings of MsgRequest.
        m = await this.h.jsm.streams.getMessage(this.stream, { seq, next_by_subj: filter } as unknown as {
          seq: number;
        });
      } catch (err) {
        if (isJsApiError(err, JetStreamApiCodes.NoMessageFound)) break;
        throw err;
      }
      if (!m) break;
      out.push(toEntry(m));
      seq = m.seq + 1;
    }
    return out;
  }

  /** Re-publishes entries to their original subjects, then deletes them from the DLQ. */
  async replay(seqs: readonly number[]): Promise<{ replayed: number[]; missing: number[] }> {
    const replayed: number[] = [];
    const missing: number[] = [];
    for (const seq of seqs) {
      let m: StoredMsg | null;
      try {
        m = await this.h.jsm.streams.getMessage(this.stream, { seq });
      } catch (err) {
        if (isJsApiError(err, JetStreamApiCodes.NoMessageFound)) {
          missing.push(seq);
          continue;
        }
        throw err;
      }
      if (!m) {
        missing.push(seq);
        continue;
      }
      const rec = headersToRecord(m.header);
      const subject = rec[DlqHeaders.Subject];
      if (!subject) {
        missing.push(seq);
        continue;
      }
      const h = natsHeaders();
      for (const [k, v] of Object.entries(rec)) if (!k.startsWith("Sy-Dlq-")) h.set(k, v);
      h.set(REPLAYED_FROM_HEADER, String(seq));
      await this.h.js.publish(subject, m.data, { headers: h, msgID: `replay:${this.stream}:${seq}` });
      await this.h.jsm.streams.deleteMessage(this.stream, seq, false).catch(() => undefined);
      replayed.push(seq);
    }
    return { replayed, missing };
  }
}

function toEntry(m: StoredMsg): DlqEntry {
  const headers = headersToRecord(m.header);
  let data: unknown;
  try {
    data = m.json();
  } catch {
    data = Buffer.from(m.data).toString("base64");
  }
  return {
    seq: m.seq,
    subject: m.subject,
    originalSubject: headers[DlqHeaders.Subject] ?? "",
    error: headers[DlqHeaders.Error] ?? "",
    attempts: Number(headers[DlqHeaders.Attempts] ?? 0),
    deliveryCount: Number(headers[DlqHeaders.Deliveries] ?? 0),
    failedAt: headers[DlqHeaders.At] ?? m.time.toISOString(),
    headers,
    data,
  };
}
