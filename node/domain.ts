/**
 * The domain-module contract. A domain is one folder, `services/<domain>/`, exported through its
 * `index.ts` as `defineDomain({...})`, and listed once in `services/index.ts`. The node reads
 * every domain's config section at start (all problems reported at once), asks each for its
 * declarations (tables, streams, actor kinds, jobs, routes: every node knows all of them, since
 * any node may address any actor or serve any route) and starts the domains it hosts
 * (`SERVICES`), which return their Moleculer services, what their jobs need, and how to stop.
 */
import type { ServiceBroker, ServiceSchema } from "moleculer";
import type { Config, PlatformConfig } from "../config";
import type { Env, EnvReader } from "../config/env";
import type { Migration } from "../db";
import type { Declaration } from "../streams/declarations";
import type { Topology } from "../streams/subjects";
import type { ActorKind, JobContext, JobDefinition } from "../actors/types";
import type { RouteSpec } from "../gateway/routes";
import type { Logger } from "../lib/logger";
import type { NodeContext } from "./context";
import type { ConsolePage } from "./console-page";

export type { ConsolePage } from "./console-page";

/** A job whose code needs what its domain's `start` returned (`deps`), besides the job's data. */
export interface DomainJob<D = never, R = unknown, X = never> extends Omit<JobDefinition<D, R>, "run"> {
  run(data: D, ctx: JobContext, deps: X): Promise<R>;
}

/** What a domain declares: known to every node, whether it hosts the domain or not. */
export interface DomainDeclarations<X> {
  readonly migrations?: readonly Migration[];
  /** Streams, consumers and buckets (provisioned idempotently at start). */
  readonly streams?: readonly Declaration[];
  // Kinds and jobs of every state and message type live in one list (their handlers are methods,
  // so a kind of narrower types is one of unknown types too).
  readonly kinds?: readonly ActorKind<unknown, unknown>[];
  readonly jobs?: readonly DomainJob<unknown, unknown, X>[];
  /** HTTP routes, served by the gateway of every node: the source of its aliases and OpenAPI. */
  readonly routes?: readonly RouteSpec[];
  /** Pages this domain adds to the operator console (shown under its name). */
  readonly consolePages?: readonly ConsolePage[];
}

/** What a started domain hands back to its node. */
export interface DomainStarted<X> {
  readonly services: readonly ServiceSchema[];
  /** What this domain's jobs need (connections, stores, caches), passed to every run. */
  readonly deps?: X;
  /** Stops what `start` started beyond its services (loops, subscriptions); services stop with the broker. */
  stop?(): Promise<void>;
}

/** What a REPL command's action receives: vorpal's parsed arguments and options. */
export type ReplArgs = { readonly options: Record<string, unknown> } & Record<string, unknown>;

/** Helpers moleculer-repl passes to a command's action. */
export interface ReplHelpers {
  table(rows: unknown[][]): string;
}

/**
 * An operator command of the REPL (`npm run repl`, moleculer-repl's custom command shape), run
 * over a broker joined to the cluster whose calls are signed as an operator.
 */
export interface ReplCommand {
  readonly command: string;
  readonly description: string;
  readonly options?: ReadonlyArray<{ readonly option: string; readonly description: string }>;
  action(broker: ServiceBroker, args: ReplArgs, helpers: ReplHelpers): Promise<void>;
}

/**
 * A simulator of an external system a domain talks to. `bin/simulators.ts` starts every
 * domain's simulators in one process; `npm start` forks it in dev mode when some simulator is
 * `wanted` (SERVICES includes "simulators").
 */
export interface DomainSimulator {
  /** One lower-case word, unique across domains (logs, the ready report). */
  readonly name: string;
  /** True when `config` points the domain at this simulator (no real URL for the system is configured). */
  wanted(config: Config, env: Env): boolean;
  /** Starts the simulator (its settings from `config` and `env`); resolves once it listens. */
  start(config: Config, log: Logger, env: Env): Promise<{ readonly url: string; stop(): Promise<void> }>;
}

/** Parses a domain's section of the environment; problems go to `r` and are reported together. */
export type ConfigSection<C> = (r: EnvReader, env: Env, platform: PlatformConfig) => C;

/** A domain module: `defineDomain` checks its shape at compile time and returns it as is. */
export interface DomainModule<X = never> {
  /** The SERVICES name: lower-case words joined by '-', unique in the registry. */
  readonly name: string;
  /** Former SERVICES names of this domain, still accepted for one release after a rename. */
  readonly aliases?: readonly string[];
  /** One line for the README, `--help` and the console. */
  readonly summary: string;
  /** Reads this domain's section of the environment (`config.<name in camelCase>`, typed by its DomainConfigs augmentation). */
  readonly config?: ConfigSection<unknown>;
  /** True when this domain opens or makes sealed secrets: outside dev mode it needs MASTER_KEYS. */
  readonly needsMasterKey?: boolean;
  declare(config: Config, topology: Topology): DomainDeclarations<X>;
  start(ctx: NodeContext): DomainStarted<X> | Promise<DomainStarted<X>>;
  readonly repl?: readonly ReplCommand[];
  readonly simulators?: readonly DomainSimulator[];
}

/** Declares a domain module (see {@link DomainModule}). */
export function defineDomain<X = never>(module: DomainModule<X>): DomainModule<X> {
  return module;
}

/**
 * Binds `jobs` to the deps their domain's `start` will return: the runtime sees plain job
 * definitions; a run before `start` returned (it cannot happen: jobs start after services) fails.
 */
export function bindJobs<X>(
  jobs: readonly DomainJob<unknown, unknown, X>[],
  started: () => DomainStarted<X> | undefined,
): JobDefinition[] {
  return jobs.map(({ run, ...rest }) => ({
    ...rest,
    run: (data: unknown, ctx: JobContext) => {
      const s = started();
      if (!s) return Promise.reject(new Error(`job ${rest.name} ran before its domain started`));
      // a domain whose jobs need nothing returns no deps (X is never)
      return run(data, ctx, s.deps as X);
    },
  }));
}
