/**
 * The one place that imports the `@nats-io/*` v3 clients (JetStream, KV, object store).
 * Everything else imports from here, so a client upgrade touches one folder. Moleculer's
 * transporter uses its own `nats` v2 connection; the two never share state.
 */
export { connect, headers, nuid, Empty, errors as natsErrors } from "@nats-io/transport-node";
export type { NatsConnection, Msg, MsgHdrs, Subscription, QueuedIterator } from "@nats-io/transport-node";
export {
  jetstream,
  jetstreamManager,
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  JetStreamApiError,
  JetStreamError,
} from "@nats-io/jetstream";
export type {
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  PubAck,
  StreamConfig,
  StreamInfo,
  StreamState,
  ConsumerConfig,
  ConsumerInfo,
  ConsumerMessages,
  StoredMsg,
} from "@nats-io/jetstream";
export { Kvm } from "@nats-io/kv";
export type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
export { Objm } from "@nats-io/obj";
export type { ObjectStore } from "@nats-io/obj";
export { connectNats, type NatsHandles } from "./connection";
export {
  JetStreamApiCodes,
  isJsApiError,
  jsErrCode,
  isWrongLastSequence,
  isStreamNotFound,
  isConsumerNotFound,
  isNoMessageFound,
  isNatsUnavailable,
  type JetStreamApiCode,
} from "./errors";
export {
  nextStoredMessage,
  lastStoredMessage,
  parseHeaderBlock,
  StoredMessageError,
  type RawStoredMessage,
} from "./stored";
