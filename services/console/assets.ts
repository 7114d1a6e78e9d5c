/**
 * The console's built assets (services/console/dist/, made by `npm run build:console` from
 * web/ and committed), read once into memory and served by the gateway of every node: the page
 * at /console and its hashed files at /console/assets/<file>. No CDN and no outside fonts: the
 * Content-Security-Policy allows this origin only. Every gateway serves them, whichever node
 * hosting the console answers (the local one when there is one).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Where the build is. */
export const DIST_DIR = path.join(__dirname, "dist");

/** Content-Security-Policy of the console's page: own scripts and styles, same-origin calls only. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** One file of the build. */
export interface Asset {
  readonly type: string;
  readonly body: string;
}

// text only: an answer may cross nodes as JSON (the page is served wherever the console runs)
const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml; charset=utf-8",
};

/** The page and its assets (`index` is null when the build is missing). */
export interface ConsoleAssets {
  readonly index: string | null;
  readonly files: ReadonlyMap<string, Asset>;
}

/** Reads the build under `dir` (default {@link DIST_DIR}). */
export function loadAssets(dir = DIST_DIR): ConsoleAssets {
  const indexPath = path.join(dir, "index.html");
  const files = new Map<string, Asset>();
  const assetDir = path.join(dir, "assets");
  if (existsSync(assetDir))
    for (const f of readdirSync(assetDir)) {
      const type = TYPES[path.extname(f)];
      if (type) files.set(f, { type, body: readFileSync(path.join(assetDir, f), "utf8") });
    }
  return { index: existsSync(indexPath) ? readFileSync(indexPath, "utf8") : null, files };
}
