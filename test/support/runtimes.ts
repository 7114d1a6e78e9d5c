/**
 * Actor runtimes in the test process on the real NATS, for tests of one kind and one job (local
 * jobs, chains): each runtime is a node (its own connection and node id) hosting both, two
 * partitions, a 2 s lease; `stopAll` stops them and removes the namespace's streams.
 */
import { connectNats, type NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import { provision } from "../../streams/provision";
import { Runtime } from "../../actors/runtime";
import type { ActorKind, JobDefinition } from "../../actors/types";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, NATS_URL } from "./namespace";

/** A runtime started by {@link inProcessRuntimes}, with its connection. */
export interface TestRuntime {
  readonly runtime: Runtime;
  readonly h: NatsHandles;
}

/** Starts runtimes of namespace `ns` hosting `kind` and `job`; `stopAll` ends them all. */
export function inProcessRuntimes(
  ns: string,
  kind: ActorKind<any, any>,
  job: JobDefinition<any, any>,
): { start(nodeId: string): Promise<TestRuntime>; stopAll(): Promise<void> } {
  const topo = topology(ns);
  const started: TestRuntime[] = [];
  return {
    async start(nodeId) {
      const h = await connectNats(NATS_URL, `${kind.name}-${nodeId}`);
      const runtime = new Runtime(
        h,
        topo,
        { kinds: [kind], hostedKinds: new Set([kind.name]), jobs: [job], hostedJobs: new Set([job.name]) },
        { nodeId, partitions: 2, leaseTtlMs: 2000, idleMs: 60_000, maxResident: 1000, replicas: 1 },
        createLogger({ level: "silent" }),
      );
      started.push({ runtime, h });
      await provision(h, runtime.declarations());
      await runtime.start();
      return { runtime, h };
    },
    async stopAll() {
      for (const r of started) await r.runtime.stop().catch(() => undefined);
      for (const r of started) await r.h.nc.close().catch(() => undefined);
      await cleanupNamespace(ns);
    },
  };
}
