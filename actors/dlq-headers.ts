/**
 * Header names of dead letters (a pure module: actor handlers that dead-letter by a publish
 * effect use them without importing the NATS client).
 */
/** Header names the runtime writes on dead letters. */
export const DlqHeaders = {
  Error: "Sy-Dlq-Error",
  Attempts: "Sy-Dlq-Attempts",
  Deliveries: "Sy-Dlq-Deliveries",
  Subject: "Sy-Dlq-Subject",
  Stream: "Sy-Dlq-Stream",
  Seq: "Sy-Dlq-Seq",
  At: "Sy-Dlq-At",
} as const;

/** Header set on a message replayed from the DLQ: the DLQ sequence it came from. */
export const REPLAYED_FROM_HEADER = "Sy-Replayed-From";
