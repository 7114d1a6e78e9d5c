/**
 * A standby region: a second NATS system with its own JetStream domain, joined to the primary
 * by a leaf node (or a gateway), that mirrors every stream, KV bucket and object store of a
 * namespace, and is promoted to take over when the primary region is lost.
 *
 * - `setupStandby` creates on the standby one mirror per retained stream of the namespace on the
 *   primary (KV buckets, object stores, logs, feeds: same name, sourcing through the primary's
 *   domain API over the link; mirrors keep the origin's sequence numbers, so KV revisions and
 *   actors' applied sequences stay valid), and one copy stream `DRQ_<name>` per work-queue or
 *   interest stream (mailboxes, jobs, intake): nats-server 2.9 counts a mirror's consumer as a
 *   consumer of the work queue, which then refuses the nodes' own filtered consumers, so these
 *   are copied by sequence instead (no consumer: `$JS.<domain>.API.STREAM.MSG.GET`), each copy
 *   carrying its original sequence and subject in headers. It records the primary's stream and
 *   consumer configurations in the standby's KV bucket `dr_<ns>` (key `plan`).
 * - `followStandby` (`npm run dr -- follow`, every second by default; shorter means less lag):
 *   copies what the work queues gained since the last step (skipping what the primary no longer
 *   holds: acknowledged work), records each queue's first and last sequence, measures every
 *   copy's and mirror's lag (messages the standby lacks, and the age of the oldest of them),
 *   refreshes the plan's consumers, and stores the figures (key `lag`).
 * - `promoteStandby` (`npm run dr -- promote`): fencing first (below), then each mirror and copy
 *   becomes the stream it stands for: its messages are written to a work file, the mirror is
 *   deleted, and the stream is created with the primary's configuration and consumers and the
 *   messages put back at their original sequences (restore.ts, loadStream; 2.9 cannot turn a
 *   mirror into a stream in place), queue copies from the primary's last recorded first
 *   sequence, every stream ending after the last sequence the standby saw, above anything the
 *   mirrored state can refer to. A promotion that stops half way is run again: promoted streams
 *   are skipped, a stream whose mirror is gone is loaded from its work file. Last it sets key
 *   `promoted`, which releases the standby nodes (`npm run dr -- node` waits for it).
 *
 * Fencing: two writable copies of a stream must never take traffic at once. Promotion refuses
 * while the primary's JetStream answers through the link (the region is not lost, or the link
 * is up), unless forced; forcing is for an operator who has cut the primary off (stopped its
 * servers or nodes, or removed the producers' access) by other means. Promoted streams then
 * capture the namespace's subjects on the standby; the old primary must not come back on the
 * same link without being wiped (fail back by setting up the old region as the new standby).
 *
 * What can be lost: messages the primary acknowledged that the mirror had not yet copied when
 * the primary went: the lag `followStandby` measures (`npm run bench:dr` prints it under load).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../lib/logger";
import {
  StorageType,
  headers as natsHeaders,
  jetstreamManager,
  isStreamNotFound,
  nextStoredMessage,
  type ConsumerConfig,
  type JetStreamManager,
  type KV,
  type NatsHandles,
  type StreamConfig,
} from "../nats";
import { openRecordFile } from "./backup";
import { backupOrder, inNamespace } from "./manifest";
import { readRecords, loadStream } from "./restore";
import { readByConsumer, scanStream } from "./scan";
import { keptHeader } from "./records";
import { withStoredAt } from "../streams/stored-at";

/** The standby's record of what it mirrors. */
export interface StandbyPlan {
  readonly namespace: string;
  readonly primaryDomain: string;
  readonly createdAt: string;
  readonly streams: readonly {
    readonly name: string;
    /** The primary's configuration (what promotion creates). */
    readonly config: StreamConfig;
    readonly consumers: readonly ConsumerConfig[];
  }[];
}

/** One mirror's lag behind its origin. */
export interface MirrorLag {
  readonly name: string;
  /** Messages the primary has stored beyond the mirror's last sequence. */
  readonly messages: number;
  /** Age of the oldest message the mirror lacks (0 when caught up), ms. */
  readonly ms: number;
  readonly primaryLastSeq: number;
  readonly mirrorLastSeq: number;
}

/**
 * How far a queue copy got: the last primary sequence copied, the primary's first and last then,
 * and the first sequences of the recent steps (promotion starts from one recorded at least
 * {@link REPLAY_MARGIN_MS} before the last step: work acknowledged in that margin may not have
 * reached the copy of the next stream yet, so it is replayed, and absorbed as redelivery).
 */
interface QueueCursor {
  readonly copied: number;
  readonly first: number;
  readonly last: number;
  readonly firsts?: readonly { readonly at: number; readonly first: number }[];
}

/** See {@link QueueCursor}. */
export const REPLAY_MARGIN_MS = 10_000;

/** The sequence a promoted queue starts from (see {@link QueueCursor}). */
export function replayFrom(q: QueueCursor): number {
  const firsts = q.firsts ?? [];
  const lastAt = firsts.length > 0 ? firsts[firsts.length - 1]!.at : 0;
  const old = firsts.filter((f) => f.at <= lastAt - REPLAY_MARGIN_MS);
  if (old.length > 0) return old[old.length - 1]!.first;
  return firsts.length > 0 ? firsts[0]!.first : q.first;
}

/** What one follow step measured. */
export interface LagReport {
  readonly at: string;
  readonly streams: readonly MirrorLag[];
  /** Totals over the streams: messages behind, and the largest age behind. */
  readonly messages: number;
  readonly ms: number;
}

/** What a promotion did. */
export interface PromotionReport {
  readonly at: string;
  readonly streams: readonly { name: string; messages: number; nextSeq: number; skipped: boolean }[];
  /** The last lag measured before the primary went (what may be lost). */
  readonly lastLag: LagReport | null;
  readonly ms: number;
}

/** The standby's own bucket for namespace `ns` (not in the namespace: it is not mirrored or backed up). */
export function standbyBucket(ns: string): string {
  return `dr_${ns}`;
}

async function standbyKv(h: NatsHandles, ns: string): Promise<KV> {
  return h.kvm.create(standbyBucket(ns), { history: 1 });
}

async function readJson<T>(kv: KV, key: string): Promise<T | null> {
  const e = await kv.get(key);
  return e && e.operation === "PUT" ? (JSON.parse(e.string()) as T) : null;
}

/** The JetStream manager of the primary's domain, reached from the standby's connection. */
export function primaryManager(standby: NatsHandles, domain: string, timeoutMs = 2000): Promise<JetStreamManager> {
  return jetstreamManager(standby.nc, { domain, timeout: timeoutMs, checkAPI: false });
}

async function durableConsumers(jsm: JetStreamManager, stream: string): Promise<ConsumerConfig[]> {
  const out: ConsumerConfig[] = [];
  for await (const ci of jsm.consumers.list(stream)) if (ci.config.durable_name) out.push(ci.config);
  return out;
}

/** The standby's copy of a work-queue or interest stream. */
export function queueCopyName(stream: string): string {
  return `DRQ_${stream}`;
}

/** Headers a queue copy adds: the original sequence and subject. */
const SEQ_HEADER = "Sy-Dr-Seq";
const SUBJECT_HEADER = "Sy-Dr-Subject";

/** True for streams copied by sequence instead of mirrored (see the module doc). */
function isQueue(config: StreamConfig): boolean {
  return config.retention !== "limits";
}

/** The mirror on the standby of a primary stream. */
function mirrorConfig(
  primary: StreamConfig,
  domain: string,
  replicas: number,
): Partial<StreamConfig> & { name: string } {
  return {
    name: primary.name,
    mirror: { name: primary.name, external: { api: `$JS.${domain}.API`, deliver: "" } },
    storage: primary.storage,
    num_replicas: replicas,
    max_msgs_per_subject: primary.max_msgs_per_subject,
    max_age: primary.max_age,
    max_msg_size: primary.max_msg_size,
    max_bytes: primary.max_bytes,
  } as Partial<StreamConfig> & { name: string };
}

/** Options of {@link setupStandby}. */
export interface StandbyOptions {
  readonly standby: NatsHandles;
  readonly namespace: string;
  /** The primary's JetStream domain. */
  readonly primaryDomain: string;
  readonly log: Logger;
  /** Replicas of each mirror (default 1). */
  readonly replicas?: number;
}

/**
 * Creates the mirrors of every stream of the namespace the primary has now (idempotent: run it
 * again after a deploy that added streams) and stores the plan. Returns it.
 */
export async function setupStandby(o: StandbyOptions): Promise<StandbyPlan> {
  const primary = await primaryManager(o.standby, o.primaryDomain, 5000);
  const streams: { name: string; config: StreamConfig; consumers: ConsumerConfig[] }[] = [];
  for await (const si of primary.streams.list())
    if (inNamespace(si.config.name, o.namespace))
      streams.push({
        name: si.config.name,
        config: si.config,
        consumers: await durableConsumers(primary, si.config.name),
      });
  for (const s of streams) {
    const name = isQueue(s.config) ? queueCopyName(s.name) : s.name;
    const exists = await o.standby.jsm.streams.info(name).then(
      () => true,
      (err: unknown) => {
        if (isStreamNotFound(err)) return false;
        throw err;
      },
    );
    if (!exists)
      await o.standby.jsm.streams.add(
        isQueue(s.config)
          ? {
              name,
              subjects: [`drq.${s.name}`],
              storage: StorageType.File,
              num_replicas: o.replicas ?? 1,
              // a copy of work that waited longer than this on the primary is dropped
              max_age: 7 * 24 * 3600 * 1e9,
            }
          : mirrorConfig(s.config, o.primaryDomain, o.replicas ?? 1),
      );
    o.log.info({ stream: s.name, copy: name, created: !exists }, isQueue(s.config) ? "queue copy" : "mirror");
  }
  const plan: StandbyPlan = {
    namespace: o.namespace,
    primaryDomain: o.primaryDomain,
    createdAt: new Date().toISOString(),
    streams,
  };
  await (await standbyKv(o.standby, o.namespace)).put("plan", JSON.stringify(plan));
  return plan;
}

function tsMs(iso: string | undefined): number {
  return iso ? Date.parse(iso) : 0;
}

/**
 * One follow step (see the module doc): measures every mirror's lag, trims queue mirrors and
 * refreshes the plan's consumers. Throws when the primary does not answer (nothing is changed).
 */
export async function followStandby(o: Pick<StandbyOptions, "standby" | "namespace" | "log">): Promise<LagReport> {
  const kv = await standbyKv(o.standby, o.namespace);
  const plan = await readJson<StandbyPlan>(kv, "plan");
  if (!plan) throw new Error(`no standby plan for ${o.namespace}: run setup first`);
  const primary = await primaryManager(o.standby, plan.primaryDomain);
  const lags: MirrorLag[] = [];
  const streams: StandbyPlan["streams"][number][] = [];
  const api = `$JS.${plan.primaryDomain}.API`;
  // along the flow of work (as a backup reads), so work moving on during a step is caught once
  for (const s of backupOrder(plan.streams, plan.namespace)) {
    const p = await primary.streams.info(s.name);
    if (isQueue(s.config)) {
      const q = (await readJson<QueueCursor>(kv, `queue.${s.name}`)) ?? { copied: 0, first: 0, last: 0 };
      const from = Math.max(q.copied + 1, p.state.first_seq);
      const behind = Math.max(0, p.state.last_seq - Math.max(q.copied, p.state.first_seq - 1));
      let ms = 0;
      if (behind > 0) {
        const oldest = await nextStoredMessage(o.standby.nc, s.name, from, 2000, api).catch(() => null);
        ms = oldest ? Math.max(0, Date.now() - Number(oldest.timeNs / 1_000_000n)) : 0;
        const pending: Promise<unknown>[] = [];
        await scanStream(
          o.standby.nc,
          s.name,
          from,
          p.state.last_seq,
          (m) => {
            const h = natsHeaders();
            for (const [k, v] of withStoredAt(m.headers, m.timeNs)) if (keptHeader(k)) h.append(k, v);
            h.set(SEQ_HEADER, String(m.seq));
            h.set(SUBJECT_HEADER, m.subject);
            pending.push(o.standby.js.publish(`drq.${s.name}`, m.data, { headers: h }));
          },
          { api },
        );
        await Promise.all(pending);
      }
      const now = Date.now();
      const firsts = [...(q.firsts ?? []), { at: now, first: p.state.first_seq }].filter(
        (f) => f.at >= now - 6 * REPLAY_MARGIN_MS,
      );
      const cursor: QueueCursor = {
        copied: Math.max(q.copied, p.state.last_seq),
        first: p.state.first_seq,
        last: p.state.last_seq,
        firsts,
      };
      await kv.put(`queue.${s.name}`, JSON.stringify(cursor));
      lags.push({ name: s.name, messages: behind, ms, primaryLastSeq: p.state.last_seq, mirrorLastSeq: q.copied });
    } else {
      const m = await o.standby.jsm.streams.info(s.name);
      const behind = Math.max(0, p.state.last_seq - m.state.last_seq);
      let ms = 0;
      if (behind > 0) {
        // the oldest message the mirror lacks is the primary's next one after the mirror's last
        const next = await nextStoredMessage(o.standby.nc, s.name, m.state.last_seq + 1, 2000, api).catch(() => null);
        ms = next
          ? Math.max(0, Date.now() - Number(next.timeNs / 1_000_000n))
          : Math.max(0, tsMs(p.state.last_ts) - tsMs(m.state.last_ts));
      }
      lags.push({
        name: s.name,
        messages: behind,
        ms,
        primaryLastSeq: p.state.last_seq,
        mirrorLastSeq: m.state.last_seq,
      });
    }
    streams.push({ ...s, consumers: await durableConsumers(primary, s.name) });
  }
  await kv.put("plan", JSON.stringify({ ...plan, streams }));
  const report: LagReport = {
    at: new Date().toISOString(),
    streams: lags,
    messages: lags.reduce((n, l) => n + l.messages, 0),
    ms: lags.reduce((n, l) => Math.max(n, l.ms), 0),
  };
  await kv.put("lag", JSON.stringify(report));
  return report;
}

/** True when the primary's JetStream answers through the link within `timeoutMs`. */
export async function primaryAnswers(standby: NatsHandles, domain: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const jsm = await primaryManager(standby, domain, timeoutMs);
    await jsm.getAccountInfo();
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link promoteStandby}. */
export interface PromoteOptions {
  readonly standby: NatsHandles;
  readonly namespace: string;
  readonly log: Logger;
  /** Work files go here (one per stream being promoted). */
  readonly workDir: string;
  /** Promote although the primary answers (the operator fenced it by other means). */
  readonly force?: boolean;
  readonly replicas?: number;
}

/** Promotes the standby (see the module doc); returns what it did. */
export async function promoteStandby(o: PromoteOptions): Promise<PromotionReport> {
  const t0 = Date.now();
  const kv = await standbyKv(o.standby, o.namespace);
  const plan = await readJson<StandbyPlan>(kv, "plan");
  if (!plan) throw new Error(`no standby plan for ${o.namespace}: nothing to promote`);
  if (!o.force && (await primaryAnswers(o.standby, plan.primaryDomain)))
    throw new Error(
      `the primary (JetStream domain ${plan.primaryDomain}) still answers: fence it (stop its servers or cut the link) or promote with --force once it can take no traffic`,
    );
  const lastLag = await readJson<LagReport>(kv, "lag");
  mkdirSync(o.workDir, { recursive: true });
  const done: PromotionReport["streams"][number][] = [];
  for (const s of plan.streams) {
    const file = path.join(o.workDir, `${s.name}.rec.gz`);
    const infoOf = (name: string) =>
      o.standby.jsm.streams.info(name).catch((err: unknown) => {
        if (isStreamNotFound(err)) return null;
        throw err;
      });
    const info = await infoOf(s.name);
    const copy = isQueue(s.config) ? await infoOf(queueCopyName(s.name)) : null;
    const unfinished = await readJson<{ nextSeq: number }>(kv, `work.${s.name}`);
    if (info && !info.config.mirror && !copy && !unfinished) {
      done.push({ name: s.name, messages: info.state.messages, nextSeq: info.state.last_seq + 1, skipped: true });
      continue;
    }
    let nextSeq: number;
    if (info && !info.config.mirror && !copy && unfinished) {
      // a load that stopped half way (its work file is complete): load it again
      await o.standby.jsm.streams.delete(s.name);
    }
    if (copy) {
      // a queue: its copy, from a first sequence the primary had a margin before the last step
      const q = (await readJson<QueueCursor>(kv, `queue.${s.name}`)) ?? { copied: 0, first: 0, last: 0 };
      if (info) await o.standby.jsm.streams.delete(s.name); // a load that stopped half way
      const from = replayFrom(q);
      const w = openRecordFile(file);
      if (copy.state.messages > 0)
        await readByConsumer(o.standby.js, copy.config.name, copy.state.last_seq, async (m) => {
          const seq = Number(m.headers.find(([k]) => k === SEQ_HEADER)?.[1] ?? 0);
          const subject = m.headers.find(([k]) => k === SUBJECT_HEADER)?.[1] ?? "";
          if (seq < from || seq === 0 || subject === "") return;
          const headers = m.headers.filter(([k]) => k !== SEQ_HEADER && k !== SUBJECT_HEADER);
          await w.write({ seq, subject, headers, data: m.data, timeNs: m.timeNs });
        });
      await w.close();
      nextSeq = Math.max(q.copied, q.last) + 1;
      await kv.put(`work.${s.name}`, JSON.stringify({ nextSeq }));
      await o.standby.jsm.streams.delete(copy.config.name);
    } else if (info && info.config.mirror) {
      const w = openRecordFile(file);
      if (info.state.messages > 0)
        await scanStream(o.standby.nc, s.name, info.state.first_seq, info.state.last_seq, (m) => w.write(m));
      await w.close();
      nextSeq = info.state.last_seq + 1;
      await kv.put(`work.${s.name}`, JSON.stringify({ nextSeq }));
      await o.standby.jsm.streams.delete(s.name);
    } else {
      if (!unfinished)
        throw new Error(`stream ${s.name} is neither a mirror nor a stream, and no work file is recorded`);
      nextSeq = unfinished.nextSeq;
    }
    // A queue (an intake above all) takes producers' messages as soon as it exists: producers
    // re-pointed to the standby publish into it while it is loaded (see LoadOptions.foreignWrites).
    const loaded = await loadStream(
      o.standby,
      o.log,
      { name: s.name, config: s.config, consumers: s.consumers, nextSeq },
      readRecords(file),
      { ...(o.replicas !== undefined ? { replicas: o.replicas } : {}), foreignWrites: isQueue(s.config) },
    );
    await kv.delete(`work.${s.name}`);
    done.push({ name: s.name, messages: loaded.messages, nextSeq: loaded.nextSeq, skipped: false });
    o.log.info({ stream: s.name, messages: loaded.messages, fromProducers: loaded.foreign ?? 0 }, "promoted");
  }
  const report: PromotionReport = { at: new Date().toISOString(), streams: done, lastLag, ms: Date.now() - t0 };
  await kv.put("promoted", JSON.stringify(report));
  return report;
}

/** Resolves once the standby of `ns` is promoted (a standby node waits on this before it starts). */
export async function waitForPromotion(standby: NatsHandles, ns: string, pollMs = 500): Promise<PromotionReport> {
  const kv = await standbyKv(standby, ns);
  for (;;) {
    const r = await readJson<PromotionReport>(kv, "promoted");
    if (r) return r;
    await new Promise((res) => setTimeout(res, pollMs));
  }
}
