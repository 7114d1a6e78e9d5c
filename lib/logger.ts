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

/** Whether two field values are the same (bindings are plain JSON). */
function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The process-wide structured logger (pino, JSON lines on stdout, on `destination`, or on what
 * setLogDestination set).
 * A line never carries a key twice: a field that a child logger already binds (e.g. `kind`
 * bound by the actor runtime, logged again by a host) is dropped when its value is the same,
 * and renamed `<key>Field` when it differs (pino itself would write both, and a JSON parser
 * then keeps only one of them).
 */
export function createLogger(
  opts: { level: string; nodeId?: string; name?: string },
  dest: DestinationStream | undefined = destination,
): Logger {
  return pino(
    {
      level: opts.level,
      base: { node: opts.nodeId, ...(opts.name ? { name: opts.name } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method) {
          const first: unknown = args[0];
          if (typeof first === "object" && first !== null && !Array.isArray(first) && !(first instanceof Error)) {
            const bound = this.bindings();
            const fields = first as Record<string, unknown>;
            if (Object.keys(fields).some((k) => k in bound)) {
              const out: Record<string, unknown> = {};
              for (const [k, v] of Object.entries(fields)) {
                if (!(k in bound)) out[k] = v;
                else if (!sameValue(bound[k], v)) out[`${k}Field`] = v;
              }
              args[0] = out;
            }
          }
          return method.apply(this, args);
        },
      },
    },
    ...(dest ? [dest] : []),
  );
}
