import type { StreamConfig, ConsumerConfig } from "../nats";

/** A stream to exist, with its full configuration. */
export interface StreamDecl {
  readonly type: "stream";
  readonly config: Partial<StreamConfig> & { name: string; subjects: string[] };
}

/** A durable consumer to exist on `stream`. */
export interface ConsumerDecl {
  readonly type: "consumer";
  readonly stream: string;
  readonly config: Partial<ConsumerConfig> & { durable_name: string };
}

/** A KV bucket to exist. */
export interface KvDecl {
  readonly type: "kv";
  readonly bucket: string;
  readonly history?: number;
  /** Entries expire this long after their last write (0: never). */
  readonly ttlMs?: number;
  readonly maxBytes?: number;
  readonly replicas?: number;
}

/** An object store bucket to exist. */
export interface ObjectStoreDecl {
  readonly type: "objectstore";
  readonly bucket: string;
  readonly replicas?: number;
  readonly maxBytes?: number;
}

/** Anything the provisioner can create or update. */
export type Declaration = StreamDecl | ConsumerDecl | KvDecl | ObjectStoreDecl;

/** The display name of a declaration, for logs and errors. */
export function declName(d: Declaration): string {
  switch (d.type) {
    case "stream":
      return `stream ${d.config.name}`;
    case "consumer":
      return `consumer ${d.stream}/${d.config.durable_name}`;
    case "kv":
      return `kv ${d.bucket}`;
    case "objectstore":
      return `object store ${d.bucket}`;
  }
}
