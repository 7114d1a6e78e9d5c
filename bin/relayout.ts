/**
 * One-off layout tool (kept for branches still on the old layout): moves files by a table of
 * old -> new paths (`git mv`) and rewrites every relative import, export and require in the
 * repository's TypeScript files so that they point at the moved files. Idempotent: run it again
 * after merging a branch that was started before the move (`npx tsx bin/relayout.ts`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..");

/** Old path -> new path, relative to the repository root (files, or folders ending in "/"). */
export const MOVES: ReadonlyArray<readonly [string, string]> = [
  ["actors/receipt.actor.ts", "services/receipts/receipt.actor.ts"],
  ["actors/supporter.actor.ts", "services/supporters/supporter.actor.ts"],
  ["actors/probe.actor.ts", "services/probe/probe.actor.ts"],
  ["services/probe.service.ts", "services/probe/index.ts"],
  ["services/runtime.service.ts", "services/runtime/service.ts"],
  ["services/receipts.service.ts", "services/receipts/service.ts"],
  ["services/events.service.ts", "services/events/service.ts"],
  ["services/supporters.service.ts", "services/supporters/service.ts"],
  ["services/gateway.service.ts", "services/gateway/service.ts"],
  ["streams/receipts.stream.ts", "services/receipts/streams.ts"],
  ["streams/events.stream.ts", "services/events/streams.ts"],
  ["streams/supporters.stream.ts", "services/supporters/streams.ts"],
  ["config/supporters.ts", "services/supporters/config.ts"],
  ["simulators/supporters.ts", "services/supporters/simulator.ts"],
  ["simulators/server.ts", "services/receipts/simulator.ts"],
  ["simulators/book.ts", "services/receipts/simulator-book.ts"],
  ["simulators/config.ts", "services/receipts/simulator-config.ts"],
  ["simulators/http.ts", "lib/sim-http.ts"],
  ["simulators/index.ts", "services/receipts/simulators.ts"],
  ["gateway/own-routes.ts", "services/gateway/own-routes.ts"],
  ["gateway/docs.ts", "services/gateway/docs.ts"],
  ["clients/", "services/gateway/clients/"],
  ["receipts/", "services/receipts/"],
  ["events/", "services/events/"],
  ["supporters/", "services/supporters/"],
];

const git = (...args: string[]): string => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" });

/** Every tracked or untracked (not ignored) file, relative to the root. */
function files(): string[] {
  return git("ls-files", "--cached", "--others", "--exclude-standard")
    .split("\n")
    .filter((f) => f && existsSync(path.join(ROOT, f)));
}

/** The new path of `file` (relative), or `file` itself when no move covers it. */
export function moved(file: string): string {
  for (const [from, to] of MOVES) {
    if (from.endsWith("/") ? file.startsWith(from) : file === from)
      return from.endsWith("/") ? to + file.slice(from.length) : to;
  }
  return file;
}

/** The old path of `file` (relative), the inverse of {@link moved}: files first, then folders. */
export function unmoved(file: string): string {
  for (const [from, to] of MOVES) if (!to.endsWith("/") && file === to) return from;
  for (const [from, to] of MOVES) if (to.endsWith("/") && file.startsWith(to)) return from + file.slice(to.length);
  return file;
}

/** The file a relative specifier names from `dir` among `known` (old paths), or undefined. */
function resolve(dir: string, spec: string, known: ReadonlySet<string>): string | undefined {
  const base = path.posix.normalize(path.posix.join(dir, spec));
  for (const c of [base, `${base}.ts`, `${base}/index.ts`]) if (known.has(c)) return c;
  return undefined;
}

/** The specifier that names `target` from `dir` (without .ts and /index). */
function specifier(dir: string, target: string): string {
  const t = target.replace(/\.ts$/, "").replace(/\/index$/, "");
  const rel = path.posix.relative(dir, t) || ".";
  return rel.startsWith(".") ? rel : `./${rel}`;
}

const SPEC = /(\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*|\.{1,2})\2/g;

/**
 * Moves what is still at an old path, then rewrites every relative specifier as written from
 * the file's old location (old-layout text) to name the moved target from its new location.
 * In a file not moved by this run, a specifier that already resolves from the file's new
 * location is left alone (a merge mixes
 * old-layout lines into new-layout files), so a second run changes nothing. File arguments
 * limit the rewrite to those files.
 */
function main(): void {
  const movedNow = new Set<string>();
  for (const f of files()) {
    const to = moved(f);
    if (to === f) continue;
    mkdirSync(path.dirname(path.join(ROOT, to)), { recursive: true });
    if (git("ls-files", "--", f).trim() !== "") git("mv", f, to);
    else execFileSync("mv", [path.join(ROOT, f), path.join(ROOT, to)]);
    movedNow.add(to);
  }
  const current = files();
  const knownOld = new Set(current.map(unmoved));
  const knownNew = new Set(current);
  const only = process.argv.slice(2);
  let changed = 0;
  for (const cur of current) {
    if (!cur.endsWith(".ts") || (only.length > 0 && !only.includes(cur))) continue;
    const abs = path.join(ROOT, cur);
    if (!statSync(abs).isFile()) continue;
    const src = readFileSync(abs, "utf8");
    const oldDir = path.posix.dirname(unmoved(cur));
    const out = src.replace(SPEC, (m, lead: string, q: string, spec: string) => {
      // Valid where the file is now: new-layout text (or a merge's untouched line): keep it.
      if (!movedNow.has(cur) && resolve(path.posix.dirname(cur), spec, knownNew)) return m;
      const target = resolve(oldDir, spec, knownOld);
      if (!target) return m;
      return `${lead}${q}${specifier(path.posix.dirname(cur), moved(target))}${q}`;
    });
    if (out !== src) {
      writeFileSync(abs, out);
      changed++;
    }
  }
  process.stdout.write(`relayout: ${changed} files rewritten\n`);
}

if (require.main === module) main();
