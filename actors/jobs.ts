/**
 * Job workers: slow or unreliable I/O (external APIs, webhooks) runs here, never inside an
 * actor. Each job name has one durable consumer on the jobs stream shared by every node that
 * hosts it (work-queue: each job runs on one node at a time). A failing run is retried with
 * exponential backoff and jitter (`nak(delay)`) until its deadline; a circuit breaker per job
 * name stops calls to a service that keeps failing (jobs wait while it is open). The outcome returns to the actor that asked
 * (`replyTo`) as a {@link JobResult} message; a failed job without `replyTo` is dead-lettered.
 */
import type { ConsumerMessages, JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { JobDefinition, JobEnvelope, JobResult } from "./types";
import { CircuitBreaker } from "./breaker";
import { PULL_EXPIRES_MS } from "../streams/owned-consumer";
import { backoffDelay } from "./backoff";
import { decodeJson, sleep } from "./codec";
import { RetryableError, TerminalError, errorMessage } from "../lib/errors";
import type { Topology } from "../streams/subjects";

/** What a job worker needs from the runtime. */
export interface JobIo {
  readonly h: NatsHandles;
  readonly topology: Topology;
  /** Sends a job's result to an actor (durably, with the given id). */
  sendResult(kind: string, key: string, result: JobResult, id: string): Promise<void>;
  /** Dead-letters a job message. */
  deadLetter(msg: JsMsg, error: string, attempts: number): Promise<void>;
}

/** Counters for metrics. */
export interface JobStats {
  succeeded: number;
  failed: number;
  retried: number;
  shortCircuited: number;
}

export const JOB_DEFAULTS = {
  concurrency: 32,
  timeoutMs: 10_000,
  deadlineMs: 24 * 3600_000,
  backoff: { baseMs: 200, maxMs: 30_000 },
  breaker: { failures: 5, openMs: 5_000 },
} as const;

/** The ack wait of a job's consumer: long enough for one run plus margin. */
export function jobAckWaitMs(def: JobDefinition): number {
  return Math.max(30_000, (def.timeoutMs ?? JOB_DEFAULTS.timeoutMs) * 2);
}

/** Runs one job kind on this node (see the module doc). */
export class JobWorker {
  readonly stats: JobStats = { succeeded: 0, failed: 0, retried: 0, shortCircuited: 0 };
  readonly breaker: CircuitBreaker;
  private messages: ConsumerMessages | null = null;
  private running = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly active = new Set<AbortController>();
  /** Aborted on stop: wakes jobs that wait for the breaker. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly def: JobDefinition,
    private readonly io: JobIo,
    private readonly log: Logger,
  ) {
    const b = def.breaker ?? JOB_DEFAULTS.breaker;
    this.breaker = new CircuitBreaker(b.failures, b.openMs);
  }

  private get concurrency(): number {
    return this.def.concurrency ?? JOB_DEFAULTS.concurrency;
  }

  /** Starts consuming the job's durable consumer. */
  async start(): Promise<void> {
    const consumer = await this.io.h.js.consumers.get(
      this.io.topology.jobs.stream,
      this.io.topology.jobs.consumer(this.def.name),
    );
    this.messages = await consumer.consume({ max_messages: this.concurrency, expires: PULL_EXPIRES_MS });
    this.loop = this.run(this.messages);
  }

  /** Stops taking jobs and waits (up to `graceMs`) for running ones; the rest are redelivered. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake?.();
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (this.running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const ac of this.active) ac.abort();
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        if (this.stopped) break;
        this.running++;
        void this.handle(msg).finally(() => {
          this.running--;
          this.wake?.();
        });
        while (!this.stopped && this.running >= this.concurrency) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
        }
      }
    } catch (err) {
      if (!this.stopped) this.log.error({ job: this.def.name, err: errorMessage(err) }, "job consumer failed");
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    let env: JobEnvelope;
    try {
      env = decodeJson<JobEnvelope>(msg.data);
    } catch (err) {
      await this.finishWithoutReply(msg, `undecodable job: ${errorMessage(err)}`, msg.info.deliveryCount);
      return;
    }
    const attempt = msg.info.deliveryCount;
    const now = Date.now();
    if (now >= env.deadline) {
      await this.finish(msg, env, { ok: false, error: "deadline exceeded", terminal: false, attempts: attempt - 1 });
      return;
    }
    // While the breaker is open, hold the job (and stop taking new ones: every slot waits here)
    // instead of nak'ing it, so that JetStream's delivery count, our attempt number, only
    // counts real calls and the backoff does not grow during an outage.
    for (let wait = this.breaker.acquire(); wait > 0; wait = this.breaker.acquire()) {
      this.stats.shortCircuited++;
      if (this.stopped) return; // unacked: redelivered after the ack wait, to this or another node
      if (Date.now() + wait >= env.deadline) {
        await this.finish(msg, env, {
          ok: false,
          error: "deadline exceeded while the service was failing (circuit open)",
          terminal: false,
          attempts: attempt - 1,
        });
        return;
      }
      await sleep(Math.min(wait + Math.round(Math.random() * 100), jobAckWaitMs(this.def) / 3), this.stopping.signal);
      if (!this.stopped) msg.working();
    }
    const ac = new AbortController();
    this.active.add(ac);
    const timeout = setTimeout(() => ac.abort(new Error("timeout")), this.def.timeoutMs ?? JOB_DEFAULTS.timeoutMs);
    const keepAlive = setInterval(() => msg.working(), jobAckWaitMs(this.def) / 3);
    try {
      const result = await this.def.run(env.data, { id: env.id, attempt, deadline: env.deadline, signal: ac.signal });
      this.breaker.success();
      this.stats.succeeded++;
      await this.finish(msg, env, { ok: true, result, attempts: attempt });
    } catch (err) {
      if (err instanceof TerminalError) {
        this.breaker.success(); // the service answered: it is up
        this.stats.failed++;
        await this.finish(msg, env, { ok: false, error: err.reason ?? err.message, terminal: true, attempts: attempt });
        return;
      }
      this.breaker.failure();
      const backoff = this.def.backoff ?? JOB_DEFAULTS.backoff;
      const delay =
        err instanceof RetryableError && err.retryAfterMs !== undefined
          ? err.retryAfterMs
          : backoffDelay(attempt, backoff.baseMs, backoff.maxMs);
      if (Date.now() + delay >= env.deadline) {
        this.stats.failed++;
        await this.finish(msg, env, {
          ok: false,
          error: `deadline exceeded; last error: ${errorMessage(err)}`,
          terminal: false,
          attempts: attempt,
        });
        return;
      }
      this.stats.retried++;
      this.log.debug(
        { job: this.def.name, id: env.id, attempt, delay, err: errorMessage(err) },
        "job failed; retrying",
      );
      msg.nak(delay);
    } finally {
      clearTimeout(timeout);
      clearInterval(keepAlive);
      this.active.delete(ac);
    }
  }

  private async finish(msg: JsMsg, env: JobEnvelope, outcome: Omit<JobResult["$job"], "id" | "job">): Promise<void> {
    if (!env.replyTo) {
      if (outcome.ok) msg.ack();
      else await this.finishWithoutReply(msg, outcome.error ?? "failed", outcome.attempts);
      return;
    }
    const result: JobResult = { $job: { id: env.id, job: env.job, ...outcome } };
    try {
      await this.io.sendResult(env.replyTo.kind, env.replyTo.key, result, `${env.id}:result`);
      msg.ack();
    } catch (err) {
      // The result did not reach the actor: leave the job to be redelivered (the service call is
      // idempotent by contract, and the result id dedupes a second send).
      this.log.warn({ job: this.def.name, id: env.id, err: errorMessage(err) }, "job result send failed; will retry");
      msg.nak(1000);
    }
  }

  private async finishWithoutReply(msg: JsMsg, error: string, attempts: number): Promise<void> {
    try {
      await this.io.deadLetter(msg, error, attempts);
      msg.ack();
    } catch (err) {
      this.log.error({ job: this.def.name, err: errorMessage(err) }, "job dead letter failed; will retry");
      msg.nak(1000);
    }
  }
}
