import pino, { type Logger } from "pino";

export type { Logger };

/** The process-wide structured logger (pino, JSON lines on stdout). */
export function createLogger(opts: { level: string; nodeId?: string; name?: string }): Logger {
  return pino({
    level: opts.level,
    base: { node: opts.nodeId, ...(opts.name ? { name: opts.name } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
