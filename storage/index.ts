/**
 * Object storage for every domain: the {@link ObjectStore} interface, its two backends (S3 and
 * the JetStream object store), verified reads, and the settings that choose one
 * (`OBJECT_STORE`, `S3_*`), which a domain that stores objects reads into its config section.
 */
import type { EnvReader } from "../config/env";
import type { NatsConnection } from "../nats";
import { openJetStreamStore } from "./jetstream";
import { openS3Store } from "./s3";
import type { ObjectStore } from "./types";

export * from "./types";
export { readVerified, downloadVerified, partsOf } from "./body";
export { openS3Store, type S3Options } from "./s3";
export { openJetStreamStore, type JetStreamStoreOptions } from "./jetstream";

/** Which object store a node uses. */
export type StorageConfig =
  | { readonly backend: "jetstream"; readonly bucket: string }
  | {
      readonly backend: "s3";
      readonly endpoint: string | undefined;
      readonly region: string;
      readonly bucket: string;
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly createBucket: boolean;
    };

/**
 * Reads OBJECT_STORE (`jetstream`, the default, or `s3`) and, for S3, S3_ENDPOINT, S3_REGION,
 * S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_CREATE_BUCKET. `jsBucket` names the JetStream bucket.
 */
export function readStorageConfig(r: EnvReader, jsBucket: string): StorageConfig {
  const backend = r.match("OBJECT_STORE", "jetstream", /^(jetstream|s3)$/, "jetstream or s3");
  if (backend !== "s3") return { backend: "jetstream", bucket: jsBucket };
  const endpoint = r.str("S3_ENDPOINT", "");
  if (endpoint) r.url("S3_ENDPOINT", endpoint, ["http:", "https:"]);
  const accessKeyId = r.str("S3_ACCESS_KEY", "");
  const secretAccessKey = r.str("S3_SECRET_KEY", "");
  if (!accessKeyId || !secretAccessKey) r.problems.push("OBJECT_STORE=s3 needs S3_ACCESS_KEY and S3_SECRET_KEY");
  return {
    backend: "s3",
    endpoint: endpoint || undefined,
    region: r.str("S3_REGION", "us-east-1"),
    bucket: r.match("S3_BUCKET", "switchyard", /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"),
    accessKeyId,
    secretAccessKey,
    createBucket: r.bool("S3_CREATE_BUCKET", false),
  };
}

/** Opens the configured object store (`nc` for the JetStream backend). */
export function openObjectStore(c: StorageConfig, nc: NatsConnection, replicas = 1): Promise<ObjectStore> {
  if (c.backend === "jetstream") return openJetStreamStore({ nc, bucket: c.bucket, replicas });
  return openS3Store({
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    region: c.region,
    bucket: c.bucket,
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    createBucket: c.createBucket,
  });
}
