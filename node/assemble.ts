/**
 * Assembles a node from the domain modules: every domain's declarations are known (any node may
 * address any actor, publish to any stream or serve any route); the hosted domains (SERVICES)
 * are started here, and their actor kinds and jobs run here (none on an API node, WORKERS=off).
 */
import type { Config } from "../config";
import type { Logger } from "../lib/logger";
import type { NatsHandles } from "../nats";
import { Runtime } from "../actors/runtime";
import { topology, type Topology } from "../streams/subjects";
import type { Declaration } from "../streams/declarations";
import type { Migration } from "../db";
import type { RouteSpec } from "../gateway/routes";
import { DOMAINS } from "../services";
import { bindJobs, type ConsolePage, type DomainDeclarations, type DomainModule, type DomainStarted } from "./domain";

/** A domain module with its declarations for one node's config, and what its start returned. */
export interface AssembledDomain {
  readonly module: DomainModule<unknown>;
  readonly declared: DomainDeclarations<unknown>;
  readonly hosted: boolean;
  started?: DomainStarted<unknown>;
}

/** Every domain module (the registry), declared for `config`. */
export function declareDomains(config: Config, topo: Topology = topology(config.namespace)): AssembledDomain[] {
  return DOMAINS.map((module) => ({
    module: module,
    declared: (module as DomainModule<unknown>).declare(config, topo),
    hosted: config.services.includes(module.name),
  }));
}

/** Every migration of every domain module, in registry order (tools migrate them all). */
export function allMigrations(domains: readonly AssembledDomain[]): Migration[] {
  return domains.flatMap((d) => d.declared.migrations ?? []);
}

/** Every route of every domain module (the gateway serves them whichever node hosts the actions). */
export function allRoutes(domains: readonly AssembledDomain[]): RouteSpec[] {
  return domains.flatMap((d) => d.declared.routes ?? []);
}

/** Every domain's console pages, each with the name of the domain that contributes it. */
export function allConsolePages(domains: readonly AssembledDomain[]): (ConsolePage & { readonly domain: string })[] {
  return domains.flatMap((d) => (d.declared.consolePages ?? []).map((p) => ({ ...p, domain: d.module.name })));
}

/** The runtime for `config`, with every domain's kinds and jobs; the hosted ones run here. */
export function assembleRuntime(
  config: Config,
  nats: NatsHandles,
  log: Logger,
  domains: readonly AssembledDomain[],
): Runtime {
  const hosted = config.workers ? domains.filter((d) => d.hosted) : [];
  return new Runtime(
    nats,
    topology(config.namespace),
    {
      kinds: domains.flatMap((d) => d.declared.kinds ?? []),
      hostedKinds: new Set(hosted.flatMap((d) => (d.declared.kinds ?? []).map((k) => k.name))),
      jobs: domains.flatMap((d) => bindJobs(d.declared.jobs ?? [], () => d.started)),
      hostedJobs: new Set(hosted.flatMap((d) => (d.declared.jobs ?? []).map((j) => j.name))),
    },
    {
      nodeId: config.nodeId,
      partitions: config.actors.partitions,
      leaseTtlMs: config.actors.leaseTtlMs,
      idleMs: config.actors.idleMs,
      maxResident: config.actors.maxResident,
      maxBatch: config.actors.maxBatch,
      replicas: config.jetstream.replicas,
    },
    log.child({ component: "runtime" }),
  );
}

/** Every declaration of the runtime and of every domain (all of them: any node may send to any stream). */
export function allDeclarations(runtime: Runtime, domains: readonly AssembledDomain[]): Declaration[] {
  return [...runtime.declarations(), ...domains.flatMap((d) => d.declared.streams ?? [])];
}
