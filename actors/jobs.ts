/**
 * Job workers: slow or unreliable I/O (external APIs, webhooks) runs here, never inside an
 * actor. Each job name has one durable consumer on the jobs stream shared by every node that
 * hosts it (work-queue: each job runs on one node at a time). A failing run is retried with
 * exponential backoff and jitter (`nak(delay)`) until its deadline; a circuit breaker per job
 * name stops calls to a service that keeps failing (jobs wait while it is open). The outcome returns to the actor that asked
 * (`replyTo`) as a {@link JobResult} message; a failed job without `replyTo` is dead-lettered.
 *
 * The consumer is opened through {@link OwnedConsumer} without a reset (it is shared, not owned):
 * when it is gone (lost in a meta-leader change or a whole-cluster restart) or its pull fails, the
 * worker backs off, creates it again if it is missing and goes on consuming. Before, such a worker
 * logged one error and never took a job again, and its jobs waited until the node restarted.
 */
import type { JsMsg, NatsHandles } from "../nats";
import type { Logger } from "../lib/logger";
import type { JobDefinition, JobEnvelope, JobResult } from "./types";
import { CircuitBreaker } from "./breaker";
import { ConsumerGoneError, OwnedConsumer, type OwnedConsumerSpec } from "../streams/owned-consumer";
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
  /** Times the consumer was opened again after it was lost. */
  reopened: number;
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

/** The server's bound on unacked messages of a job's consumer. */
export const JOB_MAX_ACK_PENDING = 20_000;

/** The durable consumer of a job (declared at provisioning, re-created by a worker that lost it). */
export function jobConsumerSpec(topology: Topology, def: JobDefinition): OwnedConsumerSpec {
  return {
    stream: topology.jobs.stream,
    durable: topology.jobs.consumer(def.name),
    filterSubject: topology.jobs.filter(def.name),
    ackWaitMs: jobAckWaitMs(def),
    maxAckPending: JOB_MAX_ACK_PENDING,
  };
}

/** Pause before a lost job consumer is opened again (ms); doubles up to the max. */
const REOPEN_MIN_MS = 250;
const REOPEN_MAX_MS = 5_000;

/** Runs one job kind on this node (see the module doc). */
export class JobWorker {
  readonly stats: JobStats = { succeeded: 0, failed: 0, retried: 0, shortCircuited: 0, reopened: 0 };
  readonly breaker: CircuitBreaker;
  private consumer: OwnedConsumer | null = null;
  private running = 0;
  private stopped = false;
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

  /** Starts consuming the job's durable consumer (it must exist: provisioning creates it). */
  async start(): Promise<void> {
    this.consumer = await this.open();
    this.loop = this.run(this.consumer);
  }

  /**
   * Opens the shared consumer as it is (creating it if missing), or with a reset after it was
   * found stalled (it exists but will not deliver what the stream holds: only a new one will).
   */
  private open(reset = false): Promise<OwnedConsumer> {
    return OwnedConsumer.open(this.io.h, jobConsumerSpec(this.io.topology, this.def), {
      reset,
      pullBatch: this.concurrency,
      maxInFlight: this.concurrency,
    });
  }

  /** Stops taking jobs and waits (up to `graceMs`) for running ones; the rest are redelivered. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.consumer?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (this.running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const ac of this.active) ac.abort();
  }

  /** Consumes until stopped, opening the consumer again whenever it is lost. */
  private async run(first: OwnedConsumer): Promise<void> {
    let consumer: OwnedConsumer | null = first;
    let pause = REOPEN_MIN_MS;
    let stalled = false;
    while (!this.stopped) {
      if (consumer) {
        try {
          for await (const msg of consumer) {
            if (this.stopped) break;
            pause = REOPEN_MIN_MS;
            this.running++;
            const held = consumer;
            void this.handle(msg).finally(() => {
              held.settle(msg);
              this.running--;
            });
          }
        } catch (err) {
          stalled = err instanceof ConsumerGoneError && err.stalled;
          if (!this.stopped)
            this.log.warn({ job: this.def.name, err: errorMessage(err) }, "job consumer lost; reopening");
        }
        await consumer.close();
        consumer = null;
      }
      if (this.stopped) break;
      await sleep(pause, this.stopping.signal);
      pause = Math.min(pause * 2, REOPEN_MAX_MS);
      if (this.stopped) break;
      try {
        consumer = this.consumer = await this.open(stalled);
        this.stats.reopened++;
        this.log.info({ job: this.def.name, reset: stalled }, "job consumer reopened");
        stalled = false;
      } catch (err) {
        this.log.warn({ job: this.def.name, err: errorMessage(err) }, "job consumer could not be reopened; retrying");
      }
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
