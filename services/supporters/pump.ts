/**
 * The intake pump: moves every message of the intake stream ({ns}.supporters.in.*, ctl.*) to
 * its supporter's mailbox, in stream order. The intake stream is the one sequence point of all
 * intake paths (HTTP, NATS request/reply, JetStream capture), so a supporter's messages reach
 * their actor in the order Switchyard acknowledged them, whichever path and node took them.
 *
 * Exactly one node pumps at a time: it holds the singleton lease `pump` in KV `{ns}_sup_lease`
 * (the platform's LeaseManager with sticky placement, renewed every ttl/3 with revision-checked
 * updates). Taking the lease resets the pump's consumer (an owned consumer: delete and create,
 * deliver-all on a work queue), so whatever the previous holder left unacked comes first, in
 * order; the reset also fences a stale holder (its consumer is gone). Forwards are pipelined on
 * one connection (wire order is stream order), except that a supporter's next message is
 * published only once its previous one is stored (a retried publish never lands after a later
 * message); each intake message is acked only after its forwards were stored, and a forward
 * carries `Nats-Msg-Id = in:{seq}.{time}`, so a redelivery is stored once.
 *
 * Per message: check + normalise + hash (prepare.ts), seal the identity and events with the
 * supporter's data key (created here on first use), publish the event-log record and the
 * mailbox message. A payload from the RTBF source or a ctl.forget request deletes the data key
 * first (crypto-shredding, in order: earlier messages are already sealed, later ones get a new
 * key) and then forwards a forget command. A refused payload (JetStream producers have no reply)
 * is logged, announced on {ns}.supporters.rejected.{source} (core NATS, not stored) and removed.
 *
 * Every message carries its owner (tenancy) to the actor and the event log: the gateway client
 * named in the Switchyard-Client header of a ctl.{source} message (the HTTP intake's subject),
 * or `nats:{source}` for a message a NATS producer put on in.{source}.
 */
import type { JsMsg, KV, NatsHandles } from "../../nats";
import { OwnedConsumer, type OwnedConsumerSpec } from "../../streams/owned-consumer";
import { LeaseManager, type LeaseKeys, type PartitionRef } from "../../actors/leases";
import type { Logger } from "../../lib/logger";
import type { ActorRuntime } from "../../actors/types";
import { backoffDelay } from "../../actors/backoff";
import { sleep } from "../../actors/codec";
import { errorMessage } from "../../lib/errors";
import type { SupporterNames } from "./streams";
import { isRefusal, prepareBytes, type PrepareOptions, type PreparedMessage } from "./prepare";
import { isIdentityHash } from "./identity";
import { sealJson, type DataKey } from "./seal";
import {
  OWNER_HEADER,
  OWNER_PATTERN,
  RTBF_SOURCE,
  isSource,
  natsOwner,
  type ForgetCommand,
  type IntakeMessage,
  type LogRecord,
} from "./model";
import { supporter } from "./supporter.actor";
import type { KeyStore } from "./keys";

/** A forget request as published on {ns}.supporters.ctl.forget. */
export interface ForgetRequest {
  readonly hash: string;
  readonly by: string;
}

/** Counters of the pump on this node. */
export interface PumpStats {
  forwarded: number;
  forgets: number;
  refused: number;
  sessions: number;
  publishRetries: number;
}

/** A running pump. */
export interface Pump {
  readonly stats: PumpStats;
  /** True while this node holds the lease and pumps. */
  holding(): boolean;
  running(): boolean;
  stop(): Promise<void>;
}

/** What the pump needs. */
export interface PumpDeps {
  readonly nats: NatsHandles;
  readonly names: SupporterNames;
  readonly runtime: ActorRuntime;
  readonly keys: KeyStore;
  readonly prepare: PrepareOptions;
  readonly nodeId: string;
  /** Forwards in flight (and the consumer's buffer). */
  readonly batch: number;
  readonly leaseMs: number;
  readonly logger: Logger;
}

const ACK_WAIT_MS = 30_000;

/** The pump's singleton lease: one partition of one lease set, under the key `pump`. */
const PUMP_LEASE: PartitionRef = { kind: "pump", partition: 0 };
const PUMP_LEASE_KEY = "pump";
const pumpLeaseKeys: LeaseKeys = {
  partitionKey: () => PUMP_LEASE_KEY,
  nodeKey: (nodeId) => `node.${nodeId.replace(/[^A-Za-z0-9_=-]/g, "_")}`,
};

/** The node holding the pump's lease, as stored in the lease bucket (undefined when none). */
export async function pumpHolder(leaseKv: KV): Promise<string | undefined> {
  const e = await leaseKv.get(PUMP_LEASE_KEY).catch(() => null);
  if (!e || e.operation !== "PUT") return undefined;
  try {
    const owner: unknown = e.json<{ owner?: unknown }>().owner;
    return typeof owner === "string" ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The publishes of one intake message, wrapped so that an async function can return them
 * without awaiting them (a returned promise would be adopted, ending the pipelining).
 */
interface Forwarding {
  readonly done: Promise<void>;
}

/**
 * Runs the operations of one key one after the other, those of different keys in parallel. With
 * `afterFailure` an operation runs once its predecessor settled; without, a failed predecessor
 * fails it unrun.
 */
function perKey(afterFailure: boolean): <T>(key: string, op: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, op: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key);
    const p = prev === undefined ? op() : afterFailure ? prev.then(op, op) : prev.then(op);
    tails.set(key, p);
    const forget = (): void => {
      if (tails.get(key) === p) tails.delete(key);
    };
    p.then(forget, forget);
    return p;
  };
}

function forwarding(pubs: readonly Promise<unknown>[]): Forwarding {
  return { done: Promise.all(pubs).then(() => undefined) };
}
const KEY_CACHE = 100_000;

/** Starts the pump loop on this node (it pumps only while it holds the lease). */
export async function startPump(d: PumpDeps): Promise<Pump> {
  const stats: PumpStats = { forwarded: 0, forgets: 0, refused: 0, sessions: 0, publishRetries: 0 };
  const leaseKv = await d.nats.kvm.open(d.names.leaseBucket);
  const log = d.logger;
  let stopped = false;
  const keyCache = new Map<string, DataKey>();
  const mailboxes = supporter.on(d.runtime);
  const spec: OwnedConsumerSpec = {
    stream: d.names.inStream,
    durable: d.names.pumpConsumer,
    ackWaitMs: ACK_WAIT_MS,
    maxAckPending: d.batch * 4,
  };

  async function dataKey(hash: string): Promise<DataKey> {
    const hit = keyCache.get(hash);
    if (hit) return hit;
    const dk = await d.keys.current(hash);
    if (keyCache.size >= KEY_CACHE) keyCache.clear();
    keyCache.set(hash, dk);
    return dk;
  }

  /** Retries `what` until it succeeds or the session ends; dedupe ids make repeats harmless. */
  async function durably<T>(what: () => Promise<T>, alive: () => boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (!alive()) throw new Error("pump session ended");
      try {
        return await what();
      } catch (err) {
        if (!alive()) throw err;
        stats.publishRetries++;
        log.warn({ err: errorMessage(err), attempt }, "pump publish failed; retrying");
        await sleep(backoffDelay(attempt, 100, 5000));
      }
    }
  }

  /** What to do with one intake message (decided synchronously, in stream order). */
  type Plan =
    | { readonly kind: "none" }
    | { readonly kind: "forget"; readonly hash: string; readonly by: string }
    | { readonly kind: "msg"; readonly prepared: PreparedMessage; readonly owner: string };

  function plan(msg: JsMsg): Plan {
    if (msg.subject === d.names.forgetSubject) {
      let req: Partial<ForgetRequest> = {};
      try {
        req = msg.json<ForgetRequest>();
      } catch {
        // refused below
      }
      if (!isIdentityHash(req.hash) || typeof req.by !== "string") {
        stats.refused++;
        log.warn({ seq: msg.seq }, "malformed forget request dropped");
        return { kind: "none" };
      }
      return { kind: "forget", hash: req.hash, by: req.by.slice(0, 100) };
    }
    const source = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    // The HTTP intake's subject (ctl.{source}) names its client; anything on in.{source} is the source's.
    const viaGateway = msg.subject === d.names.gatewaySubject(source);
    const owner = viaGateway ? (msg.headers?.get(OWNER_HEADER) ?? "") : natsOwner(source);
    const prepared = !isSource(source)
      ? ({
          code: "VALIDATION_ERROR",
          message: "unknown source",
          details: [{ path: "/source", message: "unknown source" }],
        } as const)
      : !OWNER_PATTERN.test(owner)
        ? ({
            code: "VALIDATION_ERROR",
            message: "no client",
            details: [{ path: `/headers/${OWNER_HEADER}`, message: "missing or malformed" }],
          } as const)
        : prepareBytes(msg.data, source, d.prepare);
    if (isRefusal(prepared)) {
      stats.refused++;
      const producerId = msg.headers?.get("Nats-Msg-Id") ?? null;
      log.warn(
        {
          source,
          viaGateway,
          seq: msg.seq,
          producerId,
          bytes: msg.data.length,
          code: prepared.code,
          details: prepared.details,
        },
        "supporter payload refused at intake",
      );
      // Only the source's own producers hear about refusals on its subject (never a gateway client's).
      if (!viaGateway)
        d.nats.nc.publish(
          d.names.rejectedSubject(source),
          JSON.stringify({
            seq: msg.seq,
            messageId: producerId,
            error: { code: prepared.code, message: prepared.message, details: prepared.details },
          }),
        );
      return { kind: "none" };
    }
    if (prepared.source === RTBF_SOURCE)
      return { kind: "forget", hash: prepared.hash, by: viaGateway ? owner : RTBF_SOURCE };
    return { kind: "msg", prepared, owner };
  }

  /** Issues the publishes of one planned message (synchronously: wire order is call order). */
  function issue(msg: JsMsg, p: Plan, dk: DataKey | undefined, alive: () => boolean): Forwarding {
    if (p.kind === "none") return forwarding([]);
    const at = Math.floor(msg.info.timestampNanos / 1e6);
    // The intake message's sequence and time: the same on every re-forward of it (deduplicated
    // downstream), different for a new message that reuses a sequence after the intake stream lost
    // its tail (nats-server 2.9, a lagging replica elected leader).
    const ref = `${msg.seq}.${at}`;
    if (p.kind === "forget") {
      const rec: LogRecord = { k: "forget", hash: p.hash, at, by: p.by };
      const cmd: ForgetCommand = { t: "forget", id: `forget.${msg.seq}`, seq: msg.seq, at, by: p.by };
      stats.forgets++;
      log.info({ hash: p.hash, by: p.by, seq: msg.seq }, "supporter forgotten: data key deleted");
      return inOrder(p.hash, () => [
        durably(
          () => d.nats.js.publish(d.names.logSubject(p.hash), JSON.stringify(rec), { msgID: `log:in:${ref}` }),
          alive,
        ),
        durably(() => mailboxes.send(p.hash, cmd, { id: `in:${ref}` }), alive),
      ]);
    }
    if (!dk) throw new Error("no data key");
    const prepared = p.prepared;
    const producerId = msg.headers?.get("Nats-Msg-Id") ?? "";
    const messageId =
      prepared.messageId ?? (/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(producerId) ? producerId : `s${msg.seq}`);
    const id = `${prepared.source}.${messageId}`;
    const identity = sealJson(dk, prepared.hash, prepared.identity);
    const events = prepared.events.length > 0 ? sealJson(dk, prepared.hash, prepared.events) : null;
    const types = prepared.events.map((e) => e.type);
    const client = p.owner;
    const rec: LogRecord = {
      k: "msg",
      hash: prepared.hash,
      id,
      source: prepared.source,
      seq: msg.seq,
      receivedAt: at,
      types,
      kid: dk.kid,
      identity,
      events,
      client,
    };
    const cmd: IntakeMessage = {
      t: "msg",
      id,
      source: prepared.source,
      seq: msg.seq,
      receivedAt: at,
      kid: dk.kid,
      identity,
      events,
      types,
      client,
    };
    stats.forwarded++;
    return inOrder(prepared.hash, () => [
      durably(
        () => d.nats.js.publish(d.names.logSubject(prepared.hash), JSON.stringify(rec), { msgID: `log:in:${ref}` }),
        alive,
      ),
      durably(() => mailboxes.send(prepared.hash, cmd, { id: `in:${ref}` }), alive),
    ]);
  }

  /**
   * Per supporter, the forwarding of its latest message. A supporter's next message is published
   * only once the previous one's publishes were stored: each publish is retried on its own, and a
   * retry of message k (a stream without a leader for a few seconds) must not land after message
   * k+1. A failed forwarding fails the supporter's later ones without publishing them (the next
   * session forwards them again, in order). Different supporters stay pipelined.
   */
  const forwardChain = perKey(false);
  function inOrder(hash: string, publishes: () => readonly Promise<unknown>[]): Forwarding {
    return { done: forwardChain(hash, async () => void (await Promise.all(publishes()))) };
  }

  /**
   * Key operations of one supporter run one after the other (a forget's delete before a later
   * message's lookup, also after an earlier one failed), those of different supporters in parallel.
   */
  const keyOp = perKey(true);

  /** The data key a planned message needs (looked up, created or deleted in per-supporter order). */
  function keyFor(p: Plan, alive: () => boolean): Promise<DataKey | undefined> {
    if (p.kind === "msg") return keyOp(p.prepared.hash, () => durably(() => dataKey(p.prepared.hash), alive));
    if (p.kind === "forget") {
      return keyOp(p.hash, async () => {
        // Delete the key before anything later is sealed: later messages get a new key.
        await durably(() => d.keys.shred(p.hash), alive);
        keyCache.delete(p.hash);
        return undefined;
      });
    }
    return Promise.resolve(undefined);
  }

  /** Starts a session: resets the consumer (everything left unacked comes first, in order). */
  async function openSession(): Promise<OwnedConsumer> {
    stats.sessions++;
    keyCache.clear();
    return OwnedConsumer.open(d.nats, spec, { reset: true, pullBatch: d.batch, maxInFlight: d.batch });
  }

  /** One session: forward until the lease is lost, we stop, or a forward fails. */
  async function session(iter: OwnedConsumer, holds: () => boolean): Promise<void> {
    let broken = false;
    const alive = (): boolean => holds() && !broken && !stopped;
    log.info({ node: d.nodeId }, "pump lease taken; forwarding intake");
    const inflight: { msg: JsMsg; done: Promise<void>; settled: boolean; ok: boolean }[] = [];
    /** Acks, in stream order, every message at the head whose forwards were stored. */
    let failedAt: number | null = null;
    const ackSettled = (): void => {
      while (inflight[0]?.settled) {
        const head = inflight.shift()!;
        // After a failed forward nothing more is acked in this session: the next session
        // (consumer reset) forwards again from there, and the mailbox dedupes what was stored.
        if (head.ok && failedAt === null) head.msg.ack();
        else if (failedAt === null) {
          failedAt = head.msg.seq;
          log.warn({ seq: head.msg.seq }, "forward abandoned; later messages are left to the next session");
        }
        iter.settle(head.msg);
      }
    };
    // Each message's publishes are issued strictly after the previous message's (stream order);
    // key lookups run ahead in parallel. A failed link fails every later one (never reorder).
    // Back-pressure: the owned consumer holds at most `batch` messages forwarded and not yet acked.
    let issueChain: Promise<unknown> = Promise.resolve();
    try {
      for await (const msg of iter) {
        if (!alive()) break;
        const p = plan(msg);
        const key = keyFor(p, alive);
        key.catch(() => undefined);
        const issued = issueChain.then(async () => issue(msg, p, await key, alive));
        const link = issued.then(() => undefined);
        link.catch(() => undefined);
        issueChain = link;
        const done = issued.then((f) => f.done);
        const entry = { msg, done, settled: false, ok: false };
        inflight.push(entry);
        done.then(
          () => {
            entry.settled = true;
            entry.ok = true;
            ackSettled();
          },
          (err: unknown) => {
            entry.settled = true;
            if (alive()) {
              // Unexpected: end the session; the next one starts again at the first unacked message.
              broken = true;
              log.error(
                { seq: msg.seq, err: errorMessage(err) },
                "pump could not forward a message; restarting the session",
              );
              void iter.close();
            }
            ackSettled();
          },
        );
      }
    } catch (err) {
      if (alive()) log.error({ err: errorMessage(err) }, "pump consumer failed");
    } finally {
      await Promise.allSettled(inflight.map((f) => f.done));
      ackSettled();
      await iter.close();
    }
  }

  /** This node's holding of the lease: its sessions, one after the other. */
  interface Tenure {
    ended: boolean;
    consumer: OwnedConsumer;
    loop: Promise<void>;
  }
  let tenure: Tenure | null = null;

  /** The lease is ours: the first session is opened here, so a failed reset gives the lease back. */
  async function acquired(): Promise<void> {
    const t: Tenure = { ended: false, consumer: await openSession(), loop: Promise.resolve() };
    tenure = t;
    t.loop = (async () => {
      for (;;) {
        try {
          await session(t.consumer, () => !t.ended);
        } catch (err) {
          log.error({ err: errorMessage(err) }, "pump session failed");
        }
        if (t.ended || stopped) return;
        // A session ended while the lease is still ours (a forward failed, the pull broke): start
        // again from the first unacked message.
        for (let attempt = 1; ; attempt++) {
          await sleep(200);
          if (t.ended || stopped) return;
          try {
            t.consumer = await openSession();
            break;
          } catch (err) {
            log.error({ err: errorMessage(err), attempt }, "pump session did not start; retrying");
            await sleep(backoffDelay(attempt, 100, 5000));
          }
        }
        if (t.ended || stopped) {
          await t.consumer.close();
          return;
        }
      }
    })();
  }

  /** The lease is gone (lost, handed over or given up at stop): end the session. */
  async function released(): Promise<void> {
    const t = tenure;
    if (!t) return;
    t.ended = true;
    tenure = null;
    await t.consumer.close();
    await t.loop;
    log.info({ node: d.nodeId }, "pump lease released");
  }

  const leases = new LeaseManager({
    kv: leaseKv,
    keys: pumpLeaseKeys,
    nodeId: d.nodeId,
    refs: [PUMP_LEASE],
    ttlMs: d.leaseMs,
    placement: "sticky",
    callbacks: { acquired, released },
    log: log.child({ lease: "pump" }),
  });
  await leases.start();

  return {
    stats,
    holding: () => tenure !== null && !tenure.consumer.isClosed,
    running: () => !stopped,
    async stop() {
      if (stopped) return;
      stopped = true;
      // drains the session and deletes the lease, so the next holder does not wait for the ttl
      await leases.stop();
    },
  };
}
