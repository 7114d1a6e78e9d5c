import { JetStreamApiError } from "@nats-io/jetstream";

/** True when `err` is a JetStream API error (optionally with the given error code). */
export function isJsApiError(err: unknown, code?: number): err is JetStreamApiError {
  if (!(err instanceof JetStreamApiError)) return false;
  return code === undefined || err.code === code;
}

/** The JetStream API error code of `err`, if it is one. */
export function jsErrCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}
