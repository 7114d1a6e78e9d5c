/**
 * Reads every message of a stream between two sequences, in sequence order, without a consumer
 * (work-queue streams of a live cluster allow no second one): "next message at or after"
 * requests, many segments of the range in flight at once, each segment read forward.
 */
import { nextStoredMessage, type NatsConnection, type RawStoredMessage } from "../nats";

/** Options of {@link scanStream}. */
export interface ScanOptions {
  /** Sequences per segment (default 256). */
  readonly segment?: number;
  /** Segments read at once (default 64). */
  readonly parallel?: number;
}

/** Reads one segment [from, to] forward; the messages in order. */
async function readSegment(nc: NatsConnection, stream: string, from: number, to: number): Promise<RawStoredMessage[]> {
  const out: RawStoredMessage[] = [];
  let s = from;
  while (s <= to) {
    const m = await nextStoredMessage(nc, stream, s);
    if (!m || m.seq > to) break;
    out.push(m);
    s = m.seq + 1;
  }
  return out;
}

/**
 * Calls `onMessage` for every message of `stream` with a sequence in [first, last], in order
 * (messages removed while the scan runs may be missed; ones added beyond `last` are not read).
 * Returns how many it read.
 */
export async function scanStream(
  nc: NatsConnection,
  stream: string,
  first: number,
  last: number,
  onMessage: (m: RawStoredMessage) => void | Promise<void>,
  opts: ScanOptions = {},
): Promise<number> {
  const seg = opts.segment ?? 256;
  const par = opts.parallel ?? 64;
  let n = 0;
  let s = first;
  while (s <= last) {
    // skip a run of removed messages at once (KV history and work queues leave long gaps)
    const head = await nextStoredMessage(nc, stream, s);
    if (!head || head.seq > last) break;
    s = head.seq;
    const jobs: Promise<RawStoredMessage[]>[] = [];
    for (let i = 0; i < par && s + i * seg <= last; i++) {
      const from = s + i * seg;
      jobs.push(readSegment(nc, stream, from, Math.min(last, from + seg - 1)));
    }
    const parts = await Promise.all(jobs);
    for (const part of parts)
      for (const m of part) {
        await onMessage(m);
        n++;
      }
    s += jobs.length * seg;
  }
  return n;
}
