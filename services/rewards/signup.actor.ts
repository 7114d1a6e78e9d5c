/**
 * The signup actor: one per signup, a durable onboarding process whose state (KV
 * `{ns}_state_signup`) is its status, readable at any time.
 *
 *   validating  the ID validator of the entity's kind checks its document (job `rwvalidate`)
 *   checking    charities and families: the user catalogs must list them (job `rwcatalog`)
 *   creating    the identity provider creates the user and credentials (job `rwidp`)
 *   created     final: `users.created` on the users stream, the directory entry, the account
 *   rejected    final: the validator or the catalog said no (with its reason)
 *   failed      a system stayed down past the deadline: operators retry (`retry`), which
 *               resumes at the failed step
 *
 * Every job is retried with backoff by the workers up to the signup deadline.
 */
import { defineJob, defineKind } from "../../actors/refs";
import type { Effect, JobResult } from "../../actors/types";
import { account } from "./account.actor";
import { isRecord, type PartyKind } from "./model";

/** What a signup asks for. */
export interface SignupRequest {
  readonly kind: PartyKind;
  readonly name: string;
  readonly email: string;
  /** Badge number, ID document number, business registration, or catalog id (charity, family). */
  readonly document: string;
}

/** Statuses of a signup. */
export type SignupStatus = "validating" | "checking" | "creating" | "created" | "rejected" | "failed";
export type SignupStep = "validate" | "catalog" | "idp";

/** A signup's state. */
export interface SignupState {
  readonly status: SignupStatus | "new";
  readonly request: SignupRequest | null;
  readonly userId: string | null;
  readonly step: SignupStep | null;
  readonly validatorRef?: string;
  readonly catalogEntry?: { readonly provider: string; readonly id: string; readonly version: number };
  readonly subject?: string;
  readonly reason?: string;
  readonly tries: number;
  readonly history: readonly { readonly at: number; readonly status: string; readonly note?: string }[];
}

/** The ID validator job: `{ valid, ref | reason }`. */
export const validateJob = defineJob<
  { kind: PartyKind; document: string; name: string },
  { valid: boolean; ref?: string; reason?: string }
>("rwvalidate");
/** The catalog check job: the catalog entry, or `found: false`. */
export const catalogJob = defineJob<
  { kind: PartyKind; document: string },
  { found: boolean; provider?: string; id?: string; version?: number }
>("rwcatalog");
/** The identity provider job: the subject of the created user. */
export const idpJob = defineJob<{ userId: string; email: string; kind: PartyKind; name: string }, { subject: string }>(
  "rwidp",
);

/** A message to a signup. */
export type SignupMessage =
  | { readonly op: "start"; readonly request: SignupRequest; readonly userId: string }
  | { readonly op: "retry" }
  | JobResult<unknown>;

/** The signup kind's typed reference. */
export const signup = defineKind<SignupState, SignupMessage>("signup");

/** Where a created user is announced. */
export interface SignupNames {
  /** `{ns}.users.created` on the users stream. */
  readonly usersCreatedSubject: string;
  /** The KV put subject of the users directory entry of `userId`. */
  dirPutSubject(userId: string): string;
}

/** The users.created event. */
export interface UserCreated {
  readonly userId: string;
  readonly kind: PartyKind;
  readonly name: string;
  readonly email: string;
  readonly subject: string;
  readonly signup: string;
  readonly catalogEntry?: SignupState["catalogEntry"];
  readonly at: string;
}

function needsCatalog(kind: PartyKind): boolean {
  return kind === "charity" || kind === "family";
}

/** Options of the signup kind. */
export interface SignupKindOptions {
  readonly names: SignupNames;
  /** How long each step may keep retrying before the signup fails (retryable by operators). */
  readonly deadlineMs: number;
}

/** The signup kind. */
export function signupKind(o: SignupKindOptions) {
  const deadline = { deadlineMs: o.deadlineMs };

  function note(s: SignupState, at: number, status: string, text?: string): SignupState["history"] {
    return [...s.history, { at, status, ...(text !== undefined ? { note: text } : {}) }].slice(-20);
  }

  function stepEffect(s: SignupState, step: SignupStep, key: string): Effect {
    const r = s.request!;
    const id = `${key}:${step}:${s.tries}`;
    if (step === "validate")
      return validateJob.effect({ kind: r.kind, document: r.document, name: r.name }, { ...deadline, id });
    if (step === "catalog") return catalogJob.effect({ kind: r.kind, document: r.document }, { ...deadline, id });
    return idpJob.effect({ userId: s.userId!, email: r.email, kind: r.kind, name: r.name }, { ...deadline, id });
  }

  const STATUS_OF: Record<SignupStep, SignupStatus> = { validate: "validating", catalog: "checking", idp: "creating" };

  function go(s: SignupState, step: SignupStep, key: string, at: number, extra: Partial<SignupState> = {}) {
    const next: SignupState = { ...s, ...extra, status: STATUS_OF[step], step, history: note(s, at, STATUS_OF[step]) };
    return { state: next, effects: [stepEffect(next, step, key)] };
  }

  function finish(s: SignupState, status: "rejected" | "failed", reason: string, at: number) {
    return { state: { ...s, status, reason, history: note(s, at, status, reason) } };
  }

  return signup.implement({
    initialState: () => ({ status: "new", request: null, userId: null, step: null, tries: 0, history: [] }),
    handle(s, msg, ctx) {
      const m = msg.data;
      const at = ctx.now;
      if ("op" in m && m.op === "start") {
        if (s.status !== "new") return { state: s };
        return go({ ...s, request: m.request, userId: m.userId }, "validate", msg.key, at);
      }
      if ("op" in m && m.op === "retry") {
        if (s.status !== "failed" || !s.step) return { state: s };
        const { reason: _r, ...rest } = s;
        return go({ ...rest, tries: s.tries + 1 }, s.step, msg.key, at);
      }
      if (!("$job" in m) || !s.request) return { state: s };
      const j = m.$job;
      // a result of an earlier try (before an operator retry) or of another step changes nothing
      if (!j.id.endsWith(`:${s.tries}`) || STATUS_OF[s.step ?? "validate"] !== s.status) return { state: s };
      if (!j.ok) return finish(s, "failed", `${s.step}: ${j.error ?? "failed"}`, at);
      const r = j.result;
      if (validateJob.isResult(m) && s.step === "validate") {
        const v = m.$job.result;
        if (!v?.valid) return finish(s, "rejected", v?.reason ?? "the ID validator refused the document", at);
        return go(
          s,
          needsCatalog(s.request.kind) ? "catalog" : "idp",
          msg.key,
          at,
          v.ref ? { validatorRef: v.ref } : {},
        );
      }
      if (catalogJob.isResult(m) && s.step === "catalog") {
        const c = m.$job.result;
        if (!c?.found || !c.provider || !c.id || c.version === undefined)
          return finish(s, "rejected", `no ${s.request.kind} with id ${s.request.document} in the user catalogs`, at);
        return go(s, "idp", msg.key, at, { catalogEntry: { provider: c.provider, id: c.id, version: c.version } });
      }
      if (idpJob.isResult(m) && s.step === "idp" && isRecord(r) && typeof r["subject"] === "string") {
        const subject = r["subject"];
        const req = s.request;
        const userId = s.userId!;
        const created: UserCreated = {
          userId,
          kind: req.kind,
          name: req.name,
          email: req.email,
          subject,
          signup: msg.key,
          ...(s.catalogEntry ? { catalogEntry: s.catalogEntry } : {}),
          at: new Date(at).toISOString(),
        };
        const effects: Effect[] = [
          // the directory entry first: the account and scoring read it
          {
            type: "publish",
            subject: o.names.dirPutSubject(userId),
            id: `dir:${userId}`,
            data: { kind: req.kind, name: req.name, openedAt: created.at },
          },
          account.send(userId, { op: "open", kind: req.kind, name: req.name }, { id: `open:${userId}` }),
          { type: "publish", subject: o.names.usersCreatedSubject, id: `users.created:${userId}`, data: created },
        ];
        return { state: { ...s, status: "created", subject, history: note(s, at, "created") }, effects };
      }
      return { state: s };
    },
    retry: { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 2000 },
  });
}
