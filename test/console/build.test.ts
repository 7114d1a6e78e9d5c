/**
 * The console's committed build (services/console/dist) is what its source builds to: a fresh
 * `vite build` of services/console/web into a temporary folder gives the same files, byte for
 * byte, and the page names only its own bundled assets (no CDN, no outside fonts).
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "..", "..");
const DIST = path.join(ROOT, "services", "console", "dist");

function files(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))],
    )
    .sort();
}

describe("console build", function () {
  this.timeout(60_000);
  let out: string;

  before(function () {
    out = mkdtempSync(path.join(tmpdir(), "console-build-"));
  });

  after(function () {
    rmSync(out, { recursive: true, force: true });
  });

  it("builds from source to exactly the committed files", async function () {
    await promisify(execFile)(
      process.execPath,
      [
        path.join(ROOT, "node_modules", "vite", "bin", "vite.js"),
        "build",
        "--config",
        path.join(ROOT, "services", "console", "web", "vite.config.mjs"),
        "--outDir",
        out,
        "--emptyOutDir",
      ],
      { cwd: ROOT },
    );
    const built = files(out);
    expect(built).to.deep.equal(files(DIST), "run `npm run build:console` and commit services/console/dist");
    for (const f of built)
      expect(readFileSync(path.join(out, f)).equals(readFileSync(path.join(DIST, f))), `${f} differs`).to.equal(true);
  });

  it("loads nothing from another origin", function () {
    const html = readFileSync(path.join(DIST, "index.html"), "utf8");
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).to.be.above(1);
    for (const r of refs) expect(r).to.match(/^\/console\/assets\/[A-Za-z0-9_-]+\.(js|css)$/);
    for (const f of files(path.join(DIST, "assets"))) {
      const text = readFileSync(path.join(DIST, "assets", f), "utf8");
      // XML namespace names are identifiers, not requests
      const urls = [...text.matchAll(/https?:\/\/[^\s"'`)]+/g)]
        .map((m) => m[0])
        .filter((u) => !u.startsWith("http://www.w3.org/"));
      expect(urls, f).to.deep.equal([]);
      expect(text, f).not.to.match(/@import|@font-face/);
    }
  });
});
