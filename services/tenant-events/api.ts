/**
 * The events domain's operations behind the HTTP routes and the REPL: intake over HTTP (validate
 * all, publish all, or refuse all), the polling feed, the type registry and the dead letters of
 * events. The Moleculer service only parses requests and calls these.
 */
import { isNoMessageFound, type NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { AppError, type ErrorDetail } from "../../lib/errors";
import type { ActorRuntime, DlqEntry } from "../../actors/types";
import type { EventNames } from "./streams";
import { MAX_BATCH_EVENTS, validateEnvelope } from "./envelope";
import type { EventTypeInfo, EventTypeRegistry, EventTypeVersion } from "./registry";
import type { TypeStore, TypeDefinition } from "./types-store";
import { DecryptError, openData, type DataKeyring } from "./crypto";
import { decodeCursor, encodeCursor, START, type FeedPosition } from "./cursor";
import type { EventStore } from "./store";
import { codeOfLine, type EventRejectCode, type FeedEvent, type ValidEvent } from "./model";

/** The answer to POST /api/v1/events. */
export interface IngestResult {
  /** Events stored durably in the intake stream (processing follows). */
  readonly accepted: number;
  /** Of those, how many the intake stream had already received (same clientId:eventId within 2 minutes). */
  readonly duplicates: number;
}

/** One page of the polling feed. */
export interface FeedPage {
  readonly items: readonly FeedEvent[];
  /** Pass as `after` for the next page; the same cursor when there was nothing new. */
  readonly cursor: string;
  /** True when more events are waiting right now. */
  readonly hasMore: boolean;
}

/** A dead letter of the events domain. */
export interface EventDeadLetter {
  readonly seq: number;
  readonly tenant: string;
  /** The reason code (INVALID_ENVELOPE, UNKNOWN_TYPE, SCHEMA_VIOLATION, ...). */
  readonly code: EventRejectCode | null;
  readonly reason: string;
  readonly attempts: number;
  readonly failedAt: string;
  readonly originalSubject: string;
  /** The message as received (JSON when it was JSON, else base64). */
  readonly data: unknown;
}

/** Largest page of the polling feed. */
export const MAX_FEED_PAGE = 1000;

/** The operations of the events domain. */
export interface EventsApi {
  ingest(clientId: string, body: unknown): Promise<IngestResult>;
  feed(clientId: string, after: string | undefined, limit: number): Promise<FeedPage>;
  types(): EventTypeInfo[];
  type(name: string): EventTypeInfo;
  defineType(name: string, def: TypeDefinition): Promise<EventTypeVersion>;
  deadLetters(opts: { tenant?: string; afterSeq?: number; limit?: number }): Promise<EventDeadLetter[]>;
  replay(seqs: readonly number[]): Promise<{ replayed: number[]; missing: number[] }>;
}

/** What the operations need. */
export interface EventsApiDeps {
  readonly nats: NatsHandles;
  readonly names: EventNames;
  readonly dlqStream: string;
  readonly runtime: ActorRuntime;
  readonly registry: EventTypeRegistry;
  readonly types: Pick<TypeStore, "define">;
  readonly store: EventStore;
  readonly keyring: DataKeyring;
  readonly maxEventBytes: number;
  readonly logger: Logger;
}

const TENANT_OF_DLQ = (names: EventNames, subject: string): string => subject.slice(names.dlqSubject("").length);

function toDeadLetter(names: EventNames, e: DlqEntry): EventDeadLetter {
  return {
    seq: e.seq,
    tenant: TENANT_OF_DLQ(names, e.subject),
    code: codeOfLine(e.error) ?? null,
    reason: e.error,
    attempts: e.attempts,
    failedAt: e.failedAt,
    originalSubject: e.originalSubject,
    data: e.data,
  };
}

/** Builds the operations over `deps`. */
export function createEventsApi(deps: EventsApiDeps): EventsApi {
  const { nats, names, registry, store, keyring } = deps;

  return {
    async ingest(clientId, body) {
      const list = Array.isArray(body) ? body : [body];
      if (list.length === 0)
        throw new AppError("VALIDATION_ERROR", "no events", [
          { path: "/body", message: "send one event or an array of 1 to 1000" },
        ]);
      if (list.length > MAX_BATCH_EVENTS)
        throw new AppError("PAYLOAD_TOO_LARGE", `at most ${MAX_BATCH_EVENTS} events per request`);
      const events: ValidEvent[] = [];
      const problems: ErrorDetail[] = [];
      let forbidden = false;
      let unknownType = false;
      const ids = new Set<string>();
      const now = Date.now();
      list.forEach((value, i) => {
        const base = Array.isArray(body) ? `/body/${i}` : "/body";
        const r = validateEnvelope(value, { maxBytes: deps.maxEventBytes, tenant: clientId, now, base });
        if (!r.ok) {
          if (r.rejection.code === "TENANT_MISMATCH") forbidden = true;
          problems.push(
            ...(r.rejection.details.length > 0 ? r.rejection.details : [{ path: base, message: r.rejection.message }]),
          );
          return;
        }
        const check = registry.check(r.event.type, r.event.data, base);
        if (!check.ok) {
          if (check.rejection.code === "UNKNOWN_TYPE") unknownType = true;
          problems.push(
            ...(check.rejection.details.length > 0
              ? check.rejection.details
              : [{ path: `${base}/data`, message: check.rejection.message }]),
          );
          return;
        }
        if (ids.has(r.event.eventId)) {
          problems.push({ path: `${base}/eventId`, message: "repeats an eventId of this request" });
          return;
        }
        ids.add(r.event.eventId);
        events.push(r.event);
      });
      if (forbidden)
        throw new AppError(
          "FORBIDDEN",
          "clientId must be your own client id",
          problems.filter((p) => p.path.endsWith("/clientId")).slice(0, 50),
        );
      if (problems.length > 0) {
        const code =
          unknownType && problems.every((p) => p.path.endsWith("/type")) ? "UNKNOWN_TYPE" : "VALIDATION_ERROR";
        throw new AppError(
          code,
          list.length === 1 ? "the event is not valid" : "some events are not valid; none was accepted",
          problems.slice(0, 100),
        );
      }
      // Re-serialise each event exactly as validated (one per message, so each is dead-lettered
      // or stored on its own) and publish them all before answering.
      // Every event was valid, so `events` and `list` run in step.
      const acks = await Promise.all(
        events.map((e, i) =>
          nats.js.publish(names.inSubject(clientId), JSON.stringify(list[i]), { msgID: `${clientId}:${e.eventId}` }),
        ),
      );
      return { accepted: acks.length, duplicates: acks.filter((a) => a.duplicate).length };
    },

    async feed(clientId, after, limit) {
      const pos: FeedPosition = after ? decodeCursor(after) : START;
      const n = Math.min(Math.max(1, limit), MAX_FEED_PAGE);
      const rows = await store.feed(clientId, pos, n + 1);
      const page = rows.slice(0, n);
      const items: FeedEvent[] = page.map((r) => {
        let data: Record<string, unknown>;
        try {
          data = openData(keyring, r);
        } catch (err) {
          if (err instanceof DecryptError) {
            deps.logger.error(
              { clientId, seq: r.seq, keyId: r.keyId, err: err.message },
              "stored event cannot be decrypted",
            );
            throw new AppError("INTERNAL", "stored event cannot be decrypted");
          }
          throw err;
        }
        return {
          seq: r.seq,
          clientId: r.clientId,
          eventId: r.eventId,
          type: r.type,
          typeVersion: r.typeVersion,
          timestamp: new Date(r.eventTimeMs).toISOString(),
          storedAt: new Date(r.storedAtMs).toISOString(),
          data,
        };
      });
      const last = page.at(-1);
      return {
        items,
        cursor: last ? encodeCursor({ seq: last.seq, storedAtMs: last.storedAtMs }) : (after ?? encodeCursor(START)),
        hasMore: rows.length > n,
      };
    },

    types: () => registry.list(),

    type(name) {
      const info = registry.info(name);
      if (!info) throw new AppError("NOT_FOUND", "event type not found");
      return info;
    },

    defineType: (name, def) => deps.types.define(name, def),

    async deadLetters(opts) {
      const filter = opts.tenant ? names.dlqSubject(opts.tenant) : names.dlqFilter;
      const entries = await deps.runtime.dlqList({
        filter,
        limit: Math.min(Math.max(1, opts.limit ?? 100), 1000),
        afterSeq: opts.afterSeq ?? 0,
      });
      return entries.map((e) => toDeadLetter(names, e));
    },

    async replay(seqs) {
      // Only the events domain's dead letters: other domains' entries are not ours to replay.
      const ours: number[] = [];
      const missing: number[] = [];
      const prefix = names.dlqSubject("");
      for (const seq of seqs) {
        try {
          const m = await nats.jsm.streams.getMessage(deps.dlqStream, { seq });
          if (m && m.subject.startsWith(prefix)) ours.push(seq);
          else missing.push(seq);
        } catch (err) {
          if (!isNoMessageFound(err)) throw err;
          missing.push(seq);
        }
      }
      const r = ours.length > 0 ? await deps.runtime.dlqReplay(ours) : { replayed: [], missing: [] };
      return { replayed: r.replayed, missing: [...missing, ...r.missing].sort((a, b) => a - b) };
    },
  };
}
