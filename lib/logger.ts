import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

let destination: DestinationStream | undefined;

/**
 * Sends every logger created afterwards in this process (createLogger and the Moleculer broker
 * loggers of brokerOptions) to `dest` instead of stdout; undefined restores stdout. The test
 * suite uses it to keep node logs out of the reporter's output (test/support/test-logs.ts).
 */
export function setLogDestination(dest: DestinationStream | undefined): void {
  destination = dest;
}

/** Where loggers write: what setLogDestination set, or undefined for stdout. */
export function logDestination(): DestinationStream | undefined {
  return destination;
}

/** The process-wide structured logger (pino, JSON lines on stdout or the set destination). */
export function createLogger(opts: { level: string; nodeId?: string; name?: string }): Logger {
  const options = {
    level: opts.level,
    base: { node: opts.nodeId, ...(opts.name ? { name: opts.name } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
