// The logs of one test run: node processes started by the test helpers and in-process loggers
// write files under var/test-logs/<run>/ (SY_TEST_LOG_DIR); marks and excerpts let the root
// hooks (test-logs.ts) and the reporter print what was written while a failing test or hook ran.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const MAX_LINES = 80;
const MAX_BYTES = 256 * 1024;

/** The run's log directory (created on first use). */
function logDir() {
  const dir = process.env.SY_TEST_LOG_DIR || path.resolve(__dirname, "..", "..", "var", "test-logs", "adhoc");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function files(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Sizes of every log file of the run now. */
function mark() {
  const sizes = new Map();
  for (const f of files(logDir())) {
    try {
      sizes.set(f, fs.statSync(f).size);
    } catch {
      // removed meanwhile
    }
  }
  return sizes;
}

/** What each file gained since `since` (the last MAX_LINES lines of it), as printable text. */
function excerptSince(since, title) {
  const parts = [];
  for (const f of files(logDir())) {
    let size;
    try {
      size = fs.statSync(f).size;
    } catch {
      continue;
    }
    const from = since.get(f) ?? 0;
    if (size <= from) continue;
    const start = Math.max(from, size - MAX_BYTES);
    const fd = fs.openSync(f, "r");
    const buf = Buffer.alloc(size - start);
    try {
      fs.readSync(fd, buf, 0, buf.length, start);
    } finally {
      fs.closeSync(fd);
    }
    const lines = buf
      .toString("utf8")
      .split("\n")
      .filter((l) => l.length > 0);
    const shown = lines.slice(-MAX_LINES);
    const rel = path.relative(process.cwd(), f);
    parts.push(
      `  --- ${rel}${shown.length < lines.length ? ` (last ${shown.length} of ${lines.length} lines)` : ""}\n` +
        shown.map((l) => `  | ${l}`).join("\n"),
    );
  }
  if (parts.length === 0) return "";
  return `\n  ===== logs written while "${title}" ran (full files in ${path.relative(process.cwd(), logDir())}/) =====\n${parts.join("\n")}\n  ===== end of logs of "${title}" =====\n\n`;
}

module.exports = { logDir, mark, excerptSince };
