/**
 * Assembles a node's runtime from the domains: every domain's actor kinds and jobs are known
 * (any node may address any actor), those of the hosted domains (SERVICES) are run here.
 */
import type { Config } from "../config";
import type { Logger } from "../lib/logger";
import type { NatsHandles } from "../nats";
import { Runtime } from "../actors/runtime";
import { topology, type Topology } from "../streams/subjects";
import type { Declaration } from "../streams/declarations";
import { DOMAINS } from "../services";
import type { Domain } from "./context";

/** Every domain, and those this node hosts. */
export function domains(config: Config): { all: Domain[]; hosted: Domain[] } {
  const all = Object.values(DOMAINS).filter((d): d is Domain => d !== undefined);
  return { all, hosted: all.filter((d) => config.services.includes(d.name)) };
}

/** The runtime for `config`, with the domains it hosts. */
export function assembleRuntime(config: Config, nats: NatsHandles, log: Logger): { runtime: Runtime; hosted: Domain[] } {
  const { all, hosted } = domains(config);
  const runtime = new Runtime(
    nats,
    topology(config.namespace),
    {
      kinds: all.flatMap((d) => d.kinds?.(config) ?? []),
      // an API node (WORKERS=off) hosts no actors and runs no jobs
      hostedKinds: new Set(config.workers ? hosted.flatMap((d) => (d.kinds?.(config) ?? []).map((k) => k.name)) : []),
      jobs: all.flatMap((d) => d.jobs?.(config) ?? []),
      hostedJobs: new Set(config.workers ? hosted.flatMap((d) => (d.jobs?.(config) ?? []).map((j) => j.name)) : []),
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
  return { runtime, hosted };
}

/** Every declaration of every domain (all of them: any node may send to any stream). */
export function allDeclarations(runtime: Runtime, config: Config, topo: Topology): Declaration[] {
  const decls = runtime.declarations();
  for (const d of domains(config).all) if (d.declarations) decls.push(...d.declarations(topo, config));
  return decls;
}
