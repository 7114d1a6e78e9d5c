/** Prometheus gauges of the actor runtime, read when /metrics is scraped. */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Runtime } from "../actors/runtime";

/** Registers actor, partition, consumer and DLQ gauges for `runtime` on `registry`. */
export function registerRuntimeMetrics(registry: Registry, runtime: Runtime): void {
  new Gauge({
    name: "switchyard_actors_resident",
    help: "Actors in memory on this node, by kind",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(runtime.actorCounts())) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: "switchyard_partitions_owned",
    help: "Partitions owned by this node",
    registers: [registry],
    collect() {
      this.set(runtime.ownedPartitions());
    },
  });
  new Counter({
    name: "switchyard_messages_handled_total",
    help: "Messages handled by actors on this node since start, by kind",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      // the host's own count only grows: read it as the counter's value at each scrape
      this.reset();
      for (const [kind, s] of Object.entries(runtime.hostStats())) this.inc({ kind }, s.handled);
    },
  });
  new Gauge({
    name: "switchyard_consumer_pending",
    help: "Messages not yet acked (pending + ack-pending), summed over each stream's consumers (per-consumer figures: the REPL's `streams`)",
    labelNames: ["stream"],
    registers: [registry],
    async collect() {
      // One series per stream, not per consumer: domains with a consumer per client would
      // otherwise grow the series count with their clients.
      this.reset();
      const byStream = new Map<string, number>();
      for (const c of await runtime.consumerStats().catch(() => []))
        byStream.set(c.stream, (byStream.get(c.stream) ?? 0) + c.pending + c.ackPending);
      for (const [stream, n] of byStream) this.set({ stream }, n);
    },
  });
  new Gauge({
    name: "switchyard_dlq_depth",
    help: "Messages in the dead letter stream",
    registers: [registry],
    async collect() {
      this.set(await runtime.dlqDepth().catch(() => 0));
    },
  });
}
