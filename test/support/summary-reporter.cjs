// Mocha's spec reporter plus one closing line, "N passed, N failed", that CI reads. A failing
// hook ("before all" ...) is followed by the log lines written while it ran (a failing test's
// are printed by the root hooks, test/support/test-logs.ts); logs are otherwise in files only.
"use strict";
const Mocha = require("mocha");
const { mark, excerptSince } = require("./log-excerpts.cjs");
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_HOOK_BEGIN, EVENT_HOOK_END } =
  Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const hookMarks = new Map();
    runner.on(EVENT_HOOK_BEGIN, (hook) => hookMarks.set(hook, mark()));
    runner.on(EVENT_HOOK_END, (hook) => hookMarks.delete(hook));
    runner.on(EVENT_TEST_PASS, () => passed++);
    runner.on(EVENT_TEST_FAIL, (test) => {
      failed++;
      if (test.type !== "hook") return;
      const since = hookMarks.get(test);
      hookMarks.delete(test);
      if (!since) return;
      const text = excerptSince(since, test.fullTitle());
      if (text) process.stdout.write(text);
    });
    runner.on(EVENT_TEST_PENDING, () => skipped++);
    runner.once(EVENT_RUN_END, () => {
      process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
    });
  }
}
module.exports = SummaryReporter;
