/**
 * Reads every message of a stream between two sequences, in sequence order, without a consumer
 * (work-queue streams of a live cluster allow no second one): "next message at or after"
 * requests, many segments of the range in flight at once, each segment read forward.
 */
import {
  DeliverPolicy,
  lastStoredMessage,
  nextStoredMessage,
  type JetStreamClient,
  type NatsConnection,
  type NatsHandles,
  type RawStoredMessage,
} from "../nats";

/** Options of {@link scanStream}. */
export interface ScanOptions {
  /** Segments read at once (default 128). */
  readonly parallel?: number;
  /** Most sequences per segment (default 1024): the range is cut into `parallel` segments of at least 8. */
  readonly maxSegment?: number;
  /** JetStream API prefix (default `$JS.API`; another domain's: `$JS.<domain>.API`). */
  readonly api?: string;
}

/** Reads one segment [from, to] forward; the messages in order. */
async function readSegment(
  nc: NatsConnection,
  stream: string,
  from: number,
  to: number,
  api: string,
): Promise<RawStoredMessage[]> {
  const out: RawStoredMessage[] = [];
  let s = from;
  while (s <= to) {
    const m = await nextStoredMessage(nc, stream, s, 10_000, api);
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
  const par = opts.parallel ?? 128;
  const maxSeg = opts.maxSegment ?? 1024;
  const api = opts.api ?? "$JS.API";
  let n = 0;
  let s = first;
  while (s <= last) {
    // skip a run of removed messages at once (KV history and work queues leave long gaps)
    const head = await nextStoredMessage(nc, stream, s, 10_000, api);
    if (!head || head.seq > last) break;
    s = head.seq;
    // as many requests in flight as allowed, each segment read forward one request at a time
    const seg = Math.max(8, Math.min(maxSeg, Math.ceil((last - s + 1) / par)));
    const jobs: Promise<RawStoredMessage[]>[] = [];
    for (let i = 0; i < par && s + i * seg <= last; i++) {
      const from = s + i * seg;
      jobs.push(readSegment(nc, stream, from, Math.min(last, from + seg - 1), api));
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

/**
 * Reads a stream that allows consumers (limits retention: object stores, logs, feeds) with an
 * ordered consumer from its first message up to sequence `last` (or until caught up), in order.
 * Returns how many it read.
 */
export async function readByConsumer(
  js: JetStreamClient,
  stream: string,
  last: number,
  onMessage: (m: RawStoredMessage) => void | Promise<void>,
): Promise<number> {
  const c = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  let n = 0;
  try {
    for (;;) {
      let got = 0;
      let caughtUp = false;
      for await (const m of await c.fetch({ max_messages: 1000, expires: 2000 })) {
        got++;
        if (m.seq > last) {
          caughtUp = true;
          break;
        }
        const headers: [string, string][] = [];
        if (m.headers) for (const [k, vs] of m.headers) for (const v of vs) headers.push([k, v]);
        await onMessage({ seq: m.seq, subject: m.subject, headers, data: m.data, timeNs: m.timestampNanos });
        n++;
        if (m.info.pending === 0 || m.seq >= last) caughtUp = true;
      }
      if (got === 0 || caughtUp) return n;
    }
  } finally {
    await c.delete().catch(() => undefined);
  }
}

/**
 * Reads a KV bucket's stream as its latest revision per key: the keys from the stream's subject
 * list, then each key's last message, `parallel` at once; in sequence order. A key written while
 * this runs is read in one of its states (history beyond the latest is not read).
 */
export async function readLatestPerSubject(
  h: NatsHandles,
  stream: string,
  onMessage: (m: RawStoredMessage) => void | Promise<void>,
  parallel = 128,
): Promise<number> {
  const info = await h.jsm.streams.info(stream, { subjects_filter: ">" });
  const subjects = Object.keys(info.state.subjects ?? {});
  const got: RawStoredMessage[] = [];
  for (let i = 0; i < subjects.length; i += parallel) {
    const batch = await Promise.all(subjects.slice(i, i + parallel).map((s) => lastStoredMessage(h.nc, stream, s)));
    for (const m of batch) if (m) got.push(m);
  }
  got.sort((a, b) => a.seq - b.seq);
  for (const m of got) await onMessage(m);
  return got.length;
}
