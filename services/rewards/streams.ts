/**
 * The rewards domain's subjects, streams, consumers and buckets, declared as code.
 *
 *   {ns}.rewards.ledger.{account}   ledger records of receivers' legs (stream {NS}_RW_LEDGER, work
 *                                   queue; consumer "pgledger" writes them to Postgres)
 *   {ns}.transactions.{kind}        every transaction (posted, pending, voided) for any subscriber
 *                                   (stream {NS}_TRANSACTIONS, limits; the users domain, archives),
 *                                   carrying the sender's leg (consumer "pgledger" writes it)
 *   {ns}.rewards.outcome.{node}     core NATS: the outcomes node {node} waits for (the account actor
 *                                   answers there instead of broadcasting)
 *   {ns}.rewards.score              NATS request/reply scoring entry for other domains (core NATS,
 *                                   queue group "rewards"): a transaction request in, its outcome out
 *   KV {ns}_rw_rules                the business rules in force, one key per rule; every node
 *                                   watches it (a change applies everywhere at once)
 *   KV {ns}_rw_dir                  the users directory: user id to kind (written once per user)
 *   KV {ns}_rw_qr                   used QR nonces (single use; entries expire after the QR TTL)
 *   {ns}.users.created              a user was onboarded (stream {NS}_USERS, limits; the users
 *                                   domain and archives subscribe)
 *   {ns}.rewards.catalog.{provider} a catalog entry changed (stream {NS}_RW_CATALOG, limits)
 *   KV {ns}_rw_lease                the catalog poller's singleton lease
 *   object store {ns}_rw_images     product images (served with cache headers)
 */
import type { Config } from "../../config";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "../../nats";
import type { Declaration } from "../../streams/declarations";
import type { Topology } from "../../streams/subjects";
import type { TxKind } from "./model";

/** Names of the rewards domain in one namespace. */
export interface RewardNames {
  readonly ledgerStream: string;
  ledgerSubject(account: string): string;
  readonly ledgerFilter: string;
  readonly ledgerConsumer: string;
  readonly txStream: string;
  /** The ledger writer's consumer on the transactions stream (the senders' legs ride there). */
  readonly txLedgerConsumer: string;
  txSubject(kind: TxKind): string;
  readonly txFilter: string;
  readonly scoreSubject: string;
  readonly scoreQueue: string;
  readonly rulesBucket: string;
  readonly dirBucket: string;
  readonly qrBucket: string;
  /** Moleculer event of a transaction outcome whose message names no waiting node (broadcast). */
  readonly outcomeEvent: string;
  /** Core NATS subject where node `node` takes the outcomes it waits for (live plane). */
  outcomeSubject(node: string): string;
  readonly usersStream: string;
  readonly usersCreatedSubject: string;
  readonly usersFilter: string;
  /** The KV put subject of a directory entry (a publish to it is a KV put). */
  dirPutSubject(userId: string): string;
  readonly catalogStream: string;
  catalogSubject(provider: string): string;
  readonly catalogFilter: string;
  readonly leaseBucket: string;
  /** Object store of product images. */
  readonly imagesBucket: string;
}

/** The rewards domain's names for namespace `ns`. */
export function rewardNames(ns: string): RewardNames {
  const NS = ns.toUpperCase();
  return {
    ledgerStream: `${NS}_RW_LEDGER`,
    ledgerSubject: (account) => `${ns}.rewards.ledger.${account}`,
    ledgerFilter: `${ns}.rewards.ledger.*`,
    ledgerConsumer: "pgledger",
    txStream: `${NS}_TRANSACTIONS`,
    txLedgerConsumer: "pgledger",
    txSubject: (kind) => `${ns}.transactions.${kind}`,
    txFilter: `${ns}.transactions.*`,
    scoreSubject: `${ns}.rewards.score`,
    scoreQueue: "rewards",
    rulesBucket: `${ns}_rw_rules`,
    dirBucket: `${ns}_rw_dir`,
    qrBucket: `${ns}_rw_qr`,
    outcomeEvent: "rewards.outcome",
    // a node id may hold characters a subject token may not
    outcomeSubject: (node) => `${ns}.rewards.outcome.${node.replace(/[^A-Za-z0-9_-]/g, "_")}`,
    usersStream: `${NS}_USERS`,
    usersCreatedSubject: `${ns}.users.created`,
    usersFilter: `${ns}.users.*`,
    dirPutSubject: (userId) => `$KV.${ns}_rw_dir.${userId}`,
    catalogStream: `${NS}_RW_CATALOG`,
    catalogSubject: (provider) => `${ns}.rewards.catalog.${provider}`,
    catalogFilter: `${ns}.rewards.catalog.*`,
    leaseBucket: `${ns}_rw_lease`,
    imagesBucket: `${ns}_rw_images`,
  };
}

const NANOS_PER_MS = 1_000_000;

/** Everything the rewards domain needs on the server. */
export function rewardDeclarations(topo: Topology, config: Config): Declaration[] {
  const n = rewardNames(topo.ns);
  const replicas = config.jetstream.replicas;
  const rc = config.rewards;
  return [
    {
      type: "stream",
      config: {
        name: n.ledgerStream,
        subjects: [n.ledgerFilter],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_msg_size: 64 * 1024,
      },
    },
    {
      type: "consumer",
      stream: n.ledgerStream,
      config: {
        durable_name: n.ledgerConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // a batch commits in milliseconds: what a dead node held comes back within seconds
        ack_wait: 10_000 * NANOS_PER_MS,
        max_ack_pending: 20_000,
        max_deliver: -1,
      },
    },
    {
      type: "stream",
      config: {
        name: n.txStream,
        subjects: [n.txFilter],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_age: rc.txRetentionMs * NANOS_PER_MS,
        max_msg_size: 64 * 1024,
      },
    },
    // the senders' legs ride on the transaction records: the ledger writer reads them here
    {
      type: "consumer",
      stream: n.txStream,
      config: {
        durable_name: n.txLedgerConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 10_000 * NANOS_PER_MS,
        max_ack_pending: 20_000,
        max_deliver: -1,
      },
    },
    ...[
      { name: n.usersStream, subjects: [n.usersFilter] },
      { name: n.catalogStream, subjects: [n.catalogFilter] },
    ].map((x): Declaration => ({
      type: "stream",
      config: {
        ...x,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        duplicate_window: 120_000 * NANOS_PER_MS,
        max_age: rc.txRetentionMs * NANOS_PER_MS,
        max_msg_size: 64 * 1024,
      },
    })),
    { type: "objectstore", bucket: n.imagesBucket, replicas },
    { type: "kv", bucket: n.leaseBucket, history: 1, ttlMs: rc.catalogLeaseMs, replicas },
    { type: "kv", bucket: n.rulesBucket, history: 5, replicas },
    { type: "kv", bucket: n.dirBucket, history: 1, replicas },
    { type: "kv", bucket: n.qrBucket, history: 1, ttlMs: rc.qrTtlMs * 2, replicas },
  ];
}
