/**
 * Reading a stream's stored messages by sequence through the JetStream API, with no consumer:
 * `$JS.API.STREAM.MSG.GET` with `next_by_subj` (nats-server 2.9) answers the first message at or
 * after a sequence. Backups use it because work-queue streams of a live cluster allow no second
 * consumer beside the ones the nodes hold. (The server's own snapshot API, `STREAM.SNAPSHOT`,
 * was tried and left: under load the snapshot's content and the state it reports differ, so a
 * manifest could not say exactly what it holds, and its restore cannot change the stream.)
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** An error answer of the JetStream API. */
export class StoredMessageError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = "StoredMessageError";
  }
}

/** A stored message as the stream holds it. */
export interface RawStoredMessage {
  readonly seq: number;
  readonly subject: string;
  /** Headers in stored order (a name repeated for each of its values). */
  readonly headers: [string, string][];
  readonly data: Uint8Array;
  /** Stored at, in nanoseconds since the epoch (microsecond precision). */
  readonly timeNs: bigint;
}

/** Parses a NATS header block ("NATS/1.0\r\nName: value\r\n...\r\n\r\n") into name/value pairs. */
export function parseHeaderBlock(raw: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = raw.split("\r\n");
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return out;
}

function timeToNs(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return BigInt(Date.parse(iso)) * 1_000_000n;
  const secs = BigInt(Date.parse(`${m[1]}Z`)) / 1000n;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0").slice(0, 9));
  return secs * 1_000_000_000n + frac;
}

/** One `$JS.API.STREAM.MSG.GET` request; null when there is no such message. */
async function getStored(
  nc: NatsConnection,
  stream: string,
  query: { seq: number; next_by_subj: string } | { last_by_subj: string },
  timeoutMs: number,
  api = "$JS.API",
): Promise<RawStoredMessage | null> {
  const m = await nc.request(`${api}.STREAM.MSG.GET.${stream}`, JSON.stringify(query), { timeout: timeoutMs });
  const body = JSON.parse(new TextDecoder().decode(m.data)) as {
    error?: { code: number; err_code?: number; description?: string };
    message?: { subject: string; seq: number; hdrs?: string; data?: string; time: string };
  };
  if (body.error) {
    if (body.error.code === 404) return null;
    throw new StoredMessageError(
      `get of ${stream} ${JSON.stringify(query)}: ${body.error.description} (${body.error.err_code})`,
      body.error.code,
    );
  }
  const msg = body.message!;
  return {
    seq: msg.seq,
    subject: msg.subject,
    headers: msg.hdrs ? parseHeaderBlock(Buffer.from(msg.hdrs, "base64").toString("utf8")) : [],
    data: msg.data ? Buffer.from(msg.data, "base64") : new Uint8Array(0),
    timeNs: timeToNs(msg.time),
  };
}

/**
 * The first message of `stream` at or after sequence `seq` (any subject), or null when there is
 * none: `next_by_subj` (nats-server 2.9). It needs no consumer, so it reads work-queue streams
 * whose consumers a live cluster holds. `api` is the JetStream API prefix (another domain's:
 * `$JS.<domain>.API`).
 */
export function nextStoredMessage(
  nc: NatsConnection,
  stream: string,
  seq: number,
  timeoutMs = 10_000,
  api = "$JS.API",
): Promise<RawStoredMessage | null> {
  return getStored(nc, stream, { seq, next_by_subj: ">" }, timeoutMs, api);
}

/** The last message of `stream` on `subject` (a KV key's latest revision), or null. */
export function lastStoredMessage(
  nc: NatsConnection,
  stream: string,
  subject: string,
  timeoutMs = 10_000,
): Promise<RawStoredMessage | null> {
  return getStored(nc, stream, { last_by_subj: subject }, timeoutMs);
}
