/**
 * Typed references to actor kinds and jobs, made from their definitions (as Restate's
 * `objectSendClient(def, key)`): a domain declares `defineKind<State, Message>(name)` and
 * `defineJob<Data, Result>(name)` once, and every send, state read, job effect and job result
 * is typed from that declaration. Nothing here does I/O; `ActorClient` goes through the
 * runtime it is given.
 */
import type { ActorKind, ActorRuntime, Effect, JobContext, JobDefinition, JobResult } from "./types";

/** Options of a message put in an actor's mailbox. */
export interface SendOptions {
  /** Idempotency key (`Nats-Msg-Id`): the same id within the duplicate window is stored once. */
  readonly id?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Options of a job effect. */
export interface JobEffectOptions {
  /** Idempotency key of the job (default `{kind}:{key}:{seq}:{index}`). */
  readonly id?: string;
  /** Time allowed from now; past it the job fails for good. */
  readonly deadlineMs?: number;
  /** Where the result goes: the asking actor by default, `null` for none. */
  readonly replyTo?: { readonly kind: string; readonly key: string } | null;
  /** Run it as a local job on the actor's node (see the `job` {@link Effect}); default false. */
  readonly local?: boolean;
}

/** An actor kind's handle over a runtime: typed sends and state reads. */
export interface ActorClient<S, M> {
  /** Puts `message` in the mailbox of actor `key`; resolves once JetStream stored it. */
  send(key: string, message: M, opts?: SendOptions): Promise<{ seq: number; duplicate: boolean }>;
  /** The stored state of actor `key`, or undefined when it never handled a message. */
  state(key: string): Promise<S | undefined>;
}

/** The implementation of a kind: everything of {@link ActorKind} but its name. */
export type KindImplementation<S, M> = Omit<ActorKind<S, M>, "name">;

/** A typed reference to an actor kind, made by {@link defineKind}. */
export interface KindRef<S, M> {
  readonly name: string;
  /** A `send` effect: `message` to actor `key` of this kind, durably through its mailbox. */
  send(key: string, message: M, opts?: SendOptions): Effect;
  /** This kind's handle over `runtime`. */
  on(runtime: ActorRuntime): ActorClient<S, M>;
  /** The kind as the runtime hosts it: this name with `impl`'s handler. */
  implement(impl: KindImplementation<S, M>): ActorKind<S, M>;
}

/**
 * Declares an actor kind named `name` whose state is `S` and whose mailbox takes `M` (job
 * results included, when it asks for jobs). The name is one lower-case subject token.
 */
export function defineKind<S, M>(name: string): KindRef<S, M> {
  return {
    name,
    send: (key, message, opts = {}) => ({ type: "send", kind: name, key, data: message, ...opts }),
    on: (runtime) => ({
      send: (key, message, opts = {}) =>
        runtime.send(name, key, message, {
          ...(opts.id !== undefined ? { id: opts.id } : {}),
          ...(opts.headers ? { headers: { ...opts.headers } } : {}),
        }),
      state: (key) => runtime.getState<S>(name, key),
    }),
    implement: (impl) => ({ ...impl, name }),
  };
}

/** How a job runs: everything of {@link JobDefinition} but its name and code. */
export type JobOptions = Omit<JobDefinition, "name" | "run">;

/** A typed reference to a job, made by {@link defineJob}. */
export interface JobRef<D, R> {
  readonly name: string;
  /** A `job` effect asking for this job with `data`; its result comes back as {@link JobResult}. */
  effect(data: D, opts?: JobEffectOptions): Effect;
  /** True when `message` is the result of this job (narrows it to {@link JobResult} of `R`). */
  isResult(message: unknown): message is JobResult<R>;
  /** The job as workers run it: this name, `run` and its options. */
  implement(run: (data: D, ctx: JobContext) => Promise<R>, options?: JobOptions): JobDefinition<D, R>;
}

/** Declares a job named `name` taking `D` and resolving to `R` (one lower-case subject token). */
export function defineJob<D, R>(name: string): JobRef<D, R> {
  return {
    name,
    effect: (data, opts = {}) => ({ type: "job", job: name, data, ...opts }),
    isResult: (message): message is JobResult<R> =>
      typeof message === "object" &&
      message !== null &&
      "$job" in message &&
      typeof message.$job === "object" &&
      message.$job !== null &&
      "job" in message.$job &&
      message.$job.job === name,
    implement: (run, options = {}) => ({ ...options, name, run }),
  };
}
