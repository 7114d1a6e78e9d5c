/**
 * Every NATS subject, stream, consumer and KV bucket name, in one typed module.
 * All names carry the namespace (`NAMESPACE`, default `sy`) so that several deployments or
 * test runs can share one NATS server without seeing each other.
 *
 * Subject scheme (see README "Subjects"):
 *   {ns}.actor.{kind}.{partition}.{key}   an actor's mailbox (stream {NS}_ACTOR_{KIND})
 *   {ns}.job.{job}.{key}                  a job for a worker (stream {NS}_JOBS)
 *   {ns}.dlq.actor.{kind}.{key}           dead letters of actors (stream {NS}_DLQ)
 *   {ns}.dlq.job.{job}.{key}              dead letters of jobs (stream {NS}_DLQ)
 */

/** Actor kinds, job names and keys are single subject tokens from this alphabet. */
export const KIND_PATTERN = /^[a-z][a-z0-9]{0,31}$/;
export const KEY_PATTERN = /^[A-Za-z0-9_=-]{1,200}$/;

/** Validates an actor kind or job name; throws on anything that is not one subject token. */
export function assertName(name: string, what: string): void {
  if (!KIND_PATTERN.test(name)) throw new Error(`invalid ${what} ${JSON.stringify(name)}: expected ${KIND_PATTERN}`);
}

/** True when `key` can be an actor key (one subject token and a valid KV key). */
export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** The names of one namespace. */
export interface Topology {
  readonly ns: string;
  readonly actors: {
    stream(kind: string): string;
    subject(kind: string, partition: number, key: string): string;
    streamSubjects(kind: string): string;
    partitionFilter(kind: string, partition: number): string;
    consumer(partition: number): string;
    stateBucket(kind: string): string;
  };
  readonly leases: {
    readonly bucket: string;
    partitionKey(kind: string, partition: number): string;
    nodeKey(nodeId: string): string;
  };
  readonly jobs: {
    readonly stream: string;
    readonly streamSubjects: string;
    subject(job: string, key: string): string;
    filter(job: string): string;
    consumer(job: string): string;
  };
  readonly dlq: {
    readonly stream: string;
    readonly streamSubjects: string;
    actorSubject(kind: string, key: string): string;
    jobSubject(job: string, key: string): string;
  };
  readonly gateway: {
    /**
     * Plain NATS (no stream): a client was suspended, activated, rotated or changed. Every
     * gateway node evicts its cached credentials for that client. At most once; the gateway's
     * short cache TTL covers a missed notice.
     */
    readonly clientChanges: string;
  };
}

/** Builds the names for namespace `ns`. */
export function topology(ns: string): Topology {
  const NS = ns.toUpperCase();
  return {
    ns,
    actors: {
      stream: (kind) => `${NS}_ACTOR_${kind.toUpperCase()}`,
      subject: (kind, partition, key) => `${ns}.actor.${kind}.${partition}.${key}`,
      streamSubjects: (kind) => `${ns}.actor.${kind}.*.*`,
      partitionFilter: (kind, partition) => `${ns}.actor.${kind}.${partition}.*`,
      consumer: (partition) => `p${partition}`,
      stateBucket: (kind) => `${ns}_state_${kind}`,
    },
    leases: {
      bucket: `${ns}_leases`,
      partitionKey: (kind, partition) => `part.${kind}.${partition}`,
      nodeKey: (nodeId) => `node.${nodeId.replace(/[^A-Za-z0-9_=-]/g, "_")}`,
    },
    jobs: {
      stream: `${NS}_JOBS`,
      streamSubjects: `${ns}.job.*.*`,
      subject: (job, key) => `${ns}.job.${job}.${key}`,
      filter: (job) => `${ns}.job.${job}.*`,
      consumer: (job) => `job-${job}`,
    },
    dlq: {
      stream: `${NS}_DLQ`,
      streamSubjects: `${ns}.dlq.>`,
      actorSubject: (kind, key) => `${ns}.dlq.actor.${kind}.${key}`,
      jobSubject: (job, key) => `${ns}.dlq.job.${job}.${key}`,
    },
    gateway: {
      clientChanges: `${ns}.gateway.clients.changed`,
    },
  };
}

/**
 * The partition of `key` among `partitions`: FNV-1a (32-bit) over the key's UTF-8 bytes,
 * modulo the partition count. Producers that publish straight to an actor's subject compute
 * this themselves; the README shows it in a few lines of JS, Go and Python.
 */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(key, "utf8");
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}
