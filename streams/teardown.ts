/**
 * Teardown of one namespace's JetStream side: every stream named `{NS}_*`, KV bucket
 * `{ns}_*` (stream `KV_{ns}_*`) and object store `{ns}_*` (stream `OBJ_{ns}_*`), with their
 * consumers. A namespace is a lower-case letter and letters or digits (no `_`), so the prefix
 * `{NS}_` never matches another namespace's names. Used by `npm run namespace -- drop NS`.
 */
import type { NatsHandles } from "../nats";

/** One stream to drop, with what is in it. */
export interface PlannedStream {
  /** The JetStream stream name (`KV_…` and `OBJ_…` for buckets). */
  readonly name: string;
  readonly kind: "stream" | "kv" | "object store";
  readonly messages: number;
  readonly consumers: readonly string[];
}

/** What dropping a namespace removes from JetStream. */
export interface NamespacePlan {
  readonly namespace: string;
  readonly streams: readonly PlannedStream[];
}

/** True when stream `name` belongs to namespace `ns`, and as what. */
export function streamOfNamespace(name: string, ns: string): PlannedStream["kind"] | null {
  if (name.startsWith(`${ns.toUpperCase()}_`)) return "stream";
  if (name.startsWith(`KV_${ns}_`)) return "kv";
  if (name.startsWith(`OBJ_${ns}_`)) return "object store";
  return null;
}

/** Lists the streams, buckets, object stores and consumers of `ns`, sorted by name. */
export async function planNamespace(h: NatsHandles, ns: string): Promise<NamespacePlan> {
  const streams: PlannedStream[] = [];
  for await (const si of h.jsm.streams.list()) {
    const kind = streamOfNamespace(si.config.name, ns);
    if (!kind) continue;
    const consumers: string[] = [];
    for await (const ci of h.jsm.consumers.list(si.config.name)) consumers.push(ci.name);
    consumers.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    streams.push({ name: si.config.name, kind, messages: si.state.messages, consumers });
  }
  streams.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  return { namespace: ns, streams };
}

/** Deletes every stream of `plan` (their consumers go with them); returns the names deleted. */
export async function dropStreams(h: NatsHandles, plan: NamespacePlan): Promise<string[]> {
  const dropped: string[] = [];
  for (const s of plan.streams) {
    if (await h.jsm.streams.delete(s.name).catch(() => false)) dropped.push(s.name);
  }
  return dropped;
}
