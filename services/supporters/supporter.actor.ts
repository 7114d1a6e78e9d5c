/**
 * The supporter actor: one per identity hash. A pure state machine
 * `(state, message) -> { state, effects }` that delivers each of the supporter's messages to
 * the user service (step 1: the identity) and then to the ERP service (step 2: the events),
 * in arrival order, whatever the downstreams do.
 *
 * The actor keeps its own queue of undelivered items (messages and forget requests) and two
 * lanes, one per downstream, each with at most one job in flight:
 *
 *   user lane: items in queue order; a message's identity write (job supuser), a forget's
 *              erase call (job supforget)
 *   ERP lane:  messages in queue order; message k's events (job superp) once message k's user
 *              step is done, so the ERP lane may trail the user lane but never passes it
 *
 * A downstream outage only makes this supporter's lane wait: the job retries with backoff behind
 * the downstream's circuit breaker, other supporters (and this supporter's other lane, where
 * order allows) go on. A job that outlives its deadline is issued again with the same
 * idempotency key: nothing is dropped, however long the outage (and a job that never answers,
 * its job message or result lost, is issued again just past its deadline: by the supporter's
 * next message, or by the wake-up its host gives it then, see `supporterWakeAt`). A refusal (4xx) parks the
 * message in the DLQ (`{ns}.dlq.supporters.{hash}`, with the runtime's DLQ headers, so
 * `dlq-list` / `dlq-replay` work) and the next message goes.
 *
 * Personal data only ever appears sealed with the supporter's data key. A forget request
 * arrives after the pump deleted that key: the actor blanks every sealed blob it holds, marks
 * undelivered steps "erased", and queues an erase call to the user service behind any identity
 * write still in flight (so the erase is the last thing the user service hears).
 */
import type { ActorKind, ActorMessage, Effect, HandlerContext, HandlerResult, JobResult } from "../../actors/types";
import { isJobResult, isWake } from "../../actors/types";
import { defineKind } from "../../actors/refs";
import { DlqHeaders, REPLAYED_FROM_HEADER } from "../../actors/dlq-headers";
import { TerminalError } from "../../lib/errors";
import {
  erpJob,
  forgetJob,
  isRecord,
  isSource,
  userJob,
  type AttemptReport,
  type DeliveryResult,
  type ErpJobData,
  type ForgetCommand,
  type ForgetJobData,
  type IntakeMessage,
  type LogRecord,
  type Source,
  type Step,
  type StepOutcome,
  type SupporterCommand,
  type SupporterMessage,
  type UserJobData,
} from "./model";
import { redact } from "./seal";

/** Where one step of one message stands. */
export type StepState = "pending" | "done" | "erased" | "none";

/** A message waiting for (or in) delivery. */
export interface QueuedMessage {
  readonly kind: "msg";
  readonly id: string;
  readonly source: Source;
  /** Intake stream sequence (arrival order). */
  readonly seq: number;
  /** Mailbox sequence when the actor took it (for dead-letter headers). */
  readonly mseq: number;
  readonly receivedAt: number;
  readonly kid: string;
  /** Sealed identity; "" once erased. */
  readonly identity: string;
  /** Sealed events; null when none or erased. */
  readonly events: string | null;
  readonly types: readonly string[];
  readonly user: StepState;
  readonly erp: StepState;
  /** The DLQ sequence this message was replayed from (fresh idempotency keys), else null. */
  readonly replay: string | null;
  /** Who sent it (tenancy; see IntakeMessage.client); absent on messages from before owners. */
  readonly client?: string;
}

/** A forget request in the user lane. */
export interface QueuedForget {
  readonly kind: "forget";
  readonly id: string;
  readonly seq: number;
  readonly mseq: number;
  readonly at: number;
  readonly by: string;
  readonly done: boolean;
}

export type QueueItem = QueuedMessage | QueuedForget;

/** One downstream lane: at most one job in flight. */
export interface Lane {
  /** The job in flight (its id), or null when idle. */
  readonly job: string | null;
  /** The queue item the job is for. */
  readonly item: string | null;
  /** When the job was issued. */
  readonly since: number | null;
  /** Attempts reported by the job so far. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
}

/** A message (or forget) parked in the DLQ. */
export interface ParkedRef {
  readonly id: string;
  /** The parked message's owner (absent for forgets and older entries). */
  readonly client?: string;
  readonly step: Step;
  readonly reason: string;
  readonly at: number;
}

/** Counters of one supporter. */
export interface SupporterCounts {
  readonly received: number;
  readonly userDelivered: number;
  readonly erpDelivered: number;
  readonly parked: number;
  readonly duplicates: number;
  readonly erased: number;
  readonly forgets: number;
  readonly reissued: number;
}

/** The actor's state (KV). */
export interface SupporterState {
  readonly hash: string;
  readonly queue: readonly QueueItem[];
  readonly lanes: { readonly user: Lane; readonly erp: Lane };
  /** Ids of recently completed messages (duplicates of them are ignored). */
  readonly recent: readonly string[];
  /** The last parked items (newest last). */
  readonly parked: readonly ParkedRef[];
  readonly counts: SupporterCounts;
  /** Jobs issued so far (job ids are `{hash}.{u|e|f}{n}`). */
  readonly jobSeq: number;
  readonly firstAt: number | null;
  readonly lastAt: number | null;
  readonly forgottenAt: number | null;
}

/** What the kind needs from its node. */
export interface SupporterActorOptions {
  /** Mailbox subject of a supporter (dead letters name it, so a replay comes back here). */
  mailboxSubject(hash: string): string;
  readonly mailboxStream: string;
  dlqSubject(hash: string): string;
  logSubject(hash: string): string;
  readonly maxQueue: number;
  readonly maxQueueBytes: number;
  readonly jobDeadlineMs: number;
  readonly partitions?: number;
}

const RECENT = 64;
const PARKED = 20;

const IDLE: Lane = { job: null, item: null, since: null, attempts: 0, lastError: null, lastErrorAt: null };

/** The state of a supporter never seen. */
export function initialSupporterState(hash: string): SupporterState {
  return {
    hash,
    queue: [],
    lanes: { user: IDLE, erp: IDLE },
    recent: [],
    parked: [],
    counts: {
      received: 0,
      userDelivered: 0,
      erpDelivered: 0,
      parked: 0,
      duplicates: 0,
      erased: 0,
      forgets: 0,
      reissued: 0,
    },
    jobSeq: 0,
    firstAt: null,
    lastAt: null,
    forgottenAt: null,
  };
}

/** Bytes of sealed payload a queue holds. */
export function queueBytes(queue: readonly QueueItem[]): number {
  let n = 0;
  for (const i of queue) if (i.kind === "msg") n += i.identity.length + (i.events?.length ?? 0);
  return n;
}

function isIntake(d: Record<string, unknown>): d is Record<string, unknown> & IntakeMessage {
  return (
    d["t"] === "msg" &&
    typeof d["id"] === "string" &&
    isSource(d["source"]) &&
    typeof d["seq"] === "number" &&
    typeof d["receivedAt"] === "number" &&
    typeof d["kid"] === "string" &&
    typeof d["identity"] === "string" &&
    (d["events"] === null || typeof d["events"] === "string") &&
    Array.isArray(d["types"]) &&
    (d["from"] === undefined || d["from"] === "user" || d["from"] === "erp") &&
    (d["client"] === undefined || typeof d["client"] === "string")
  );
}

function isForget(d: Record<string, unknown>): d is Record<string, unknown> & ForgetCommand {
  return (
    d["t"] === "forget" &&
    typeof d["id"] === "string" &&
    typeof d["at"] === "number" &&
    typeof d["by"] === "string" &&
    typeof d["seq"] === "number"
  );
}

function isAttempt(d: Record<string, unknown>): d is Record<string, unknown> & AttemptReport {
  return (
    d["t"] === "attempt" &&
    typeof d["job"] === "string" &&
    typeof d["attempt"] === "number" &&
    typeof d["error"] === "string" &&
    typeof d["at"] === "number"
  );
}

/** The command a mailbox message carries (whatever was published there: checked, never trusted). */
function asCommand(data: unknown): SupporterCommand {
  if (!isRecord(data)) throw new TerminalError("supporter message must be an object");
  if (isIntake(data) || isForget(data) || isAttempt(data)) return data;
  throw new TerminalError("not a supporter message");
}

/** True when `m` is the result of one of the supporter's delivery jobs. */
function isDeliveryResult(m: unknown): m is JobResult<DeliveryResult> {
  return userJob.isResult(m) || erpJob.isResult(m) || forgetJob.isResult(m);
}

/** A mutable working copy for one handler call. */
interface Work {
  s: SupporterState;
  effects: Effect[];
}

function log(w: Work, o: SupporterActorOptions, rec: LogRecord): void {
  w.effects.push({ type: "publish", subject: o.logSubject(w.s.hash), data: rec });
}

function setItem(w: Work, id: string, patch: Partial<QueuedMessage> | Partial<QueuedForget>): void {
  w.s = { ...w.s, queue: w.s.queue.map((i) => (i.id === id ? ({ ...i, ...patch } as QueueItem) : i)) };
}

function setLane(w: Work, step: Step, lane: Lane): void {
  w.s = { ...w.s, lanes: { ...w.s.lanes, [step]: lane } };
}

function count(w: Work, patch: Partial<Record<keyof SupporterCounts, number>>): void {
  const c: Record<string, number> = { ...w.s.counts };
  for (const [k, v] of Object.entries(patch)) c[k] = (c[k] ?? 0) + (v ?? 0);
  w.s = { ...w.s, counts: c as unknown as SupporterCounts };
}

/** The message as it was handed to the actor, for a dead letter (a replay comes back as it). */
function asIntake(m: QueuedMessage, from: Step | undefined): IntakeMessage {
  return {
    t: "msg",
    id: m.id,
    source: m.source,
    seq: m.seq,
    receivedAt: m.receivedAt,
    kid: m.kid,
    identity: m.identity,
    events: m.events,
    types: m.types,
    ...(from ? { from } : {}),
    ...(m.client !== undefined ? { client: m.client } : {}),
  };
}

/** Parks `item` in the DLQ with `reason` and takes it off the queue. */
function park(
  w: Work,
  o: SupporterActorOptions,
  ctx: HandlerContext,
  item: QueueItem,
  step: Step,
  reason: string,
  attempts: number,
  status: StepOutcome,
): void {
  const why = redact(reason);
  const data: IntakeMessage | ForgetCommand =
    item.kind === "msg"
      ? asIntake(item, step === "erp" ? "erp" : undefined)
      : { t: "forget", id: item.id, seq: item.seq, at: item.at, by: item.by };
  w.effects.push({
    type: "publish",
    subject: o.dlqSubject(w.s.hash),
    data,
    headers: {
      [DlqHeaders.Error]: `${step} service: ${why}`,
      [DlqHeaders.Attempts]: String(Math.max(1, attempts)),
      [DlqHeaders.Deliveries]: "1",
      [DlqHeaders.Subject]: o.mailboxSubject(w.s.hash),
      [DlqHeaders.Stream]: o.mailboxStream,
      [DlqHeaders.Seq]: String(item.mseq),
      [DlqHeaders.At]: new Date(ctx.now).toISOString(),
    },
  });
  w.s = {
    ...w.s,
    queue: w.s.queue.filter((i) => i.id !== item.id),
    parked: [
      ...w.s.parked,
      {
        id: item.id,
        step,
        reason: why,
        at: ctx.now,
        ...(item.kind === "msg" && item.client !== undefined ? { client: item.client } : {}),
      },
    ].slice(-PARKED),
  };
  count(w, { parked: 1 });
  if (item.kind === "msg") {
    log(w, o, { k: "step", hash: w.s.hash, id: item.id, step, status, at: ctx.now, reason: why });
    // Step 2 of a message parked at step 1 will not happen either (until a replay).
    if (step === "user" && item.erp !== "none")
      log(w, o, { k: "step", hash: w.s.hash, id: item.id, step: "erp", status, at: ctx.now, reason: why });
  }
}

function onMessage(w: Work, o: SupporterActorOptions, ctx: HandlerContext, m: IntakeMessage, msg: ActorMessage): void {
  const replay = msg.headers[REPLAYED_FROM_HEADER] ?? null;
  const queued = w.s.queue.some((i) => i.id === m.id);
  if (queued || (replay === null && w.s.recent.includes(m.id))) {
    count(w, { duplicates: 1 });
    return;
  }
  const item: QueuedMessage = {
    kind: "msg",
    id: m.id,
    source: m.source,
    seq: m.seq,
    mseq: msg.seq,
    receivedAt: m.receivedAt,
    kid: m.kid,
    identity: m.identity,
    events: m.events,
    types: m.types,
    user: m.from === "erp" ? "done" : "pending",
    erp: m.events === null ? "none" : "pending",
    replay,
    ...(m.client !== undefined ? { client: m.client } : {}),
  };
  w.s = { ...w.s, firstAt: w.s.firstAt ?? m.receivedAt, lastAt: m.receivedAt };
  count(w, { received: 1 });
  const msgs = w.s.queue.filter((i) => i.kind === "msg").length;
  const bytes = queueBytes(w.s.queue) + m.identity.length + (m.events?.length ?? 0);
  if (msgs >= o.maxQueue || bytes > o.maxQueueBytes) {
    // Bounded state: the overflow waits in the DLQ (replayable), it is never dropped.
    park(w, o, ctx, item, "user", `supporter backlog full (${msgs} messages, ${bytes} bytes undelivered)`, 0, "parked");
    return;
  }
  w.s = { ...w.s, queue: [...w.s.queue, item] };
}

function onForget(w: Work, f: ForgetCommand, msg: ActorMessage): void {
  if (w.s.queue.some((i) => i.id === f.id)) {
    count(w, { duplicates: 1 });
    return;
  }
  let erased = 0;
  const queue = w.s.queue.map((i): QueueItem => {
    if (i.kind !== "msg") return i;
    const userInFlight = w.s.lanes.user.item === i.id;
    const erpInFlight = w.s.lanes.erp.item === i.id;
    const user: StepState = i.user === "pending" && !userInFlight ? "erased" : i.user;
    const erp: StepState = i.erp === "pending" && !erpInFlight ? "erased" : i.erp;
    if (user !== i.user || erp !== i.erp) erased++;
    return { ...i, identity: "", events: null, user, erp };
  });
  const item: QueuedForget = { kind: "forget", id: f.id, seq: f.seq, mseq: msg.seq, at: f.at, by: f.by, done: false };
  w.s = { ...w.s, queue: [...queue, item], forgottenAt: f.at };
  count(w, { erased, forgets: 1 });
}

function onAttempt(w: Work, r: AttemptReport): void {
  for (const step of ["user", "erp"] as const) {
    const lane = w.s.lanes[step];
    if (lane.job === r.job && r.attempt >= lane.attempts)
      setLane(w, step, { ...lane, attempts: r.attempt, lastError: redact(r.error), lastErrorAt: r.at });
  }
}

function onResult(w: Work, o: SupporterActorOptions, ctx: HandlerContext, res: JobResult<DeliveryResult>): void {
  const r = res.$job;
  const step: Step | undefined = w.s.lanes.user.job === r.id ? "user" : w.s.lanes.erp.job === r.id ? "erp" : undefined;
  if (!step) return; // a late duplicate of a result already applied
  const lane = w.s.lanes[step];
  const item = w.s.queue.find((i) => i.id === lane.item);
  setLane(w, step, IDLE);
  if (!item) return;
  if (r.ok) {
    const out = r.result;
    if (item.kind === "forget") {
      setItem(w, item.id, { done: true });
      return;
    }
    const erased = out !== undefined && "erased" in out && out.erased === true;
    if (step === "user") {
      setItem(
        w,
        item.id,
        erased
          ? { user: "erased", erp: item.erp === "none" ? "none" : "erased", identity: "", events: null }
          : { user: "done", identity: "" },
      );
      count(w, erased ? { erased: 1 } : { userDelivered: 1 });
    } else {
      setItem(w, item.id, erased ? { erp: "erased", events: null } : { erp: "done", events: null });
      count(w, erased ? { erased: 1 } : { erpDelivered: 1 });
    }
    log(w, o, {
      k: "step",
      hash: w.s.hash,
      id: item.id,
      step,
      status: erased ? "erased" : "delivered",
      at: ctx.now,
      reason: null,
    });
    if (erased && step === "user" && item.erp !== "none")
      log(w, o, { k: "step", hash: w.s.hash, id: item.id, step: "erp", status: "erased", at: ctx.now, reason: null });
    return;
  }
  if (r.terminal) {
    park(w, o, ctx, item, step, r.error ?? "refused", r.attempts, "refused");
    return;
  }
  // The job's deadline passed (the downstream stayed down): issue it again, same idempotency key.
  setLane(w, step, {
    ...IDLE,
    attempts: r.attempts,
    lastError: redact(r.error ?? "deadline exceeded"),
    lastErrorAt: ctx.now,
  });
  count(w, { reissued: 1 });
}

function jobId(w: Work, letter: string): string {
  const n = w.s.jobSeq + 1;
  w.s = { ...w.s, jobSeq: n };
  return `${w.s.hash}.${letter}${n}`;
}

function idemKey(hash: string, m: QueuedMessage): string {
  return m.replay === null ? `${hash}:${m.id}` : `${hash}:${m.id}:r${m.replay}`;
}

/**
 * Frees a lane whose job is past its deadline without any result: its job message is gone (a
 * standby promoted from copies that never held it, acked writes lost with every replica), so
 * no worker will ever answer, not even "deadline exceeded". Past the deadline no worker starts
 * the old job, so issuing it again (same idempotency key, new job id) cannot run it twice at
 * once; a late result of the old one is ignored as a duplicate.
 */
function expireLostJobs(w: Work, o: SupporterActorOptions, ctx: HandlerContext): void {
  for (const step of ["user", "erp"] as const) {
    const lane = w.s.lanes[step];
    if (lane.job === null || lane.since === null || ctx.now - lane.since <= o.jobDeadlineMs) continue;
    setLane(w, step, {
      ...IDLE,
      attempts: lane.attempts,
      lastError: "no result by the job's deadline (job lost); issued again",
      lastErrorAt: ctx.now,
    });
    count(w, { reissued: 1 });
  }
}

/** Prunes settled items and gives each idle lane its next job. */
function advance(w: Work, o: SupporterActorOptions, ctx: HandlerContext): void {
  expireLostJobs(w, o, ctx);
  // A message whose sealed data is gone (forgotten) has nothing left to send.
  for (const i of w.s.queue) {
    if (i.kind !== "msg") continue;
    if (i.user === "pending" && i.identity === "" && w.s.lanes.user.item !== i.id)
      setItem(w, i.id, { user: "erased", erp: i.erp === "pending" ? "erased" : i.erp });
  }
  for (const i of w.s.queue) {
    if (i.kind === "msg" && i.erp === "pending" && i.events === null && w.s.lanes.erp.item !== i.id)
      setItem(w, i.id, { erp: "erased" });
  }
  const settled = (i: QueueItem): boolean =>
    i.kind === "forget" ? i.done : i.user !== "pending" && i.erp !== "pending";
  const done = w.s.queue.filter(settled);
  if (done.length > 0) {
    const ids = done.filter((i) => i.kind === "msg").map((i) => i.id);
    w.s = { ...w.s, queue: w.s.queue.filter((i) => !settled(i)), recent: [...w.s.recent, ...ids].slice(-RECENT) };
  }

  if (w.s.lanes.user.job === null) {
    const next = w.s.queue.find((i) => (i.kind === "forget" ? !i.done : i.user === "pending"));
    if (next?.kind === "forget") {
      const id = jobId(w, "f");
      const data: ForgetJobData = { hash: w.s.hash, key: `${w.s.hash}:forget:${next.id}` };
      w.effects.push(forgetJob.effect(data, { id, deadlineMs: o.jobDeadlineMs }));
      setLane(w, "user", { ...w.s.lanes.user, job: id, item: next.id, since: ctx.now });
    } else if (next) {
      const id = jobId(w, "u");
      const data: UserJobData = {
        hash: w.s.hash,
        id: next.id,
        source: next.source,
        receivedAt: next.receivedAt,
        kid: next.kid,
        identity: next.identity,
        key: idemKey(w.s.hash, next),
      };
      w.effects.push(userJob.effect(data, { id, deadlineMs: o.jobDeadlineMs }));
      setLane(w, "user", { ...w.s.lanes.user, job: id, item: next.id, since: ctx.now });
    }
  }

  if (w.s.lanes.erp.job === null) {
    const next = w.s.queue.find((i): i is QueuedMessage => i.kind === "msg" && i.erp === "pending");
    // Step 2 of a message waits for its step 1; later messages wait behind it (ERP order).
    if (next && next.user === "done" && next.events !== null) {
      const id = jobId(w, "e");
      const data: ErpJobData = {
        hash: w.s.hash,
        id: next.id,
        source: next.source,
        receivedAt: next.receivedAt,
        kid: next.kid,
        events: next.events,
        key: idemKey(w.s.hash, next),
      };
      w.effects.push(erpJob.effect(data, { id, deadlineMs: o.jobDeadlineMs }));
      setLane(w, "erp", { ...w.s.lanes.erp, job: id, item: next.id, since: ctx.now });
    }
  }
}

/**
 * The pure handler (exported for tests). It takes any mailbox message: whatever was published
 * to a mailbox is checked here, and anything but a command or a delivery result is refused.
 */
export function handleSupporter(
  o: SupporterActorOptions,
  state: SupporterState,
  msg: ActorMessage,
  ctx: HandlerContext,
): HandlerResult<SupporterState> {
  const w: Work = { s: state, effects: [] };
  const d = msg.data;
  if (isDeliveryResult(d)) {
    onResult(w, o, ctx, d);
  } else if (isWake(d)) {
    // a lane's job is past its deadline with no result (supporterWakeAt): advance re-issues it
  } else if (isJobResult(d)) {
    // The result of no delivery job of this supporter's: nothing to apply (as a late duplicate).
  } else {
    const c = asCommand(d);
    if (c.t === "msg") onMessage(w, o, ctx, c, msg);
    else if (c.t === "forget") onForget(w, c, msg);
    else onAttempt(w, c);
  }
  advance(w, o, ctx);
  return { state: w.s, effects: w.effects };
}

/**
 * When a supporter with a job in flight wants to be woken although no message comes: just past
 * the job's deadline, when `expireLostJobs` issues it again (same idempotency key) if its result
 * never came. Without it, a lane whose job or result was lost (a standby promoted from copies
 * that never held them) waited for the supporter's next message, forever if none came. Null when
 * both lanes are idle.
 */
export function supporterWakeAt(o: Pick<SupporterActorOptions, "jobDeadlineMs">, state: SupporterState): number | null {
  let at: number | null = null;
  for (const lane of [state.lanes.user, state.lanes.erp]) {
    if (lane.job === null || lane.since === null) continue;
    const due = lane.since + o.jobDeadlineMs + WAKE_MARGIN_MS;
    at = at === null ? due : Math.min(at, due);
  }
  return at;
}

/** How long after a job's deadline its supporter is woken (the worker's own answer comes first). */
const WAKE_MARGIN_MS = 1000;

/**
 * The supporter kind's typed reference (key: the identity hash): `supporter.on(runtime)` sends
 * and reads state, `supporter.send(...)` is a send effect. The name is a subject token of stored
 * streams: never rename it.
 */
export const supporter = defineKind<SupporterState, SupporterMessage>("supporter");

/** The supporter actor kind. */
export function supporterKind(o: SupporterActorOptions): ActorKind<SupporterState, SupporterMessage> {
  return supporter.implement({
    ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
    initialState: (key) => initialSupporterState(key),
    handle: (state, msg, ctx) => handleSupporter(o, state, msg, ctx),
    wakeAt: (state) => supporterWakeAt(o, state),
    // The handler only throws on malformed messages (TerminalError: straight to the DLQ).
    retry: { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 2000 },
  });
}
