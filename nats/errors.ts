/**
 * JetStream API errors, matched by the server's error code (`err_code`), never by message text:
 * the only module that knows the shape of the errors `@nats-io/jetstream` and `@nats-io/kv` 3.x
 * throw. A JetStream API call, a JetStream publish (and so every KV put, create and update) that
 * the server refuses rejects with a `JetStreamApiError` whose `code` is the server's `err_code`
 * (and `status` its HTTP-like code): "wrong last sequence: 7" is `{ code: 400, err_code: 10071 }`.
 * Stream and consumer lookups reject with its subclasses `StreamNotFoundError` (10059) and
 * `ConsumerNotFoundError` (10014). The codes are nats-server's (server/errors.json); the client
 * library's own table names only some of them.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
// the public entry point does not export the class a publish without a stream leader rejects with
import { jserrors } from "@nats-io/jetstream/internal";
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";

/** The JetStream API error codes this code relies on (nats-server `err_code`, stable across releases). */
export const JetStreamApiCodes = {
  /** JSConsumerNotFoundErr "consumer not found" (a lookup, delete or pull of a missing consumer). */
  ConsumerNotFound: 10014,
  /** JSNoMessageFoundErr "no message found" (the client turns it into `null` where it can). */
  NoMessageFound: 10037,
  /** JSNotEnabledForAccountErr "JetStream not enabled for account". */
  JetStreamNotEnabledForAccount: 10039,
  /** JSStreamNotFoundErr "stream not found". */
  StreamNotFound: 10059,
  /**
   * JSStreamWrongLastSequenceErrF "wrong last sequence: {seq}": a publish with an expected last
   * (subject) sequence that is not the current one. A KV `update` at a stale revision and a KV
   * `create` of a key that exists both end here.
   */
  StreamWrongLastSequence: 10071,
  /** JSStreamWrongLastSequenceConstantErr "wrong last sequence", the same refusal without the sequence. */
  StreamWrongLastSequenceUnknown: 10164,
} as const;

/** One of the {@link JetStreamApiCodes}. */
export type JetStreamApiCode = (typeof JetStreamApiCodes)[keyof typeof JetStreamApiCodes];

/** True when `err` is a JetStream API error (optionally with the given error code). */
export function isJsApiError(err: unknown, code?: number): err is JetStreamApiError {
  if (!(err instanceof JetStreamApiError)) return false;
  return code === undefined || err.code === code;
}

/** The JetStream API error code of `err`, if it is one. */
export function jsErrCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/**
 * True when the server refused a write because the expected last sequence moved: a KV `update`
 * at a stale revision, a KV `create` of a key that already holds a value, a publish with a stale
 * expected last sequence. The optimistic-concurrency conflict: reload and try again, or give up.
 */
export function isWrongLastSequence(err: unknown): err is JetStreamApiError {
  const code = jsErrCode(err);
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence || code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}

/** True when a JetStream API call named a stream that does not exist. */
export function isStreamNotFound(err: unknown): err is JetStreamApiError {
  return isJsApiError(err, JetStreamApiCodes.StreamNotFound);
}

/** True when a JetStream API call named a consumer that does not exist (on a stream that does). */
export function isConsumerNotFound(err: unknown): err is JetStreamApiError {
  return isJsApiError(err, JetStreamApiCodes.ConsumerNotFound);
}

/** True when a stream message lookup found nothing (most lookups answer `null` instead). */
export function isNoMessageFound(err: unknown): err is JetStreamApiError {
  return isJsApiError(err, JetStreamApiCodes.NoMessageFound);
}

/**
 * True when `err` says NATS could not answer for now, not that the request was wrong: a
 * timeout (the outcome of a publish is then unknown, so its retry must carry the same
 * Nats-Msg-Id), no responders (a stream without a leader during an election shows as
 * "JetStream not enabled"), a closed, draining or lost connection. A caller gets 503 and
 * retries.
 */
export function isNatsUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (
      e instanceof TimeoutError ||
      e instanceof NoRespondersError ||
      e instanceof jserrors.JetStreamNotEnabled ||
      e instanceof ClosedConnectionError ||
      e instanceof DrainingConnectionError ||
      e instanceof ConnectionError
    )
      return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
  }
  return false;
}
