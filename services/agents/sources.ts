/**
 * What the agents read, I/O only: the client registry's tables (read-only: clients, their keys;
 * no action answers key ages), the NATS monitoring endpoint, the namespace's consumers and the
 * age of their oldest unacked message, and the interactions stream (an ordered consumer per node,
 * from the start of the quality window, tolerant of a stream that does not exist yet).
 */
import type { Pool } from "../../db";
import { DeliverPolicy, isStreamNotFound, type NatsHandles, type ConsumerMessages } from "../../nats";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import type { ClientView, JetStreamSync } from "./security";
import type { QueueState } from "./quality";

interface ClientRow {
  id: string;
  name: string;
  scopes: string[];
  status: "active" | "suspended";
  webhook_url: string | null;
  created_at: Date;
  keys: Array<{ keyId: string; createdAt: string; expiresAt: string | null }>;
}

/**
 * Every client of the registry with its keys, `page` at a time. An empty list when the registry's
 * tables do not exist in this namespace (no gateway was ever started in it).
 */
export async function readClients(pg: Pool, page = 2000): Promise<ClientView[]> {
  const out: ClientView[] = [];
  let after = "";
  for (;;) {
    let rows: ClientRow[];
    try {
      rows = (
        await pg.query<ClientRow>(
          `SELECT c.id, c.name, c.scopes, c.status, c.webhook_url, c.created_at,
             coalesce(json_agg(json_build_object('keyId', k.key_id, 'createdAt', k.created_at, 'expiresAt', k.expires_at)
               ORDER BY k.created_at) FILTER (WHERE k.key_id IS NOT NULL), '[]'::json) AS keys
           FROM clients c LEFT JOIN client_keys k ON k.client_id = c.id
           WHERE c.id > $1 GROUP BY c.id ORDER BY c.id LIMIT $2`,
          [after, page],
        )
      ).rows;
    } catch (err) {
      if ((err as { code?: string }).code === "42P01") return out;
      throw err;
    }
    for (const r of rows)
      out.push({
        id: r.id,
        name: r.name,
        scopes: r.scopes,
        status: r.status,
        webhookUrl: r.webhook_url,
        createdAt: r.created_at.toISOString(),
        keys: r.keys.map((k) => ({
          keyId: k.keyId,
          createdAt: new Date(k.createdAt).toISOString(),
          expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
        })),
      });
    if (rows.length < page) return out;
    after = rows.at(-1)!.id;
  }
}

/** Formats nanoseconds as a duration (`2m0s`, `500ms`). */
function durationOf(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

/**
 * JetStream's sync setting from `{url}/varz` (`jetstream.config.sync_always` / `sync_interval`,
 * reported by 2.10 and later): unreadable when no URL is configured or the endpoint does not
 * answer.
 */
export async function readJetStreamSync(url: string, timeoutMs = 3000): Promise<JetStreamSync> {
  if (url === "")
    return { readable: false, reason: "no NATS monitoring endpoint configured (AGENTS_NATS_MONITOR_URL)" };
  let v: Record<string, unknown>;
  try {
    const res = await fetch(`${url}/varz`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { readable: false, reason: `${url}/varz answered ${res.status}` };
    v = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    return { readable: false, reason: `${url}/varz: ${errorMessage(err)}` };
  }
  const js = (v["jetstream"] as { config?: Record<string, unknown> } | undefined)?.config;
  if (!js) return { readable: false, reason: `${url}/varz shows no JetStream (not enabled on that server)` };
  const server = typeof v["server_name"] === "string" ? v["server_name"] : String(v["server_id"] ?? url);
  const version = typeof v["version"] === "string" ? v["version"] : "unknown";
  const interval = js["sync_interval"];
  const syncInterval =
    js["sync_always"] === true ? "always" : typeof interval === "number" && interval > 0 ? durationOf(interval) : null;
  return { readable: true, server, version, syncInterval };
}

/** One `$JS.API.STREAM.MSG.GET`: the time of the first message at or after `seq` on `filter`, or null. */
async function firstAfter(nats: NatsHandles, stream: string, seq: number, filter: string): Promise<number | null> {
  const m = await nats.nc.request(
    `$JS.API.STREAM.MSG.GET.${stream}`,
    JSON.stringify({ seq, next_by_subj: filter === "" ? ">" : filter }),
    { timeout: 3000 },
  );
  const body = JSON.parse(new TextDecoder().decode(m.data)) as { message?: { time: string } };
  return body.message ? Date.parse(body.message.time) : null;
}

/**
 * Every consumer of the namespace's streams (`{NS}_*`, not KV or object buckets) with what it
 * has not acked and the age of its oldest such message.
 */
export async function readQueues(nats: NatsHandles, NS: string, now = Date.now()): Promise<QueueState[]> {
  const out: QueueState[] = [];
  const streams: string[] = [];
  for await (const name of nats.jsm.streams.names()) if (name.startsWith(`${NS}_`)) streams.push(name);
  for (const stream of streams.sort()) {
    let consumers;
    try {
      consumers = await nats.jsm.consumers.list(stream).next();
    } catch (err) {
      if (isStreamNotFound(err)) continue;
      throw err;
    }
    for (const c of consumers) {
      const pending = c.num_pending + c.num_ack_pending;
      let oldestAgeMs: number | null = null;
      if (pending > 0) {
        const at = await firstAfter(nats, stream, c.ack_floor.stream_seq + 1, c.config.filter_subject ?? "").catch(
          () => null,
        );
        if (at !== null) oldestAgeMs = Math.max(0, now - at);
      }
      out.push({ stream, consumer: c.name, pending, oldestAgeMs });
    }
  }
  return out;
}

/** A running reader of the interactions stream. */
export interface InteractionReader {
  /** True once it reads the stream (false while the stream does not exist). */
  readonly attached: () => boolean;
  stop(): Promise<void>;
}

/**
 * Reads `stream` (subjects `subjects`) from `windowMs` ago with an ordered consumer and hands
 * every record to `onRecord`; while the stream does not exist it tries again every `retryMs`.
 */
export function readInteractions(o: {
  nats: NatsHandles;
  stream: string;
  subjects: string;
  windowMs: () => number;
  onRecord: (data: unknown) => void;
  logger: Logger;
  retryMs?: number;
}): InteractionReader {
  let stopped = false;
  let attached = false;
  let messages: ConsumerMessages | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const loop = async () => {
    let warned = "";
    let lastSeq = 0;
    while (!stopped) {
      try {
        // one subject, not a list (a list needs nats-server 2.10); after a restart of the
        // reader, on from the last record read, so nothing is counted twice
        const consumer = await o.nats.js.consumers.get(
          o.stream,
          lastSeq > 0
            ? { filter_subjects: o.subjects, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }
            : {
                filter_subjects: o.subjects,
                deliver_policy: DeliverPolicy.StartTime,
                opt_start_time: new Date(Date.now() - o.windowMs()).toISOString(),
              },
        );
        messages = await consumer.consume({ max_messages: 1000 });
        attached = true;
        o.logger.debug({ stream: o.stream }, "quality agent reads the interactions stream");
        for await (const m of messages) {
          if (m.seq <= lastSeq) continue;
          lastSeq = m.seq;
          let v: unknown;
          try {
            v = m.json();
          } catch {
            v = undefined;
          }
          o.onRecord(v);
        }
      } catch (err) {
        if (stopped) break;
        attached = false;
        // each new reason once, not every retry
        const why = errorMessage(err);
        if (why !== warned) {
          o.logger.warn(
            { stream: o.stream, err: why },
            "interactions stream not readable yet; the quality agent retries",
          );
          warned = why;
        }
      }
      attached = false;
      if (!stopped) await pause(o.retryMs ?? 2000);
    }
  };
  const done = loop();
  return {
    attached: () => attached,
    async stop() {
      stopped = true;
      wake?.();
      await messages?.close().catch(() => undefined);
      await done;
    },
  };
}
