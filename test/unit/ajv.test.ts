/**
 * The Ajv factory and the schema bounds, pure: the untrusted kind matches what the native engine
 * and ajv's own keywords would decide on ordinary input, in bounded time on hostile input, and
 * schemas that could not be validated in bounded time are refused before compiling. The
 * reference ("theirs") is the trusted kind: stock ajv keywords and ajv-formats' formats.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fullFormats } from "ajv-formats/dist/formats";
import { compileLinearRegExp, createAjv, MAX_FORMAT_LENGTH, UnsupportedPatternError } from "../../lib/ajv";
import { DEFAULT_SCHEMA_LIMITS, schemaLimitProblems } from "../../lib/schema-limits";

const strictish = {
  allErrors: true,
  strictSchema: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  logger: false,
} as const;

describe("lib/ajv: the one Ajv factory", () => {
  it("runs patterns on RE2 with JSON Schema's semantics (unanchored search, ECMAScript escapes)", () => {
    const cases: Array<[string, string[]]> = [
      ["^(a+)+$", ["aaa", "aa!", ""]], // short inputs only: the native engine is the reference here
      ["\\d{3}-\\d{4}", ["call 555-1234 now", "55-1234"]],
      ["^[\\u00e9-\\u00ff]+$", ["\u00e9\u00ff", "e"]],
      ["^(?<word>[a-z]+)\\/x$", ["ab/x", "ab/y"]],
      ["^\\p{L}+$", ["Zoë", "Zo3"]],
      ["colou?r", ["COLOR", "colour"]],
    ];
    for (const [pattern, inputs] of cases) {
      const linear = compileLinearRegExp(pattern, "u");
      const native = new RegExp(pattern, "u");
      for (const s of inputs) expect(linear.test(s), `${pattern} on ${JSON.stringify(s)}`).to.equal(native.test(s));
    }
    expect(String(compileLinearRegExp("a+", "u"))).to.equal("/a+/u");
  });

  it("refuses what RE2 cannot run, naming the pattern", () => {
    for (const p of ["(a)\\1", "^(?=a)", "(?!x)y", "(?<=a)b", "(?<!a)b", "x{1000}{1000}"]) {
      expect(() => compileLinearRegExp(p, "u"), p).to.throw(UnsupportedPatternError, JSON.stringify(p));
    }
    expect(() => createAjv().compile({ type: "string", pattern: "(a)\\1" })).to.throw(UnsupportedPatternError);
  });

  it("validates a catastrophic pattern on a long input at once", () => {
    const validate = createAjv(strictish).compile({ type: "string", pattern: "^(a+)+$" });
    const t0 = performance.now();
    expect(validate("a".repeat(50_000) + "!")).to.equal(false);
    expect(validate("a".repeat(50_000))).to.equal(true);
    // seconds of slack for a loaded machine; a backtracking engine would not finish at all
    expect(performance.now() - t0).to.be.below(2_000);
  });

  it("decides uniqueItems as ajv does, in O(n log n)", () => {
    const ours = createAjv(strictish).compile({ type: "array", uniqueItems: true });
    const theirs = createAjv({ trust: "trusted", allErrors: true }).compile({ type: "array", uniqueItems: true });
    const arrays: unknown[][] = [
      [],
      [1],
      [1, 2, 1],
      [1, "1"],
      [
        { a: 1, b: [2] },
        { b: [2], a: 1 },
      ],
      [{ a: 1 }, { a: 2 }],
      [
        [1, 2],
        [2, 1],
      ],
      [null, 0, false, ""],
      [0, -0],
    ];
    for (const a of arrays) {
      expect(ours(a), JSON.stringify(a)).to.equal(theirs(a));
      if (!theirs(a)) expect(ours.errors?.[0]?.message).to.equal(theirs.errors?.[0]?.message);
    }
    const distinct = Array.from({ length: 50_000 }, (_, i) => ({ i, tags: [i % 7] }));
    const t0 = performance.now();
    expect(ours(distinct)).to.equal(true);
    expect(performance.now() - t0).to.be.below(5_000); // pairwise deep comparison: 1.25e9 calls
  });

  it("agrees with ajv-formats on ordinary values, caps string formats, and leaves out url", () => {
    const ours = createAjv(strictish);
    const theirs = createAjv({ trust: "trusted", strict: false });
    const samples: Record<string, string[]> = {
      email: ["jo@example.org", "a.b+c@sub.example.co", "nope", "a@b", "@x.org"],
      "uri-reference": ["https://example.com/a?b#c", "/relative/path", "a b", "%zz"],
      ipv4: ["127.0.0.1", "256.1.1.1", "1.2.3"],
      ipv6: ["::1", "2001:db8::8a2e:370:7334", "1:::2"],
      uuid: ["123e4567-e89b-12d3-a456-426614174000", "123e4567"],
      hostname: ["example.com", "-bad.com", "a".repeat(300)],
      duration: ["P1Y2M", "PT", "P", "P1W"],
      "date-time": ["2025-01-02T03:04:05Z", "2025-13-01T00:00:00Z"],
      uri: ["urn:isbn:0451450523", "https://example.com", "no-scheme"],
    };
    for (const [format, values] of Object.entries(samples)) {
      const a = ours.compile({ type: "string", format });
      const b = theirs.compile({ type: "string", format });
      for (const v of values) expect(a(v), `${format} ${JSON.stringify(v)}`).to.equal(b(v));
    }
    const uri = ours.compile({ type: "string", format: "uri" });
    expect(uri(`https://example.com/${"a".repeat(MAX_FORMAT_LENGTH)}`)).to.equal(false);
    expect(() => createAjv(strictish).compile({ type: "string", format: "url" })).to.throw(/unknown format "url"/);
    expect(fullFormats.url).to.be.instanceOf(RegExp); // still in ajv-formats: left out on purpose
  });

  it("keeps the native engine for trusted schemas (lookaround allowed)", () => {
    const v = createAjv({ trust: "trusted", strict: true }).compile({
      type: "string",
      pattern: "^(?!x)[a-z]+$",
      format: "url",
    });
    expect(v("abc")).to.equal(false); // url format: not a URL
    expect(createAjv({ trust: "trusted" }).compile({ type: "string", pattern: "^(?!x)[a-z]+$" })("xyz")).to.equal(
      false,
    );
  });
});

describe("lib/ajv is the only place that makes an Ajv", () => {
  const root = path.resolve(__dirname, "..", "..");
  // A constructor call of Ajv (any draft); a default (value) import of ajv, of one of its drafts or
  // of ajv-formats; a require of them. Type-only imports and ajv-formats' format tables are fine.
  const MAKES_AJV = [
    /\bnew\s+Ajv\w*\s*\(/,
    /^\s*import\s+(?!type\b)\w+[^;]*?\bfrom\s+["'](?:ajv(?:\/dist\/[\w-]+)?|ajv-formats)["']/m,
    /\brequire\s*\(\s*["'](?:ajv(?:\/dist\/[\w-]+)?|ajv-formats)["']/,
  ];

  it("finds no other file that constructs Ajv or adds ajv-formats", () => {
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.ts"], {
      cwd: root,
      encoding: "utf8",
    })
      .split("\n")
      .filter((f) => f !== "" && existsSync(path.join(root, f)));
    expect(files).to.include("lib/ajv.ts");
    const makers = files.filter((f) => {
      const text = readFileSync(path.join(root, f), "utf8");
      return MAKES_AJV.some((re) => re.test(text));
    });
    expect(makers).to.deep.equal(["lib/ajv.ts"]);
  });
});

describe("lib/schema-limits: bounds on a schema from outside", () => {
  const L = DEFAULT_SCHEMA_LIMITS;

  it("accepts ordinary schemas, recursive ones included", () => {
    expect(
      schemaLimitProblems({
        type: "object",
        required: ["a"],
        properties: {
          a: { type: "string", pattern: "^[a-z]+$" },
          b: { type: "array", items: { type: "number" }, uniqueItems: true },
        },
      }),
    ).to.deep.equal([]);
    const tree = {
      $defs: {
        node: {
          type: "object",
          properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/node" } } },
        },
      },
      $ref: "#/$defs/node",
    };
    expect(schemaLimitProblems(tree)).to.deep.equal([]);
    expect(schemaLimitProblems(true)).to.deep.equal([]);
  });

  it("names every pattern RE2 cannot run, with its JSON pointer", () => {
    const p = schemaLimitProblems(
      { properties: { pattern: { pattern: "(a)\\1" }, q: { patternProperties: { "^(?=x)": true } } } },
      L,
      "/schema",
    );
    expect(p.map((x) => x.path)).to.deep.equal([
      "/schema/properties/pattern/pattern",
      "/schema/properties/q/patternProperties/^(?=x)",
    ]);
    expect(p[0]!.message).to.contain(JSON.stringify("(a)\\1"));
    // "pattern" as a property name is not a keyword
    expect(schemaLimitProblems({ properties: { pattern: { type: "string" } } })).to.deep.equal([]);
  });

  it("refuses size, depth, keyword and patternProperties counts over the limits", () => {
    expect(schemaLimitProblems({ description: "x".repeat(L.maxBytes) })[0]!.message).to.match(/bytes; at most/);
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < L.maxDepth; i++) deep = { not: deep };
    expect(schemaLimitProblems(deep)[0]!.message).to.match(/nests deeper than/);
    // compact keywords (8 bytes each), so that the count and not the size is over
    let chain: Record<string, unknown> = {};
    for (let i = 0; i < 30; i++) chain = { not: chain };
    const many = Object.fromEntries(
      Array.from({ length: Math.ceil(L.maxKeywords / 30) + 1 }, (_, i) => [`p${i}`, chain]),
    );
    const parsed: unknown = JSON.parse(JSON.stringify({ properties: many })); // as it arrives: no shared objects
    expect(schemaLimitProblems(parsed)[0]!.message).to.match(/keywords; at most/);
    const pats = Object.fromEntries(Array.from({ length: L.maxPatternProperties + 1 }, (_, i) => [`^p${i}`, true]));
    expect(schemaLimitProblems({ patternProperties: pats })[0]!.message).to.match(
      /patternProperties patterns; at most/,
    );
  });

  it("refuses remote, dynamic and unresolvable references, and a nested $id", () => {
    expect(schemaLimitProblems({ $ref: "https://example.com/s.json" })[0]!.path).to.equal("/$ref");
    expect(schemaLimitProblems({ $ref: "#anchor" })[0]!.path).to.equal("/$ref");
    expect(schemaLimitProblems({ $dynamicRef: "#meta" })[0]!.path).to.equal("/$dynamicRef");
    expect(schemaLimitProblems({ $ref: "#/$defs/missing" })[0]!.message).to.match(/does not resolve/);
    expect(schemaLimitProblems({ properties: { a: { $id: "https://example.com/a" } } })[0]!.path).to.equal(
      "/properties/a/$id",
    );
  });

  it("refuses $ref blow-ups and $ref loops that never go into the data", () => {
    const defs: Record<string, unknown> = { d30: false };
    for (let i = 0; i < 30; i++)
      defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    expect(schemaLimitProblems({ $defs: defs, $ref: "#/$defs/d0" })[0]!.message).to.match(
      /applies more than 10000 subschemas/,
    );
    // the same doubling one level of data at a time: 2^depth applications at depth 32
    const perLevel = {
      $defs: {
        n: { anyOf: [{ properties: { a: { $ref: "#/$defs/n" } } }, { properties: { a: { $ref: "#/$defs/n" } } }] },
      },
      $ref: "#/$defs/n",
    };
    expect(schemaLimitProblems(perLevel)[0]!.message).to.match(/applies more than/);
    const loop = { $defs: { a: { allOf: [{ $ref: "#/$defs/b" }] }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" };
    expect(schemaLimitProblems(loop)[0]!.message).to.match(/\$ref cycle/);
    expect(schemaLimitProblems({ $ref: "#" })[0]!.message).to.match(/\$ref cycle/);
  });
});
