/** Where this test run's log files go (var/test-logs/<run>/, set up by test/support/test-logs.ts). */
import path from "node:path";
import { mkdirSync } from "node:fs";

/** The run's log directory, created if needed; `file` joins a file name to it. */
export function testLogDir(file?: string): string {
  const dir = process.env["SY_TEST_LOG_DIR"] ?? path.resolve(__dirname, "..", "..", "var", "test-logs", "adhoc");
  mkdirSync(dir, { recursive: true });
  return file ? path.join(dir, file) : dir;
}
