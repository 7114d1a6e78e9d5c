import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Whether two field values are the same (bindings are plain JSON). */
function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The process-wide structured logger (pino, JSON lines on stdout, or on `destination`).
 * A line never carries a key twice: a field that a child logger already binds (e.g. `kind`
 * bound by the actor runtime, logged again by a host) is dropped when its value is the same,
 * and renamed `<key>Field` when it differs (pino itself would write both, and a JSON parser
 * then keeps only one of them).
 */
export function createLogger(
  opts: { level: string; nodeId?: string; name?: string },
  destination?: DestinationStream,
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
    ...(destination ? [destination] : []),
  );
}
