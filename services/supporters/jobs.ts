/**
 * The supporters domain's jobs (run by the runtime's workers with exponential backoff capped at
 * SUPPORTERS_BACKOFF_MAX_MS, a circuit breaker per downstream and node, and a long deadline
 * after which the supporter actor issues the job again):
 *
 *   supuser    step 1: open the sealed identity, PUT it to the user service
 *   superp     step 2: open the sealed events, POST them to the ERP service
 *   supforget  erase a forgotten supporter at the user service
 *
 * A delivery whose data key is gone (the supporter was forgotten meanwhile) sends nothing and
 * answers `{ erased: true }`. Failed attempts 1, 2, 4, 8, ... are reported to the actor (best
 * effort) so operators see the last error while it retries.
 */
import type { Config } from "../../config";
import type { ActorRuntime, JobContext } from "../../actors/types";
import type { JobRef } from "../../actors/refs";
import type { DomainJob } from "../../node/domain";
import { TerminalError, errorMessage } from "../../lib/errors";
import {
  erpJob,
  forgetJob,
  userJob,
  type AttemptReport,
  type DeliveryResult,
  type ErpJobData,
  type ForgetJobData,
  type UserJobData,
} from "./model";
import { supporter } from "./supporter.actor";
import type { KeyStore } from "./keys";
import { openJson, redact } from "./seal";
import { eraseUser, postEvents, putUser } from "./downstream";
import type { SupporterMetrics } from "./metrics";

/** What the jobs need from the node that runs them: what the domain's `start` returned. */
export interface SupporterJobDeps {
  readonly keys: KeyStore;
  readonly runtime: ActorRuntime;
  /** Delivery counters and timings (metrics.ts). */
  readonly metrics: SupporterMetrics;
}

/** A supporters job: its code gets the job's data and the node's {@link SupporterJobDeps}. */
export type SupporterJob<D, R> = DomainJob<D, R, SupporterJobDeps>;

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

async function reporting<R>(deps: SupporterJobDeps, hash: string, ctx: JobContext, run: () => Promise<R>): Promise<R> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof TerminalError) && isPowerOfTwo(ctx.attempt)) {
      const report: AttemptReport = {
        t: "attempt",
        job: ctx.id,
        attempt: ctx.attempt,
        error: redact(errorMessage(err)),
        at: Date.now(),
      };
      await supporter
        .on(deps.runtime)
        .send(hash, report, { id: `${ctx.id}:a${ctx.attempt}` })
        .catch(() => undefined);
    }
    throw err;
  }
}

/** Opens a sealed blob, or undefined when the supporter's key is gone (forgotten). */
async function opened(keys: KeyStore, hash: string, kid: string, sealed: string): Promise<unknown> {
  const dk = await keys.find(hash);
  if (!dk || dk.kid !== kid || sealed === "") return undefined;
  try {
    return openJson(dk, hash, sealed);
  } catch (err) {
    throw new TerminalError(`sealed data cannot be opened: ${errorMessage(err)}`);
  }
}

/** The jobs of the supporters domain (their settings from `config`, their connections from `start`). */
export function supporterJobs(
  config: Config,
): readonly [
  SupporterJob<UserJobData, DeliveryResult>,
  SupporterJob<ErpJobData, DeliveryResult>,
  SupporterJob<ForgetJobData, DeliveryResult>,
] {
  const sc = config.supporters;
  const common = {
    concurrency: sc.jobConcurrency,
    timeoutMs: sc.callTimeoutMs,
    deadlineMs: sc.jobDeadlineMs,
    backoff: { baseMs: sc.backoffBaseMs, maxMs: sc.backoffMaxMs },
    breaker: { failures: sc.breakerFailures, openMs: sc.breakerOpenMs },
  };
  const job = <D, R>(ref: JobRef<D, R>, run: SupporterJob<D, R>["run"]): SupporterJob<D, R> => ({
    name: ref.name,
    ...common,
    run,
  });
  const user = job(userJob, (data, ctx, d) =>
    reporting(d, data.hash, ctx, () =>
      d.metrics.observe("user", async () => {
        const identity = await opened(d.keys, data.hash, data.kid, data.identity);
        if (identity === undefined) return { erased: true } as const;
        const r = await putUser(
          sc.userServiceUrl,
          {
            hash: data.hash,
            key: data.key,
            messageId: data.id,
            source: data.source,
            receivedAt: data.receivedAt,
            identity,
          },
          ctx.signal,
        );
        return { ok: true, ...(typeof r["userId"] === "string" ? { ref: r["userId"] } : {}) } as const;
      }),
    ),
  );
  const erp = job(erpJob, (data, ctx, d) =>
    reporting(d, data.hash, ctx, () =>
      d.metrics.observe("erp", async () => {
        const events = await opened(d.keys, data.hash, data.kid, data.events);
        if (events === undefined) return { erased: true } as const;
        const r = await postEvents(
          sc.erpServiceUrl,
          {
            hash: data.hash,
            key: data.key,
            messageId: data.id,
            source: data.source,
            receivedAt: data.receivedAt,
            events,
          },
          ctx.signal,
        );
        return { ok: true, ...(typeof r["ref"] === "string" ? { ref: r["ref"] } : {}) } as const;
      }),
    ),
  );
  const forget = job(forgetJob, (data, ctx, d) =>
    reporting(d, data.hash, ctx, () =>
      d.metrics.observe("user_erase", async () => {
        await eraseUser(sc.userServiceUrl, { hash: data.hash, key: data.key }, ctx.signal);
        return { ok: true } as const;
      }),
    ),
  );
  return [user, erp, forget];
}
