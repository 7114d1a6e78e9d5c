/**
 * What the supporters HTTP and operator surface does, behind the thin Moleculer actions:
 * intake, forget requests, a supporter's queue, its event log, the per-downstream backlog, the
 * admin data export, and the domain's dead letters (list, replay). Connections come in through
 * {@link SupportersApiDeps}; no personal data leaves through any of these except `data`
 * (admin only), and nothing at all once the supporter was forgotten.
 */
import type { NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { ActorRuntime, ConsumerStats, DlqEntry } from "../actors/types";
import { AppError } from "../lib/errors";
import type { SupporterNames } from "../streams/supporters.stream";
import type { Topology } from "../streams/subjects";
import type { SupporterState } from "../actors/supporter.actor";
import { SUPPORTER_JOBS, SUPPORTER_KIND, type Step } from "./model";
import type { Intake, Accepted } from "./intake";
import type { KeyStore } from "./keys";
import type { LogBacklog, SupporterStore, EventLogEntry } from "./store";
import { isIdentityHash } from "./identity";
import { openJson } from "./seal";
import { supporterView, type SupporterView } from "./view";

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
  readonly downstreams: Readonly<Record<Step, { readonly messagesPending: number; readonly oldestPending: string | null; readonly jobsWaiting: number; readonly breakers: Record<string, string> }>>;
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
  readonly messages: readonly { readonly id: string; readonly receivedAt: string | null; readonly identity: unknown; readonly events: unknown }[];
}

/** The supporters API. */
export interface SupportersApi {
  submit(value: unknown, producer: string): Promise<Accepted>;
  forget(hash: string, by: string): Promise<{ hash: string; requestedAt: string }>;
  supporter(hash: string): Promise<SupporterView>;
  events(hash: string, opts: { limit: number; afterSeq?: number }): Promise<{ hash: string; items: EventLogEntry[]; forgottenAt: string[] }>;
  data(hash: string): Promise<SupporterData>;
  backlog(): Promise<Backlog>;
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
  /** Job counters of every node running the runtime (for breaker states). */
  nodeJobStats(): Promise<NodeJobStats[]>;
  readonly logger: Logger;
}

function checkHash(hash: string): void {
  if (!isIdentityHash(hash)) throw new AppError("INVALID_PARAMETER", "not an identity hash", [{ path: "/params/hash", message: "must be 43 base64url characters" }]);
}

function waiting(stats: readonly ConsumerStats[], stream: string, consumer?: string): number {
  return stats.filter((s) => s.stream === stream && (consumer === undefined || s.consumer === consumer)).reduce((n, s) => n + s.pending + s.ackPending, 0);
}

function dlqView(e: DlqEntry): SupporterDlqView {
  const d = (typeof e.data === "object" && e.data !== null ? e.data : {}) as Record<string, unknown>;
  return {
    seq: e.seq,
    hash: e.subject.slice(e.subject.lastIndexOf(".") + 1),
    messageId: typeof d["id"] === "string" ? d["id"] : null,
    kind: typeof d["t"] === "string" ? d["t"] : null,
    from: typeof d["from"] === "string" ? d["from"] : null,
    types: Array.isArray(d["types"]) ? (d["types"] as unknown[]).filter((t): t is string => typeof t === "string") : [],
    error: e.error,
    attempts: e.attempts,
    failedAt: e.failedAt,
    originalSubject: e.originalSubject,
  };
}

/** Creates the API over `deps`. */
export function createSupportersApi(deps: SupportersApiDeps): SupportersApi {
  const { names, runtime, store, keys, topology: topo } = deps;
  return {
    submit: (value, producer) => deps.intake.submit(value, { via: "http", producer }),

    forget(hash, by) {
      checkHash(hash);
      return deps.intake.forget(hash, by);
    },

    async supporter(hash) {
      checkHash(hash);
      return supporterView(hash, await runtime.getState<SupporterState>(SUPPORTER_KIND, hash));
    },

    async events(hash, opts) {
      checkHash(hash);
      return { hash, ...(await store.events(hash, opts)) };
    },

    async data(hash) {
      checkHash(hash);
      const dk = await keys.find(hash);
      const rows = await store.sealed(hash, 100);
      if (!dk) return { hash, erased: true, messages: rows.map((r) => ({ id: r.id, receivedAt: r.receivedAt, identity: null, events: null })) };
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

    async backlog() {
      const [stats, log, nodes, holder, dlqInfo] = await Promise.all([
        runtime.consumerStats(),
        store.backlog().catch((): LogBacklog => ({ user: { pending: -1, oldest: null }, erp: { pending: -1, oldest: null } })),
        deps.nodeJobStats().catch(() => []),
        deps.nats.kvm.open(names.leaseBucket).then((kv) => kv.get("pump")).catch(() => null),
        deps.nats.jsm.streams.info(topo.dlq.stream, { subjects_filter: names.dlqFilter }).catch(() => null),
      ]);
      const breakers = (job: string): Record<string, string> => Object.fromEntries(nodes.map((n) => [n.node, String(n.jobs[job]?.["breaker"] ?? "-")]));
      let holderName: string | null = null;
      try {
        holderName = holder && holder.operation === "PUT" ? holder.json<{ holder: string }>().holder : null;
      } catch {
        holderName = null;
      }
      const dlqEntries = dlqInfo?.state.subjects ? Object.values(dlqInfo.state.subjects).reduce((a, b) => a + b, 0) : 0;
      return {
        intake: { pending: waiting(stats, names.inStream), holder: holderName },
        mailboxes: { pending: waiting(stats, topo.actors.stream(SUPPORTER_KIND)) },
        downstreams: {
          user: { messagesPending: log.user.pending, oldestPending: log.user.oldest, jobsWaiting: waiting(stats, topo.jobs.stream, topo.jobs.consumer(SUPPORTER_JOBS.user)), breakers: breakers(SUPPORTER_JOBS.user) },
          erp: { messagesPending: log.erp.pending, oldestPending: log.erp.oldest, jobsWaiting: waiting(stats, topo.jobs.stream, topo.jobs.consumer(SUPPORTER_JOBS.erp)), breakers: breakers(SUPPORTER_JOBS.erp) },
        },
        eventLog: { pending: waiting(stats, names.logStream) },
        dlq: { entries: dlqEntries },
      };
    },

    async dlq(opts) {
      if (opts.hash !== undefined) checkHash(opts.hash);
      const filter = opts.hash ? names.dlqSubject(opts.hash) : names.dlqFilter;
      const entries = await runtime.dlqList({ filter, limit: opts.limit ?? 100, ...(opts.afterSeq !== undefined ? { afterSeq: opts.afterSeq } : {}) });
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
