/**
 * JetStream stream snapshots and restores through the server's API (`$JS.API.STREAM.SNAPSHOT.*`,
 * `$JS.API.STREAM.RESTORE.*`, nats-server 2.2 and later). The @nats-io/jetstream v3 client has no
 * helper for them, so the protocol is spoken here, as the `nats` CLI (jsm.go) speaks it:
 *
 * - Snapshot: subscribe to an inbox, request a snapshot delivered there; the server answers the
 *   request with the stream's config and state at the start, then sends chunks of an
 *   s2-compressed tar (messages, and consumers with their state), each with a reply subject
 *   that must be answered (its flow control: it stops after a window of unanswered chunks), and
 *   ends with an empty message (with a status header such as 408 if it gave up).
 * - Restore: request a restore with the config and state; the server answers with a subject to
 *   send chunks to, each as a request it answers; an empty request ends it and is answered with
 *   the stream's info once the server rebuilt it (it can take a while for a big stream).
 *
 * A stream is restored under its own name only (the server refuses another name), with the
 * config given (replicas may differ from the original).
 */
import { createInbox, Empty, type NatsConnection, type Msg } from "@nats-io/transport-node";
import type { StreamConfig, StreamInfo, StreamState } from "@nats-io/jetstream";

/** What the server reported when it started a snapshot. */
export interface SnapshotStart {
  readonly config: StreamConfig;
  readonly state: StreamState;
}

/** Options of {@link snapshotStream}. */
export interface SnapshotOptions {
  /** Bytes per chunk (the server's default is 128 KiB). */
  readonly chunkSize?: number;
  /** Leave consumers (and their ack state) out. Default: include them. */
  readonly noConsumers?: boolean;
  /** Give up when no chunk arrives for this long (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Timeout of the API requests (default 10 s). */
  readonly timeoutMs?: number;
}

/** An error answer of the JetStream API, or of the snapshot protocol. */
export class SnapshotError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = "SnapshotError";
  }
}

function apiAnswer<T>(m: Msg, what: string): T {
  if (m.headers?.hasError)
    throw new SnapshotError(`${what}: ${m.headers.code} ${m.headers.description}`, m.headers.code);
  const body = m.data.length > 0 ? (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>) : {};
  const error = body["error"] as { code?: number; description?: string; err_code?: number } | undefined;
  if (error)
    throw new SnapshotError(`${what}: ${error.description ?? "error"} (${error.err_code ?? error.code})`, error.code);
  return body as T;
}

/**
 * Snapshots stream `name`: every chunk goes to `onChunk` in order (it runs before the chunk is
 * acknowledged, so a slow sink slows the server down instead of piling up memory). Resolves
 * with the config and state the server reported at the start, once the last chunk arrived.
 */
export async function snapshotStream(
  nc: NatsConnection,
  name: string,
  onChunk: (chunk: Uint8Array) => void,
  opts: SnapshotOptions = {},
): Promise<SnapshotStart> {
  const inbox = createInbox();
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () => settle.reject(new SnapshotError(`snapshot of ${name}: no chunk for ${idleMs} ms`)),
      idleMs,
    );
  };
  const sub = nc.subscribe(inbox, {
    callback: (err, m) => {
      if (err) return settle.reject(err);
      arm();
      if (m.data.length === 0) {
        if (m.headers?.hasError || (m.headers?.code ?? 0) >= 400)
          return settle.reject(
            new SnapshotError(`snapshot of ${name}: ${m.headers?.code} ${m.headers?.description}`, m.headers?.code),
          );
        return settle.resolve();
      }
      try {
        onChunk(m.data);
      } catch (e) {
        return settle.reject(e instanceof Error ? e : new Error(String(e)));
      }
      if (m.reply) m.respond(Empty);
    },
  });
  try {
    const answer = await nc.request(
      `$JS.API.STREAM.SNAPSHOT.${name}`,
      JSON.stringify({
        deliver_subject: inbox,
        chunk_size: opts.chunkSize ?? 128 * 1024,
        ...(opts.noConsumers ? { no_consumers: true } : {}),
      }),
      { timeout: opts.timeoutMs ?? 10_000 },
    );
    const start = apiAnswer<SnapshotStart>(answer, `snapshot of ${name}`);
    arm();
    await done;
    return { config: start.config, state: start.state };
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

/** Options of {@link restoreStream}. */
export interface RestoreOptions {
  /** Timeout of each chunk's acknowledgement (default 30 s). */
  readonly timeoutMs?: number;
  /** How long the server may take to rebuild the stream after the last chunk (default 10 min). */
  readonly finishTimeoutMs?: number;
}

/**
 * Restores a stream from its snapshot chunks (as {@link snapshotStream} delivered them) under
 * `config.name`, which must not exist. Resolves with the restored stream's info.
 */
export async function restoreStream(
  nc: NatsConnection,
  config: StreamConfig,
  state: StreamState,
  chunks: AsyncIterable<Uint8Array>,
  opts: RestoreOptions = {},
): Promise<StreamInfo> {
  const timeout = opts.timeoutMs ?? 30_000;
  const started = apiAnswer<{ deliver_subject?: string }>(
    await nc.request(`$JS.API.STREAM.RESTORE.${config.name}`, JSON.stringify({ config, state }), { timeout }),
    `restore of ${config.name}`,
  );
  const target = started.deliver_subject;
  if (!target) throw new SnapshotError(`restore of ${config.name}: the server named no subject for the chunks`);
  for await (const chunk of chunks) {
    const ack = await nc.request(target, chunk, { timeout });
    if (ack.data.length > 0 || ack.headers?.hasError) apiAnswer(ack, `restore of ${config.name}`);
  }
  const last = await nc.request(target, Empty, { timeout: opts.finishTimeoutMs ?? 600_000 });
  return apiAnswer<StreamInfo>(last, `restore of ${config.name}`);
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

/**
 * The first message of `stream` at or after sequence `seq` (any subject), or null when there is
 * none: `$JS.API.STREAM.MSG.GET` with `next_by_subj` (nats-server 2.9). It needs no consumer, so
 * it reads work-queue streams whose consumers a live cluster holds.
 */
export async function nextStoredMessage(
  nc: NatsConnection,
  stream: string,
  seq: number,
  timeoutMs = 10_000,
): Promise<RawStoredMessage | null> {
  const m = await nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq, next_by_subj: ">" }), {
    timeout: timeoutMs,
  });
  const body = JSON.parse(new TextDecoder().decode(m.data)) as {
    error?: { code: number; err_code?: number; description?: string };
    message?: { subject: string; seq: number; hdrs?: string; data?: string; time: string };
  };
  if (body.error) {
    if (body.error.code === 404) return null;
    throw new SnapshotError(
      `get of ${stream} seq ${seq}: ${body.error.description} (${body.error.err_code})`,
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
