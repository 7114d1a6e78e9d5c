/**
 * Local jobs (as Temporal's local activities): a job an actor asked for with `local: true` runs
 * on the actor's own node, right after the state write that records it as pending, and its
 * outcome is folded into the actor's next state write. No job message, no result message, no
 * deliveries: the state bucket is the journal. The host (host.ts) keeps the pending jobs in the
 * stored state and holds the mailbox messages it handled unacked until none is pending, so a new
 * owner gets one of them again, loads the state and re-issues the pending jobs (the job is
 * idempotent by its id, as every job is).
 *
 * One try here. What needs patience goes to the jobs stream as an ordinary job (the same
 * envelope and id, so the job worker's backoff, breaker and deadline take over and its result
 * comes back through the mailbox): a retryable failure, an open breaker, a job not hosted on
 * this node.
 */
import type { JobDefinition, JobEnvelope, JobResult } from "./types";
import type { CircuitBreaker } from "./breaker";
import { JOB_DEFAULTS } from "./jobs";
import { TerminalError, errorMessage } from "../lib/errors";

/** How one local run ended: a result for the actor, or the job goes to the jobs stream. */
export type LocalJobOutcome = { readonly result: JobResult } | { readonly escalate: string };

/** Counters of local runs, per job name. */
export interface LocalJobStats {
  localSucceeded: number;
  localFailed: number;
  localEscalated: number;
}

/** Waiting runs per job name beyond its slots; more than this go to the jobs stream at once. */
const MAX_WAITING_FACTOR = 8;

/** Runs local jobs on this node: a slot limit per job name (its concurrency), its breaker, its timeout. */
export class LocalJobs {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  readonly stats = new Map<string, LocalJobStats>();

  constructor(
    private readonly def: (job: string) => JobDefinition | undefined,
    private readonly breaker: (job: string) => CircuitBreaker | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  private statsOf(job: string): LocalJobStats {
    let s = this.stats.get(job);
    if (!s) this.stats.set(job, (s = { localSucceeded: 0, localFailed: 0, localEscalated: 0 }));
    return s;
  }

  /** Runs `env` once here; never rejects. */
  async run(env: JobEnvelope): Promise<LocalJobOutcome> {
    const def = this.def(env.job);
    const stats = this.statsOf(env.job);
    const escalate = (why: string): LocalJobOutcome => {
      stats.localEscalated++;
      return { escalate: why };
    };
    if (!def) return escalate("job not hosted on this node");
    if (this.now() >= env.deadline) {
      stats.localFailed++;
      return {
        result: {
          $job: { id: env.id, job: env.job, ok: false, error: "deadline exceeded", terminal: false, attempts: 0 },
        },
      };
    }
    const concurrency = def.concurrency ?? JOB_DEFAULTS.concurrency;
    if (!(await this.slot(env.job, concurrency))) return escalate("local slots full");
    try {
      const breaker = this.breaker(env.job);
      if (breaker && breaker.acquire() > 0) return escalate("circuit open");
      const ac = new AbortController();
      const timeout = setTimeout(() => ac.abort(new Error("timeout")), def.timeoutMs ?? JOB_DEFAULTS.timeoutMs);
      try {
        const result = await def.run(env.data, { id: env.id, attempt: 1, deadline: env.deadline, signal: ac.signal });
        breaker?.success();
        stats.localSucceeded++;
        return { result: { $job: { id: env.id, job: env.job, ok: true, result, attempts: 1 } } };
      } catch (err) {
        if (err instanceof TerminalError) {
          breaker?.success(); // the service answered: it is up
          stats.localFailed++;
          return {
            result: {
              $job: {
                id: env.id,
                job: env.job,
                ok: false,
                error: err.reason ?? err.message,
                terminal: true,
                attempts: 1,
              },
            },
          };
        }
        breaker?.failure();
        return escalate(errorMessage(err));
      } finally {
        clearTimeout(timeout);
      }
    } finally {
      this.release(env.job);
    }
  }

  /** Takes a slot of `job` (waiting if all are taken); false when too many already wait. */
  private async slot(job: string, concurrency: number): Promise<boolean> {
    const n = this.running.get(job) ?? 0;
    if (n < concurrency) {
      this.running.set(job, n + 1);
      return true;
    }
    let queue = this.waiting.get(job);
    if (!queue) this.waiting.set(job, (queue = []));
    if (queue.length >= concurrency * MAX_WAITING_FACTOR) return false;
    await new Promise<void>((resolve) => queue.push(resolve));
    return true; // the slot was handed over by release
  }

  private release(job: string): void {
    const next = this.waiting.get(job)?.shift();
    if (next)
      next(); // hand the slot over
    else this.running.set(job, (this.running.get(job) ?? 1) - 1);
  }
}
