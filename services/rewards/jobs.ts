/**
 * The rewards domain's jobs (I/O of the signup actor), run by the runtime's workers with
 * exponential backoff, a circuit breaker per system and node, and the signup deadline:
 *
 *   rwvalidate  POST {validators}/validators/{police|iddoc|business}/verify (the kind's validator)
 *   rwcatalog   the catalog entry of a charity or family (Postgres, filled by the catalog poller)
 *   rwidp       POST {idp}/idp/users: the user and credentials (idempotent by user id)
 *
 * 2xx: done. 5xx, 408/429, timeouts and network errors: retried. Other 4xx: a final refusal.
 */
import type { DomainJob } from "../../node/domain";
import type { JobRef } from "../../actors/refs";
import type { Pool } from "../../db";
import { RetryableError, TerminalError, errorMessage } from "../../lib/errors";
import { httpRequest, jsonOf, reasonOf } from "../../lib/http-client";
import { isRecord, type PartyKind } from "./model";
import { catalogJob, idpJob, validateJob } from "./signup.actor";
import type { RewardsConfig } from "./config";
import { createUserCatalogStore } from "./catalog";

/** What the jobs need from the node that runs them. */
export interface RewardJobDeps {
  readonly pg: Pool;
}

/** Which validator checks which kind (charities and families are checked against the catalogs too). */
export const VALIDATOR_OF: Readonly<Record<PartyKind, "police" | "iddoc" | "business">> = {
  officer: "police",
  civilian: "iddoc",
  merchant: "business",
  charity: "business",
  family: "iddoc",
};

async function postJson(
  system: string,
  url: string,
  body: unknown,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  let res;
  try {
    res = await httpRequest(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    throw new RetryableError(`${system} unreachable: ${signal.aborted ? "timeout" : errorMessage(err)}`);
  }
  if (res.status >= 200 && res.status < 300) {
    const v = jsonOf(res);
    return isRecord(v) ? v : {};
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
    throw new TerminalError(`${system} refused (${res.status}): ${reasonOf(res)}`);
  throw new RetryableError(`${system} answered ${res.status}: ${reasonOf(res)}`);
}

/** A rewards job: its code gets the job's data and the node's {@link RewardJobDeps}. */
export type RewardJob<D, R> = DomainJob<D, R, RewardJobDeps>;

/** The jobs, with their settings from `rc`. */
export function rewardJobs(
  rc: RewardsConfig,
): readonly [
  RewardJob<{ kind: PartyKind; document: string; name: string }, { valid: boolean; ref?: string; reason?: string }>,
  RewardJob<
    { kind: PartyKind; document: string },
    { found: boolean; provider?: string; id?: string; version?: number }
  >,
  RewardJob<{ userId: string; email: string; kind: PartyKind; name: string }, { subject: string }>,
] {
  const common = {
    concurrency: 16,
    timeoutMs: rc.callTimeoutMs,
    backoff: { baseMs: rc.backoffBaseMs, maxMs: rc.backoffMaxMs },
    breaker: { failures: 10, openMs: 2000 },
  };
  const job = <D, R>(ref: JobRef<D, R>, run: RewardJob<D, R>["run"]): RewardJob<D, R> => ({
    name: ref.name,
    ...common,
    run,
  });
  return [
    job(validateJob, async (d, ctx) => {
      const v = VALIDATOR_OF[d.kind];
      const r = await postJson(
        `${v} validator`,
        `${rc.validatorsUrl}/validators/${v}/verify`,
        { document: d.document, name: d.name },
        ctx.signal,
      );
      if (r["valid"] === true) return { valid: true, ref: typeof r["ref"] === "string" ? r["ref"] : "" };
      return {
        valid: false,
        reason: typeof r["reason"] === "string" ? r["reason"] : `${v} validator refused the document`,
      };
    }),
    job(catalogJob, async (d, _ctx, deps) => {
      const e = await createUserCatalogStore({ pg: deps.pg }).find(
        d.kind === "charity" ? "charity" : "family",
        d.document,
      );
      return e ? { found: true, provider: e.provider, id: e.id, version: e.version } : { found: false };
    }),
    job(idpJob, async (d, ctx) => {
      const r = await postJson("identity provider", `${rc.idpUrl}/idp/users`, d, ctx.signal);
      if (typeof r["subject"] !== "string") throw new RetryableError("identity provider answered no subject");
      return { subject: r["subject"] };
    }),
  ];
}
