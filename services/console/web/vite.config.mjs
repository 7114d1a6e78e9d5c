// Builds the console (services/console/web) into services/console/dist, served at /console.
// `npm run build:console`; the output is committed and test/console/build.test.ts checks that
// a fresh build gives the same bytes.
import { defineConfig } from "vite";
import path from "node:path";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: "/console/",
  logLevel: "warn",
  // no public dir, no external anything: everything is bundled
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: path.join(here, "..", "dist"),
    emptyOutDir: true,
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});
