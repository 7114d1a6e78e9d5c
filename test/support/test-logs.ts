/**
 * Root hooks of the test suite (.mocharc `require`): every run gets a log directory,
 * var/test-logs/<run>/ (in SY_TEST_LOG_DIR, so node processes that the helpers start write
 * their files there); loggers made in this process (nodes started in-process, Moleculer
 * brokers from brokerOptions) write to in-process.log there instead of stdout; JSON log lines
 * that anything else writes to stdout or stderr are moved there too. The output of `npm test`
 * is then the reporter's, plus, for a failing test, the log lines written while it ran.
 */
import path from "node:path";
import pino from "pino";
import { setLogDestination } from "../../lib/logger";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const excerpts = require("./log-excerpts.cjs") as {
  logDir(): string;
  mark(): Map<string, number>;
  excerptSince(since: Map<string, number>, title: string): string;
};

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
process.env["SY_TEST_LOG_DIR"] ??= path.resolve(__dirname, "..", "..", "var", "test-logs", `${stamp}-${process.pid}`);
const dir = excerpts.logDir();
const inProcess = pino.destination({ dest: path.join(dir, "in-process.log"), sync: true, mkdir: true });
setLogDestination(inProcess);

/** Writes to the real stdout (the reporter's), bypassing the JSON-line filter below. */
export const writeOut: (s: string) => boolean = process.stdout.write.bind(process.stdout);

// A safety net for loggers that write to the process streams themselves: whole JSON log lines
// go to the log file, everything else (the reporter) passes.
const LOG_LINE = /^\{"level":/;
for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : null;
    if (text !== null && LOG_LINE.test(text)) {
      inProcess.write(text.endsWith("\n") ? text : `${text}\n`);
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    }
    return original(chunk, ...rest);
  }) as typeof stream.write;
}

let since = new Map<string, number>();

/** The root hooks: mark the logs before each test, print what a failed test's run wrote. */
export const mochaHooks = {
  beforeEach(): void {
    since = excerpts.mark();
  },
  afterEach(this: Mocha.Context): void {
    const t = this.currentTest;
    if (t?.state !== "failed") return;
    const text = excerpts.excerptSince(since, t.fullTitle());
    if (text) writeOut(text);
  },
};
