/**
 * What the supporters HTTP and operator surface does, behind the thin Moleculer actions:
 * intake, forget requests, a supporter's queue, its event log, the per-downstream backlog, the
 * admin data export, and the domain's dead letters (list, replay). Connections come in through
 * {@link SupportersApiDeps}; no personal data leaves through any of these except `data`
 * (admin only), and nothing at all once the supporter was forgotten.
 *
 * Tenancy of supporters: a supporter's records belong to the clients that sent them. A message's
 * owner is the gateway client that submitted it (or, for a NATS producer, its source). A reader
 * with the admin scope (or an operator) sees everything; any other client sees only its own
 * messages of a supporter and the summary built from them, and a hash none of its messages
 * references is answered 404 exactly as an unknown hash (never 403: no oracle). Submitting an
 * identity answers its hash (producers need it) and nothing about other tenants' messages.
 * Forgetting and the decrypted export are admin only; through intake, a forget (source `rtbf`)
 * needs the admin scope too, or the RTBF producer on NATS.
 */
import type { NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import type { ActorRuntime, ConsumerStats, DlqEntry } from "../../actors/types";
import { AppError } from "../../lib/errors";
import type { SupporterNames } from "./streams";
import type { Topology } from "../../streams/subjects";
import { supporter } from "./supporter.actor";
import { RTBF_SOURCE, erpJob, isRecord, userJob, type Step } from "./model";
import type { Intake, Accepted } from "./intake";
import type { KeyStore } from "./keys";
import type { LogBacklog, SupporterStore, EventLogEntry } from "./store";
import { isIdentityHash } from "./identity";
import { openJson } from "./seal";
import { pumpHolder } from "./pump";
import { clientSupporterView, holdsItemOf, supporterView, type ClientSupporterView, type SupporterView } from "./view";

/** Job counters of one node (from `runtime.actors`). */
export interface NodeJobStats {
  readonly node: string;
  readonly jobs: Record<string, Record<string, number | string>>;
}

/** The backlog per downstream and stage. */
export interface Backlog {
  /** Messages accepted but not yet forwarded to their supporters (the pump's lag). */
  readonly intake: { readonly pending: number; readonly holder: string | null };
  /** Messages in supporter mailboxes not yet handled. */
  readonly mailboxes: { readonly pending: number };
  readonly downstreams: Readonly<
    Record<
      Step,
      {
        readonly messagesPending: number;
        readonly oldestPending: string | null;
        readonly jobsWaiting: number;
        readonly breakers: Record<string, string>;
      }
    >
  >;
  /** Event-log records not yet in Postgres. */
  readonly eventLog: { readonly pending: number };
  /** Dead letters of the supporters domain. */
  readonly dlq: { readonly entries: number };
}

/** A dead letter as shown (no sealed data). */
export interface SupporterDlqView {
  readonly seq: number;
  readonly hash: string;
  readonly messageId: string | null;
  readonly kind: string | null;
  readonly from: string | null;
  readonly types: readonly string[];
  readonly error: string;
  readonly attempts: number;
  readonly failedAt: string;
  readonly originalSubject: string;
}

/** The admin export of what Switchyard holds on a supporter (decrypted while the key exists). */
export interface SupporterData {
  readonly hash: string;
  /** True when the supporter's data key is gone (forgotten): nothing can be read. */
  readonly erased: boolean;
  readonly messages: readonly {
    readonly id: string;
    readonly receivedAt: string | null;
    readonly identity: unknown;
    readonly events: unknown;
  }[];
}

/**
 * A caller as tenancy sees it: `id` owns what it submits; `all` (admin scope, or an operator)
 * reads every tenant's records, otherwise only those `id` owns. Made by {@link readerOf} once the
 * caller's scope was checked.
 */
export interface Reader {
  readonly all: boolean;
  readonly id: string;
}

/**
 * The reader for a caller that passed its scope check: `client` undefined (an operator, never
 * the gateway) or holding the admin scope reads all; any other client its own records.
 */
export function readerOf(
  client: { readonly id: string; readonly scopes: readonly string[] } | undefined,
  who: string,
): Reader {
  return !client || client.scopes.includes("admin") ? { all: true, id: who } : { all: false, id: client.id };
}

/** The supporters API (see the module doc for who sees what). */
export interface SupportersApi {
  /** Accepts a message owned by `by.id`; a forget through intake (source rtbf) needs a reader of all (403). */
  submit(value: unknown, by: Reader): Promise<Accepted>;
  /** Queues a forget request (callers: admins and operators only; the action checks the scope). */
  forget(hash: string, by: string): Promise<{ hash: string; requestedAt: string }>;
  /** The supporter's queue as `reader` may see it; 404 when none of its messages is the reader's. */
  supporter(hash: string, reader: Reader): Promise<SupporterView | ClientSupporterView>;
  /** The event log as `reader` may see it (keyset pages by arrival sequence); 404 as above. */
  events(
    hash: string,
    opts: { limit: number; afterSeq?: number },
    reader: Reader,
  ): Promise<{ hash: string; items: EventLogEntry[]; forgottenAt: string[] }>;
  data(hash: string): Promise<SupporterData>;
  /** The backlog; breaker states from `nodeJobStats` (every node's job counters; the service layer knows the cluster). */
  backlog(nodeJobStats: () => Promise<NodeJobStats[]>): Promise<Backlog>;
  dlq(opts: { hash?: string; limit?: number; afterSeq?: number }): Promise<SupporterDlqView[]>;
  replay(seqs: readonly number[]): Promise<{ replayed: number[]; missing: number[]; refused: number[] }>;
}

/** Connections of the API. */
export interface SupportersApiDeps {
  readonly nats: NatsHandles;
  readonly names: SupporterNames;
  readonly runtime: ActorRuntime;
  readonly intake: Intake;
  readonly keys: KeyStore;
  readonly store: SupporterStore;
  readonly topology: Topology;
  readonly logger: Logger;
}

function checkHash(hash: string): void {
  if (!isIdentityHash(hash))
    throw new AppError("INVALID_PARAMETER", "not an identity hash", [
      { path: "/params/hash", message: "must be 43 base64url characters" },
    ]);
}

const notFound = (): AppError => new AppError("NOT_FOUND", "supporter not found");

function waiting(stats: readonly ConsumerStats[], stream: string, consumer?: string): number {
  return stats
    .filter((s) => s.stream === stream && (consumer === undefined || s.consumer === consumer))
    .reduce((n, s) => n + s.pending + s.ackPending, 0);
}

function dlqView(e: DlqEntry): SupporterDlqView {
  const d = isRecord(e.data) ? e.data : {};
  const types = d["types"];
  return {
    seq: e.seq,
    hash: e.subject.slice(e.subject.lastIndexOf(".") + 1),
    messageId: typeof d["id"] === "string" ? d["id"] : null,
    kind: typeof d["t"] === "string" ? d["t"] : null,
    from: typeof d["from"] === "string" ? d["from"] : null,
    types: Array.isArray(types) ? types.filter((t): t is string => typeof t === "string") : [],
    error: e.error,
    attempts: e.attempts,
    failedAt: e.failedAt,
    originalSubject: e.originalSubject,
  };
}

/** Creates the API over `deps`. */
export function createSupportersApi(deps: SupportersApiDeps): SupportersApi {
  const { names, runtime, store, keys, topology: topo } = deps;
  const supporters = supporter.on(runtime);
  return {
    submit(value, by) {
      // An RTBF payload forgets whoever it names: only as strong a caller as the forget route's.
      const source = isRecord(value) ? value["source"] : undefined;
      if (source === RTBF_SOURCE && !by.all)
        throw new AppError("FORBIDDEN", "scope admin required to send a forget request (source rtbf)");
      return deps.intake.submit(value, { via: "http", producer: by.id });
    },

    forget(hash, by) {
      checkHash(hash);
      return deps.intake.forget(hash, by);
    },

    async supporter(hash, reader) {
      checkHash(hash);
      const state = await supporters.state(hash);
      if (reader.all) return supporterView(hash, state);
      const summary = await store.clientSummary(hash, reader.id);
      if (summary.received === 0 && !holdsItemOf(state, reader.id)) throw notFound();
      return clientSupporterView(hash, state, reader.id, summary);
    },

    async events(hash, opts, reader) {
      checkHash(hash);
      if (reader.all) return { hash, ...(await store.events(hash, opts)) };
      const page = await store.events(hash, { ...opts, client: reader.id });
      // An empty page may still be the reader's (a page past its last message, or not yet logged).
      if (page.items.length === 0) {
        const owned =
          (await store.clientSummary(hash, reader.id)).received > 0 ||
          holdsItemOf(await supporters.state(hash), reader.id);
        if (!owned) throw notFound();
      }
      return { hash, ...page };
    },

    async data(hash) {
      checkHash(hash);
      const dk = await keys.find(hash);
      const rows = await store.sealed(hash, 100);
      if (!dk)
        return {
          hash,
          erased: true,
          messages: rows.map((r) => ({ id: r.id, receivedAt: r.receivedAt, identity: null, events: null })),
        };
      return {
        hash,
        erased: false,
        messages: rows.map((r) => {
          const readable = r.kid === dk.kid;
          return {
            id: r.id,
            receivedAt: r.receivedAt,
            identity: readable && r.identity ? openJson(dk, hash, r.identity) : null,
            events: readable && r.events ? openJson(dk, hash, r.events) : null,
          };
        }),
      };
    },

    async backlog(nodeJobStats) {
      const [stats, log, nodes, holder, dlqInfo] = await Promise.all([
        runtime.consumerStats(),
        store
          .backlog()
          .catch((): LogBacklog => ({ user: { pending: -1, oldest: null }, erp: { pending: -1, oldest: null } })),
        nodeJobStats().catch(() => []),
        deps.nats.kvm
          .open(names.leaseBucket)
          .then(pumpHolder)
          .catch(() => undefined),
        deps.nats.jsm.streams.info(topo.dlq.stream, { subjects_filter: names.dlqFilter }).catch(() => null),
      ]);
      const breakers = (job: string): Record<string, string> =>
        Object.fromEntries(nodes.map((n) => [n.node, String(n.jobs[job]?.["breaker"] ?? "-")]));
      const holderName = holder ?? null;
      const dlqEntries = dlqInfo?.state.subjects ? Object.values(dlqInfo.state.subjects).reduce((a, b) => a + b, 0) : 0;
      return {
        intake: { pending: waiting(stats, names.inStream), holder: holderName },
        mailboxes: { pending: waiting(stats, topo.actors.stream(supporter.name)) },
        downstreams: {
          user: {
            messagesPending: log.user.pending,
            oldestPending: log.user.oldest,
            jobsWaiting: waiting(stats, topo.jobs.stream, topo.jobs.consumer(userJob.name)),
            breakers: breakers(userJob.name),
          },
          erp: {
            messagesPending: log.erp.pending,
            oldestPending: log.erp.oldest,
            jobsWaiting: waiting(stats, topo.jobs.stream, topo.jobs.consumer(erpJob.name)),
            breakers: breakers(erpJob.name),
          },
        },
        eventLog: { pending: waiting(stats, names.logStream) },
        dlq: { entries: dlqEntries },
      };
    },

    async dlq(opts) {
      if (opts.hash !== undefined) checkHash(opts.hash);
      const filter = opts.hash ? names.dlqSubject(opts.hash) : names.dlqFilter;
      const entries = await runtime.dlqList({
        filter,
        limit: opts.limit ?? 100,
        ...(opts.afterSeq !== undefined ? { afterSeq: opts.afterSeq } : {}),
      });
      return entries.map(dlqView);
    },

    async replay(seqs) {
      const ok: number[] = [];
      const refused: number[] = [];
      const missing: number[] = [];
      const prefix = names.dlqSubject("");
      for (const seq of seqs) {
        const m = await deps.nats.jsm.streams.getMessage(topo.dlq.stream, { seq }).catch(() => null);
        if (!m) missing.push(seq);
        else if (m.subject.startsWith(prefix)) ok.push(seq);
        else refused.push(seq);
      }
      const r = ok.length > 0 ? await runtime.dlqReplay(ok) : { replayed: [], missing: [] };
      deps.logger.info({ replayed: r.replayed.length, refused: refused.length }, "supporter dead letters replayed");
      return { replayed: r.replayed, missing: [...missing, ...r.missing], refused };
    },
  };
}
