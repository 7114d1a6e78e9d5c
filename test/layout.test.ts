/**
 * The layout holds: no import cycles among the repository's modules (type-only imports count
 * too: a cycle of types is still a knot a reader has to untie), and each domain's name appears
 * in no source file outside its own folder, the tests, the entry points and the registry.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { DOMAINS } from "../services";

const ROOT = path.resolve(__dirname, "..");

/** Tracked and untracked (not ignored) TypeScript files, relative to the root. */
function sources(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.ts"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f !== "" && existsSync(path.join(ROOT, f)));
}

const SPEC = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}(?:\/[^"']*)?)["']/gm;

/** The relative imports of `file`, resolved to repository files. */
function importsOf(file: string, known: ReadonlySet<string>): string[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(SPEC)) {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!));
    const hit = [base, `${base}.ts`, `${base}/index.ts`].find((c) => known.has(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** The import graph of `files`. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(files.map((f) => [f, importsOf(f, known)]));
}

/** Every cycle's nodes: one per strongly connected component of more than one node, or a self-edge. */
export function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const files = [...edges.keys()];
  // Tarjan's strongly connected components, iterative enough for a few hundred files.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return cycles;
}

/**
 * Source files outside `services/<domain>/`, test/, bin/ and the registry that name the domain
 * (case-insensitive): for each domain, the words only it uses.
 */
export function domainLeaks(files: readonly string[], domain: string, re: RegExp): string[] {
  return files.filter(
    (f) =>
      !f.startsWith(`services/${domain}/`) &&
      !f.startsWith("test/") &&
      !f.startsWith("bin/") &&
      f !== "services/index.ts" &&
      re.test(readFileSync(path.join(ROOT, f), "utf8")),
  );
}

describe("layout", function () {
  // Each domain by its name, as `git grep -l -i -e <name>` would search (receipts and supporters
  // by their singular, which the plural contains). The runtime and gateway domains are named
  // after the platform parts they host (actors/ is the runtime, gateway/ the route kit), so their
  // names are the platform's words; they are checked by the import-boundary rule instead.
  const DOMAIN_WORDS: Record<string, RegExp> = {
    probe: /probe/i,
    receipts: /receipt/i,
    supporters: /supporter/i,
    "tenant-events": /tenant-events/i,
    // "console" alone is also the word of no-console and of "the operator console" in comments
    console: /consoleDomain|admin\/console|"console\.[a-z]/,
    // the commerce domains call each other's actions by name (catalog.reserve, payments.authorize):
    // that is their contract, so each is searched for by its module, settings and file names
    catalog: /catalogDomain|\bCATALOG_[A-Z]|\bCatalogStore\b|services\/catalog\//,
    cart: /cartDomain|\bCART_[A-Z]|cart\.actor|services\/cart\//,
    orders: /ordersDomain|\bORDERS_[A-Z]|order\.actor|services\/orders\//,
    notifications: /notificationsDomain|\bNOTIFICATIONS_[A-Z]|notification\.actor|services\/notifications\//,
    sessions: /sessionsDomain|\bSESSIONS_[A-Z]|services\/sessions\//,
    payments: /paymentsDomain|\bPAYMENTS_[A-Z]|card-simulator|wallet-simulator|services\/payments\//,
    // tracking scores encounters through the action `rewards.score` by name: that is its contract
    rewards: /reward(?!s\.score\b)/i,
    // "users" is every domain's word: the users domain by its module, service and tables
    users: /usersDomain|userdomain|\bud_(users|transactions)\b/,
    // "archive" is also a plain word (receipts call the archive's actions by name), so the
    // archive domain is searched for by its module and settings
    archive: /archiveDomain|ARCHIVE_[A-Z]|services\/archive/,
    // "tracking" is also a plain word (delivery tracking, tracking ids): the module, settings and folder
    tracking: /trackingDomain|\bTRACKING_[A-Z]|services\/tracking\//,
    // "agent" is also the word of user agents and of the console's "future agents' findings":
    // the agents domain is searched for by its module, settings and services
    agents: /agentsDomain|\bAGENTS_[A-Z]|services\/agents\/|\b(health|quality|security)Agent\b/,
  };
  it("checks every domain of the registry but the platform's own", function () {
    const names = DOMAINS.map((d) => d.name).filter((n) => n !== "runtime" && n !== "gateway");
    expect(Object.keys(DOMAIN_WORDS).sort()).to.deep.equal([...names].sort());
  });
  for (const [domain, re] of Object.entries(DOMAIN_WORDS)) {
    it(`names the ${domain} domain in no source file outside services/${domain}/, test/, bin/ and the registry`, function () {
      expect(domainLeaks(sources(), domain, re)).to.deep.equal([]);
    });
  }

  it("has no import cycles", function () {
    const cycles = findCycles(importGraph(sources()));
    expect(cycles.map((c) => c.join(" <-> "))).to.deep.equal([]);
  });

  it("finds cycles when there are some (the check bites)", function () {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
    ]);
    expect(findCycles(g)).to.deep.equal([["a", "b", "c"], ["e"]]);
    expect(
      findCycles(
        new Map([
          ["a", ["b"]],
          ["b", []],
        ]),
      ),
    ).to.deep.equal([]);
  });
});
