// Lint: typescript-eslint with type-aware rules, and the layout's import boundaries.
// `npm run lint` runs this and Prettier's check; `.ci/run` runs `npm run lint`.
import { existsSync } from "node:fs";
import path from "node:path";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const ROOT = import.meta.dirname;

/** The top-level part of a repository path: "services/<domain>" for a domain, else its first folder. */
function areaOf(rel) {
  const parts = rel.split("/");
  if (parts[0] === "services" && parts.length > 2) return `services/${parts[1]}`;
  return parts.length > 1 ? parts[0] : ".";
}

/** Folders of the platform: a domain may import these, and they import no domain. */
const PLATFORM = new Set(["actors", "streams", "config", "lib", "nats", "db", "gateway", "node", "storage", "."]);

/**
 * One domain imports another only through Moleculer actions and events or NATS subjects, never
 * its files; the platform imports no domain (node/ may import the registry, services/index.ts,
 * which is the one place that names every domain).
 */
const boundaries = {
  meta: { type: "problem", schema: [], messages: { cross: "{{from}} may not import {{to}}: {{why}}" } },
  create(context) {
    const file = path.relative(ROOT, context.filename).split(path.sep).join("/");
    if (file.startsWith("test/") || file.startsWith("bin/")) return {};
    const from = areaOf(file);
    const check = (node, spec) => {
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const rootFile = !target.includes("/") && existsSync(path.join(ROOT, `${target}.ts`));
      const to =
        target === "services" || target === "services/index"
          ? "services/index.ts"
          : rootFile
            ? "."
            : areaOf(`${target}/x`);
      if (to === from) return;
      // the registry lists each domain by its module (services/<domain>/index.ts), nothing deeper
      if (file === "services/index.ts" && /^services\/[a-z-]+(\/index)?$/.test(target)) return;
      if (to === "services/index.ts") {
        if (from === "node") return;
        context.report({
          node,
          messageId: "cross",
          data: { from: file, to: spec, why: "only node/ assembles the registry" },
        });
      } else if (to.startsWith("services/")) {
        const why = from.startsWith("services/")
          ? "domains talk through actions, events and subjects"
          : "the platform imports no domain";
        context.report({ node, messageId: "cross", data: { from: file, to: spec, why } });
      } else if (!PLATFORM.has(to) && !["test", "bin"].includes(to)) {
        context.report({ node, messageId: "cross", data: { from: file, to: spec, why: "not a platform folder" } });
      } else if (["test", "bin"].includes(to)) {
        context.report({
          node,
          messageId: "cross",
          data: { from: file, to: spec, why: "tests and entry points are not imported" },
        });
      }
    };
    return {
      ImportDeclaration: (n) => check(n, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
      ExportAllDeclaration: (n) => check(n, n.source.value),
      ImportExpression: (n) => n.source.type === "Literal" && check(n, n.source.value),
    };
  },
};

export default tseslint.config(
  { ignores: ["node_modules/**", "var/**", "bench-results/**", "**/*.cjs", "**/*.mjs", "services/console/dist/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: ROOT } },
    plugins: { layout: { rules: { boundaries } } },
    rules: {
      "layout/boundaries": "error",
      // an un-awaited publish is a lost message
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      // off: it also flags every `broker.call(...) as Promise<T>` (Moleculer's call is untyped
      // across the wire; typed service contracts are the fix, not a type argument instead)
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // logs are structured pino
      "no-console": "error",
    },
  },
  {
    // actor kinds are pure: no I/O clients
    files: ["**/*.actor.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["pg", "ioredis", "moleculer", "moleculer-*", "@nats-io/*", "nats", "node:*"],
              message: "actor handlers are pure: I/O belongs in jobs",
            },
          ],
        },
      ],
    },
  },
  {
    // tests may poke at loosely typed JSON answers
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-unused-expressions": "off" },
  },
);
