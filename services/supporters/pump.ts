/**
 * The intake pump: moves every message of the intake stream ({ns}.supporters.in.*, ctl.*) to
 * its supporter's mailbox, in stream order. The intake stream is the one sequence point of all
 * intake paths (HTTP, NATS request/reply, JetStream capture), so a supporter's messages reach
 * their actor in the order Switchyard acknowledged them, whichever path and node took them.
 *
 * Exactly one node pumps at a time: it holds a lease in KV `{ns}_sup_lease` (renewed every
 * ttl/3). Taking the lease resets the pump's consumer (delete and create, deliver-all on a work
 * queue), so whatever the previous holder left unacked comes first, in order; the reset also
 * fences a stale holder (its consumer is gone). Forwards are pipelined on one connection (wire
 * order is stream order) and each intake message is acked only after its forwards were stored;
 * a forward carries `Nats-Msg-Id = in:{seq}`, so a redelivery is stored once.
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
import {
  AckPolicy,
  DeliverPolicy,
  isJsApiError,
  JetStreamApiCodes,
  type ConsumerMessages,
  type JsMsg,
  type NatsHandles,
} from "../../nats";
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
import { KvLease } from "./lease";

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

/**
 * The publishes of one intake message, wrapped so that an async function can return them
 * without awaiting them (a returned promise would be adopted, ending the pipelining).
 */
interface Forwarding {
  readonly done: Promise<void>;
}

function forwarding(pubs: readonly Promise<unknown>[]): Forwarding {
  return { done: Promise.all(pubs).then(() => undefined) };
}
const KEY_CACHE = 100_000;

/** Starts the pump loop on this node (it pumps only while it holds the lease). */
export async function startPump(d: PumpDeps): Promise<Pump> {
  const stats: PumpStats = { forwarded: 0, forgets: 0, refused: 0, sessions: 0, publishRetries: 0 };
  const leaseKv = await d.nats.kvm.open(d.names.leaseBucket);
  const lease = new KvLease(leaseKv, "pump", d.nodeId);
  const log = d.logger;
  let stopped = false;
  let messages: ConsumerMessages | null = null;
  let wakeSleep: (() => void) | null = null;
  const keyCache = new Map<string, DataKey>();
  const mailboxes = supporter.on(d.runtime);

  async function resetConsumer(): Promise<void> {
    try {
      await d.nats.jsm.consumers.delete(d.names.inStream, d.names.pumpConsumer);
    } catch (err) {
      if (!isJsApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    await d.nats.jsm.consumers.add(d.names.inStream, {
      durable_name: d.names.pumpConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_deliver: -1,
      max_ack_pending: d.batch * 4,
    });
  }

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
    if (p.kind === "forget") {
      const rec: LogRecord = { k: "forget", hash: p.hash, at, by: p.by };
      const cmd: ForgetCommand = { t: "forget", id: `forget.${msg.seq}`, seq: msg.seq, at, by: p.by };
      stats.forgets++;
      log.info({ hash: p.hash, by: p.by, seq: msg.seq }, "supporter forgotten: data key deleted");
      return forwarding([
        durably(
          () => d.nats.js.publish(d.names.logSubject(p.hash), JSON.stringify(rec), { msgID: `log:in:${msg.seq}` }),
          alive,
        ),
        durably(() => mailboxes.send(p.hash, cmd, { id: `in:${msg.seq}` }), alive),
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
    return forwarding([
      durably(
        () => d.nats.js.publish(d.names.logSubject(prepared.hash), JSON.stringify(rec), { msgID: `log:in:${msg.seq}` }),
        alive,
      ),
      durably(() => mailboxes.send(prepared.hash, cmd, { id: `in:${msg.seq}` }), alive),
    ]);
  }

  /**
   * Key operations of one supporter run one after the other (a forget's delete before a later
   * message's lookup), those of different supporters in parallel.
   */
  const keyChains = new Map<string, Promise<unknown>>();
  function keyOp<T>(hash: string, op: () => Promise<T>): Promise<T> {
    const prev = keyChains.get(hash) ?? Promise.resolve();
    const p = prev.then(op, op);
    const tail = p.then(
      () => undefined,
      () => undefined,
    );
    keyChains.set(hash, tail);
    void tail.then(() => {
      if (keyChains.get(hash) === tail) keyChains.delete(hash);
    });
    return p;
  }

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

  /** One holding session: reset the consumer, forward until the lease is lost or we stop. */
  async function session(): Promise<void> {
    stats.sessions++;
    keyCache.clear();
    await resetConsumer();
    const consumer = await d.nats.js.consumers.get(d.names.inStream, d.names.pumpConsumer);
    const iter = await consumer.consume({ max_messages: d.batch });
    messages = iter;
    let lost = false;
    let broken = false;
    const alive = (): boolean => !lost && !broken && !stopped;
    const renew = setInterval(
      () => {
        void lease.renew().then((ok) => {
          if (!ok && !lost) {
            lost = true;
            log.warn("pump lease lost; stopping this session");
            void iter.close().catch(() => undefined);
          }
        });
      },
      Math.max(300, Math.floor(d.leaseMs / 3)),
    );
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
      }
    };
    const keepAlive = setInterval(() => {
      for (const f of inflight) f.msg.working();
    }, ACK_WAIT_MS / 3);
    // Each message's publishes are issued strictly after the previous message's (stream order);
    // key lookups run ahead in parallel. A failed link fails every later one (never reorder).
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
              void iter.close().catch(() => undefined);
            }
            ackSettled();
          },
        );
        inflight.push(entry);
        // back-pressure: at most `batch` messages forwarded and not yet acked
        while (inflight.length >= d.batch) await inflight[0]!.done.catch(() => undefined).then(ackSettled);
      }
    } catch (err) {
      if (alive()) log.error({ err: errorMessage(err) }, "pump consumer failed");
    } finally {
      await Promise.allSettled(inflight.map((f) => f.done));
      ackSettled();
      clearInterval(renew);
      clearInterval(keepAlive);
      messages = null;
      await iter.close().catch(() => undefined);
    }
  }

  const loop = (async () => {
    while (!stopped) {
      let got = false;
      try {
        got = await lease.tryAcquire();
      } catch {
        got = false;
      }
      if (got && !stopped) {
        try {
          await session();
        } catch (err) {
          log.error({ err: errorMessage(err) }, "pump session failed");
        }
        if (stopped) break;
        // Give the lease up so that another node (or this one, freshly) takes over cleanly.
        await lease.release();
        await sleep(200);
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(200, Math.floor(d.leaseMs / 3)));
        wakeSleep = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wakeSleep = null;
    }
  })();

  return {
    stats,
    holding: () => lease.held && messages !== null,
    running: () => !stopped,
    async stop() {
      stopped = true;
      wakeSleep?.();
      await messages?.close().catch(() => undefined);
      await loop;
      await lease.release();
    },
  };
}
