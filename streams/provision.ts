/**
 * Idempotent provisioning: every declared stream, consumer, KV bucket and object store is
 * created when missing, updated when its configuration changed in a compatible way, and
 * reported with a clear error when the change is incompatible (e.g. storage or retention).
 */
import { Objm, isJsApiError, JetStreamApiCodes, type NatsHandles, type StreamConfig } from "../nats";
import type { Declaration, StreamDecl, ConsumerDecl, KvDecl, ObjectStoreDecl } from "./declarations";
import { declName } from "./declarations";

/** What provisioning did to one declaration. */
export type ProvisionAction = "created" | "updated" | "unchanged";

/** Raised for a declaration that cannot be applied to what exists. */
export class ProvisionError extends Error {
  constructor(
    readonly declaration: string,
    message: string,
  ) {
    super(`${declaration}: ${message}`);
    this.name = "ProvisionError";
  }
}

/** Fields of a stream that JetStream cannot change after creation. */
const IMMUTABLE_STREAM_FIELDS = ["storage", "retention"] as const;
/** Fields compared to decide whether an update is needed. */
const MUTABLE_STREAM_FIELDS = [
  "subjects",
  "max_age",
  "max_bytes",
  "max_msgs",
  "max_msg_size",
  "discard",
  "duplicate_window",
  "num_replicas",
  "max_msgs_per_subject",
  "allow_rollup_hdrs",
  "deny_delete",
] as const;

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function streamConfig(h: NatsHandles, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await h.jsm.streams.info(name)).config;
  } catch (err) {
    if (!isJsApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    return undefined;
  }
}

async function provisionStream(h: NatsHandles, d: StreamDecl): Promise<ProvisionAction> {
  const name = d.config.name;
  let existing = await streamConfig(h, name);
  if (!existing) {
    try {
      await h.jsm.streams.add(d.config);
      return "created";
    } catch (err) {
      // Nodes starting together race to create it: if another one did, check that one instead.
      existing = await streamConfig(h, name);
      if (!existing) throw err;
    }
  }
  for (const f of IMMUTABLE_STREAM_FIELDS) {
    if (d.config[f] !== undefined && !sameValue(d.config[f], existing[f])) {
      throw new ProvisionError(
        declName(d),
        `${f} is ${JSON.stringify(existing[f])} on the server but declared ${JSON.stringify(d.config[f])}; this cannot change in place: migrate to a new stream or delete it`,
      );
    }
  }
  const changed = MUTABLE_STREAM_FIELDS.filter(
    (f) => d.config[f] !== undefined && !sameValue(d.config[f], existing[f]),
  );
  if (changed.length === 0) return "unchanged";
  try {
    await h.jsm.streams.update(name, { ...existing, ...d.config });
  } catch (err) {
    throw new ProvisionError(declName(d), `update of ${changed.join(", ")} refused: ${(err as Error).message}`);
  }
  return "updated";
}

async function provisionConsumer(h: NatsHandles, d: ConsumerDecl): Promise<ProvisionAction> {
  try {
    const info = await h.jsm.consumers.info(d.stream, d.config.durable_name);
    const cfg = info.config as unknown as Record<string, unknown>;
    const changed = Object.entries(d.config).filter(([k, v]) => !sameValue(v, cfg[k]));
    if (changed.length === 0) return "unchanged";
    try {
      await h.jsm.consumers.update(d.stream, d.config.durable_name, d.config);
    } catch (err) {
      throw new ProvisionError(
        declName(d),
        `update of ${changed.map(([k]) => k).join(", ")} refused: ${(err as Error).message}`,
      );
    }
    return "updated";
  } catch (err) {
    if (!isJsApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  try {
    await h.jsm.consumers.add(d.stream, d.config);
  } catch (err) {
    // Created meanwhile by a node starting at the same time: fine if it is there now.
    const exists = await h.jsm.consumers.info(d.stream, d.config.durable_name).then(
      () => true,
      () => false,
    );
    if (!exists) throw err;
    return "unchanged";
  }
  return "created";
}

/** Creates a bucket's backing stream through `create` unless it exists (also if a concurrent node made it). */
async function ensureBucket(h: NatsHandles, stream: string, create: () => Promise<unknown>): Promise<ProvisionAction> {
  if (await streamConfig(h, stream)) return "unchanged";
  try {
    await create();
    return "created";
  } catch (err) {
    if (await streamConfig(h, stream)) return "unchanged";
    throw err;
  }
}

async function provisionKv(h: NatsHandles, d: KvDecl): Promise<ProvisionAction> {
  return ensureBucket(h, `KV_${d.bucket}`, () =>
    h.kvm.create(d.bucket, {
      history: d.history ?? 1,
      ttl: d.ttlMs ?? 0,
      max_bytes: d.maxBytes ?? -1,
      replicas: d.replicas ?? 1,
    }),
  );
}

async function provisionObjectStore(h: NatsHandles, d: ObjectStoreDecl): Promise<ProvisionAction> {
  const objm = new Objm(h.nc);
  return ensureBucket(h, `OBJ_${d.bucket}`, () =>
    objm.create(d.bucket, { replicas: d.replicas ?? 1, ...(d.maxBytes ? { max_bytes: d.maxBytes } : {}) }),
  );
}

/** Applies one declaration; see the module doc for the rules. */
export async function provisionOne(h: NatsHandles, d: Declaration): Promise<ProvisionAction> {
  switch (d.type) {
    case "stream":
      return provisionStream(h, d);
    case "consumer":
      return provisionConsumer(h, d);
    case "kv":
      return provisionKv(h, d);
    case "objectstore":
      return provisionObjectStore(h, d);
  }
}

/**
 * Applies every declaration in order (streams before their consumers), reporting progress
 * through `onProgress`. Stops at the first error.
 */
export async function provision(
  h: NatsHandles,
  decls: readonly Declaration[],
  onProgress?: (d: Declaration, action: ProvisionAction, index: number, total: number) => void,
): Promise<Record<ProvisionAction, number>> {
  const counts: Record<ProvisionAction, number> = { created: 0, updated: 0, unchanged: 0 };
  let i = 0;
  for (const d of decls) {
    let action: ProvisionAction;
    try {
      action = await provisionOne(h, d);
    } catch (err) {
      if (err instanceof ProvisionError) throw err;
      throw new ProvisionError(declName(d), (err as Error).message);
    }
    counts[action]++;
    onProgress?.(d, action, ++i, decls.length);
  }
  return counts;
}
