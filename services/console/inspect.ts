/**
 * The console's reads and dead-letter edits over NATS (platform APIs only: the naming scheme,
 * the runtime's DLQ store, JetStream and KV): streams with their consumers, lease ages, an
 * actor's state with its revisions, mailbox, jobs and dead letters, and the DLQ with filters.
 */
import { headers as natsHeaders, isJsApiError, JetStreamApiCodes, type NatsHandles, type StoredMsg } from "../../nats";
import { DeadLetters } from "../../actors/dlq";
import { DlqHeaders } from "../../actors/dlq-headers";
import { headersToRecord, decodeJson } from "../../actors/codec";
import type { DlqEntry } from "../../actors/types";
import { isValidKey, partitionOf, type Topology } from "../../streams/subjects";
import { partitionsFromDescription } from "../../streams/runtime.stream";
import { AppError } from "../../lib/errors";
import {
  EDITED_BY_HEADER,
  EDITED_FROM_HEADER,
  groupFilter,
  groupOf,
  matches,
  validateEdit,
  type DlqFilter,
} from "./dlq-view";

/** One stream of the namespace. */
export interface StreamView {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly messages: number;
  readonly bytes: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly consumers: number;
}

/** One partition lease as stored. */
export interface LeaseView {
  readonly kind: string;
  readonly partition: number;
  readonly owner: string;
  /** Milliseconds since the lease was last written (taken or renewed). */
  readonly ageMs: number;
}

/** A message still in a stream (mailbox or jobs). */
export interface PendingMessage {
  readonly seq: number;
  readonly subject: string;
  readonly at: string;
  readonly headers: Record<string, string>;
  readonly data: unknown;
}

/** One stored revision of an actor's state. */
export interface Revision {
  readonly revision: number;
  readonly at: string;
  readonly operation: string;
  readonly value: unknown;
}

/** Everything the actor page shows. */
export interface ActorView {
  readonly kind: string;
  readonly key: string;
  readonly partition: number;
  readonly partitions: number;
  /** The current stored value (`{ s: state, ... }`), or null when it never handled a message. */
  readonly current: unknown;
  /** Newest first. */
  readonly revisions: readonly Revision[];
  /** Revisions the bucket keeps per key. */
  readonly historyKept: number;
  readonly mailbox: readonly PendingMessage[];
  readonly jobs: readonly PendingMessage[];
  readonly deadLetters: readonly DlqEntry[];
}

/** One page of the DLQ. */
export interface DlqPage {
  readonly items: readonly (DlqEntry & { readonly group: string })[];
  /** Pass as `after` for the next page (null when the scan reached the end). */
  readonly next: number | null;
  readonly scanned: number;
  /** Entries per group in the whole DLQ stream (from the stream's subject counts). */
  readonly groups: Record<string, number>;
}

/** Cap on entries one DLQ request looks at (filters are applied while scanning). */
export const DLQ_SCAN_CAP = 10_000;
const PAGE = 256;
const MAX_PENDING = 50;

function decode(m: StoredMsg): unknown {
  try {
    return decodeJson(m.data);
  } catch {
    return Buffer.from(m.data).toString("base64");
  }
}

/** The console's NATS-side operations for one namespace. */
export class Inspector {
  private readonly dlq: DeadLetters;

  constructor(
    private readonly h: NatsHandles,
    private readonly topo: Topology,
  ) {
    this.dlq = new DeadLetters(h, topo.dlq.stream);
  }

  /** Every stream of the namespace (KV and object buckets excluded), by name. */
  async streams(): Promise<StreamView[]> {
    const prefix = `${this.topo.ns.toUpperCase()}_`;
    const out: StreamView[] = [];
    for await (const si of this.h.jsm.streams.list()) {
      if (!si.config.name.startsWith(prefix)) continue;
      out.push({
        name: si.config.name,
        subjects: si.config.subjects ?? [],
        messages: si.state.messages,
        bytes: si.state.bytes,
        firstSeq: si.state.first_seq,
        lastSeq: si.state.last_seq,
        consumers: si.state.consumer_count,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every partition lease in the bucket, with its age. */
  async leases(now = Date.now()): Promise<LeaseView[]> {
    const kv = await this.h.kvm.open(this.topo.leases.bucket);
    const out: LeaseView[] = [];
    const keys: string[] = [];
    for await (const k of await kv.keys("part.>")) keys.push(k);
    await Promise.all(
      keys.map(async (k) => {
        const e = await kv.get(k);
        if (!e || e.operation !== "PUT") return;
        const [, kind, p] = k.split(".");
        let owner = "";
        try {
          owner = e.json<{ owner: string }>().owner;
        } catch {
          return;
        }
        out.push({ kind: kind ?? "", partition: Number(p), owner, ageMs: Math.max(0, now - e.created.getTime()) });
      }),
    );
    return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.partition - b.partition);
  }

  /** Messages still in `stream` on `subject` (a filter), oldest first, at most {@link MAX_PENDING}. */
  private async pending(stream: string, subject: string): Promise<PendingMessage[]> {
    const out: PendingMessage[] = [];
    let seq = 1;
    while (out.length < MAX_PENDING) {
      let m: StoredMsg | null;
      try {
        // next_by_subj (server 2.9+) is missing from the client typings of MsgRequest.
        m = await this.h.jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
      } catch (err) {
        if (isJsApiError(err, JetStreamApiCodes.NoMessageFound) || isJsApiError(err, JetStreamApiCodes.StreamNotFound))
          break;
        throw err;
      }
      if (!m) break;
      out.push({
        seq: m.seq,
        subject: m.subject,
        at: m.time.toISOString(),
        headers: headersToRecord(m.header),
        data: decode(m),
      });
      seq = m.seq + 1;
    }
    return out;
  }

  /** The actor page of `kind`/`key`; 404 for a kind with no mailbox stream, 400 for a bad key. */
  async actor(kind: string, key: string): Promise<ActorView> {
    if (!isValidKey(key)) throw new AppError("INVALID_PARAMETER", "invalid actor key");
    let partitions: number | undefined;
    try {
      partitions = partitionsFromDescription(
        (await this.h.jsm.streams.info(this.topo.actors.stream(kind))).config.description,
      );
    } catch (err) {
      if (isJsApiError(err, JetStreamApiCodes.StreamNotFound)) throw new AppError("NOT_FOUND", `no actor kind ${kind}`);
      throw err;
    }
    if (partitions === undefined) throw new AppError("NOT_FOUND", `no actor kind ${kind}`);
    const partition = partitionOf(key, partitions);
    const kv = await this.h.kvm.open(this.topo.actors.stateBucket(kind));
    const revisions: Revision[] = [];
    for await (const e of await kv.history({ key })) {
      let value: unknown = null;
      if (e.operation === "PUT") {
        try {
          value = e.json();
        } catch {
          value = e.string();
        }
      }
      revisions.push({ revision: e.revision, at: e.created.toISOString(), operation: e.operation, value });
    }
    revisions.sort((a, b) => b.revision - a.revision);
    const status = await kv.status();
    const current = revisions[0]?.operation === "PUT" ? revisions[0].value : null;
    const [mailbox, jobs, actorDl, jobDl] = await Promise.all([
      this.pending(this.topo.actors.stream(kind), this.topo.actors.subject(kind, partition, key)),
      this.pending(this.topo.jobs.stream, this.topo.jobs.subject("*", key)),
      this.dlq.list(this.topo.dlq.actorSubject(kind, key), 100, 0),
      this.dlq.list(this.topo.dlq.jobSubject("*", key), 100, 0),
    ]);
    return {
      kind,
      key,
      partition,
      partitions,
      current,
      revisions,
      historyKept: status.history,
      mailbox,
      jobs,
      deadLetters: [...actorDl, ...jobDl].sort((a, b) => a.seq - b.seq),
    };
  }

  /** Entries per group (from the DLQ stream's per-subject counts). */
  async dlqGroups(): Promise<Record<string, number>> {
    const info = await this.h.jsm.streams.info(this.topo.dlq.stream, { subjects_filter: this.topo.dlq.streamSubjects });
    const out: Record<string, number> = {};
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
      const g = groupOf(this.topo.ns, subject);
      out[g] = (out[g] ?? 0) + n;
    }
    return out;
  }

  /** A page of the DLQ: `group`'s entries after `after` that pass `filter`, oldest first. */
  async dlqPage(opts: {
    group?: string | undefined;
    filter: DlqFilter;
    after: number;
    limit: number;
  }): Promise<DlqPage> {
    const items: (DlqEntry & { group: string })[] = [];
    const subject = groupFilter(this.topo.ns, opts.group);
    let after = opts.after;
    let scanned = 0;
    let end = false;
    while (items.length < opts.limit && scanned < DLQ_SCAN_CAP) {
      const batch = await this.dlq.list(subject, PAGE, after);
      for (const e of batch) {
        scanned++;
        after = e.seq;
        if (matches(e, opts.filter)) items.push({ ...e, group: groupOf(this.topo.ns, e.subject) });
        if (items.length >= opts.limit) break;
      }
      if (batch.length < PAGE) {
        end = items.length < opts.limit || batch[batch.length - 1]?.seq === after;
        break;
      }
    }
    return { items, next: end ? null : after, scanned, groups: await this.dlqGroups() };
  }

  /** Every entry of `group` that passes `filter` (at most {@link DLQ_SCAN_CAP} looked at). */
  async dlqSelect(group: string | undefined, filter: DlqFilter): Promise<DlqEntry[]> {
    const out: DlqEntry[] = [];
    let after = 0;
    for (let scanned = 0; scanned < DLQ_SCAN_CAP;) {
      const batch = await this.dlq.list(groupFilter(this.topo.ns, group), PAGE, after);
      for (const e of batch) if (matches(e, filter)) out.push(e);
      scanned += batch.length;
      if (batch.length < PAGE) break;
      after = batch[batch.length - 1]!.seq;
    }
    return out;
  }

  /** The entries at `seqs` (missing ones left out). */
  async dlqEntries(seqs: readonly number[]): Promise<DlqEntry[]> {
    const out: DlqEntry[] = [];
    for (const seq of seqs) {
      const m = await this.getDlq(seq);
      if (m) out.push(this.toEntry(m));
    }
    return out;
  }

  private async getDlq(seq: number): Promise<StoredMsg | null> {
    try {
      return await this.h.jsm.streams.getMessage(this.topo.dlq.stream, { seq });
    } catch (err) {
      if (isJsApiError(err, JetStreamApiCodes.NoMessageFound)) return null;
      throw err;
    }
  }

  private toEntry(m: StoredMsg): DlqEntry {
    const headers = headersToRecord(m.header);
    return {
      seq: m.seq,
      subject: m.subject,
      originalSubject: headers[DlqHeaders.Subject] ?? "",
      error: headers[DlqHeaders.Error] ?? "",
      attempts: Number(headers[DlqHeaders.Attempts] ?? 0),
      deliveryCount: Number(headers[DlqHeaders.Deliveries] ?? 0),
      failedAt: headers[DlqHeaders.At] ?? m.time.toISOString(),
      headers,
      data: decode(m),
    };
  }

  /**
   * Replaces dead letter `seq` by one with body `data` (validated: see `validateEdit`), on the
   * same DLQ subject with the same headers plus who edited it and the sequence it replaced;
   * then deletes the old one. 404 when `seq` is not in the DLQ.
   */
  async dlqEdit(seq: number, data: unknown, who: string): Promise<{ before: DlqEntry; seq: number }> {
    const m = await this.getDlq(seq);
    if (!m || !m.header?.get(DlqHeaders.Subject)) throw new AppError("NOT_FOUND", `no dead letter ${seq}`);
    const before = this.toEntry(m);
    let isJson = true;
    try {
      decodeJson(m.data);
    } catch {
      isJson = false;
    }
    const text = validateEdit(before, isJson, data);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(before.headers))
      if (k !== EDITED_FROM_HEADER && k !== EDITED_BY_HEADER) h.set(k, v);
    h.set(EDITED_FROM_HEADER, String(seq));
    h.set(EDITED_BY_HEADER, who);
    const ack = await this.h.js.publish(m.subject, new TextEncoder().encode(text), {
      headers: h,
      msgID: `edit:${seq}`,
    });
    await this.h.jsm.streams.deleteMessage(this.topo.dlq.stream, seq, false).catch(() => undefined);
    return { before, seq: ack.seq };
  }
}
