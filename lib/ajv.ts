/**
 * The project's one Ajv factory: JSON Schema draft 2020-12 with ajv-formats.
 *
 * Schemas come in two kinds, and the factory is told which (`trust`):
 * - "untrusted" (the default): schemas that someone outside the code base supplies, such as
 *   schemas registered by admins. Ajv treats every schema as trusted code, so here the
 *   factory closes the ways a schema or a document can make validation run unbounded:
 *   - `pattern` and `patternProperties` run on RE2 (re2js, linear in the input), never on the
 *     backtracking RegExp; a pattern RE2 cannot run (backreferences, lookaround) fails to compile;
 *   - `uniqueItems` runs in O(n log n) (canonical JSON of each item in a Map), not ajv's
 *     pairwise O(n²) deep comparison;
 *   - formats: those that are regular expressions run on RE2 where RE2 compiles them; every
 *     string format refuses strings longer than {@link MAX_FORMAT_LENGTH}, so a format whose
 *     validator is super-linear costs a bounded amount per string; `url` is left out (its
 *     regex backtracks quadratically and RE2 cannot express its lookaheads: use `uri`);
 *   - `$data` is off, so no keyword takes its argument from the document.
 *   Bounds on the schema itself (size, depth, $ref expansion) are checked before compiling, by
 *   {@link ./schema-limits}.
 * - "trusted": schemas written in this code base (route parameters, envelopes, built-in document types),
 *   which may use any ECMAScript pattern (lookaround) and run on the native engine.
 */
import Ajv2020, { type ErrorObject, type Options, type FormatDefinition } from "ajv/dist/2020";
import type { RegExpEngine } from "ajv/dist/types";
import addFormats from "ajv-formats";
import { fullFormats, formatNames, type FormatName } from "ajv-formats/dist/formats";
import { RE2JS } from "re2js";

/** Longest string that an "untrusted" Ajv's string formats look at; longer ones fail the format. */
export const MAX_FORMAT_LENGTH = 8192;

/** Formats an "untrusted" Ajv leaves out, with the reason (see the module doc). */
export const EXCLUDED_FORMATS: Readonly<Partial<Record<FormatName, string>>> = {
  url: 'its validator backtracks quadratically on long input; use "uri"',
};

/** A compiled pattern that matches in time linear in its input. */
export interface LinearRegExp {
  /** True when the pattern matches somewhere in `s` (ECMAScript `RegExp.prototype.test`). */
  test(s: string): boolean;
  /** `/source/flags`: unique per pattern and flags (ajv keys its compiled patterns by it). */
  toString(): string;
}

/** A pattern that the linear-time engine cannot compile; names the pattern and why. */
export class UnsupportedPatternError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(
      `pattern ${JSON.stringify(pattern)} cannot be used: ${reason} (patterns run on a linear-time engine, ` +
        "which has no backreferences and no lookahead or lookbehind)",
    );
    this.name = "UnsupportedPatternError";
  }
}

const FLAG_BITS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  u: 0,
};

/**
 * Compiles an ECMAScript pattern (as JSON Schema's `pattern` means it) for RE2: the syntax is
 * translated (`\uXXXX`, named groups, `/`), then compiled. Flags: `i`, `m`, `s`, `u` (RE2 always
 * matches by code point). Throws {@link UnsupportedPatternError} when RE2 cannot compile it.
 * Differences from the native engine that remain: `\s` is ASCII whitespace only, `.` excludes
 * only `\n`.
 */
export function compileLinearRegExp(pattern: string, flags = ""): LinearRegExp {
  let bits = 0;
  for (const f of flags) {
    const bit = FLAG_BITS[f];
    if (bit === undefined) throw new UnsupportedPatternError(pattern, `flag ${JSON.stringify(f)} is not supported`);
    bits |= bit;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(RE2JS.translateRegExp(pattern), bits);
  } catch (err) {
    throw new UnsupportedPatternError(
      pattern,
      (err instanceof Error ? err.message : String(err)).replace(/^error parsing regexp: /, ""),
    );
  }
  const text = `/${pattern}/${flags}`;
  return { test: (s: string) => re.test(s), toString: () => text };
}

/** Ajv's `code.regExp` engine over {@link compileLinearRegExp}. */
export const linearRegExp: RegExpEngine = Object.assign(
  (pattern: string, flags: string) => compileLinearRegExp(pattern, flags),
  {
    // Only used by ajv's standalone code generation, which this project does not use.
    code: 'require("./lib/ajv").linearRegExp',
  },
);

type StringValidate = (s: string) => boolean;

/** The validator of string format `name` for untrusted schemas, or undefined when excluded. */
function linearFormat(name: FormatName): FormatDefinition<string> | FormatDefinition<number> | undefined {
  if (EXCLUDED_FORMATS[name] !== undefined) return undefined;
  const f = fullFormats[name];
  if (typeof f === "object" && !(f instanceof RegExp) && f.type === "number") return f as FormatDefinition<number>;
  const def = (typeof f === "object" && !(f instanceof RegExp) ? f : { validate: f }) as FormatDefinition<string>;
  let inner: StringValidate;
  if (def.validate instanceof RegExp) {
    const native = def.validate;
    let linear: LinearRegExp | undefined;
    try {
      linear = compileLinearRegExp(native.source, native.flags.replace(/[gy]/g, ""));
    } catch {
      // RE2 cannot express it (lookaround): the native one runs, bounded by MAX_FORMAT_LENGTH.
    }
    inner = linear ? (s) => linear.test(s) : (s) => native.test(s);
  } else if (typeof def.validate === "function") {
    inner = def.validate;
  } else {
    return def; // no validation ("password", "binary")
  }
  return { ...def, type: "string", validate: (s: string) => s.length <= MAX_FORMAT_LENGTH && inner(s) };
}

/** Canonical JSON: object keys sorted, so that deep-equal JSON values give the same text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** `uniqueItems` in O(n log n) with ajv's error shape (items ## j and i are identical, j < i). */
function addLinearUniqueItems(ajv: Ajv2020): void {
  ajv.removeKeyword("uniqueItems");
  const validate = Object.assign(
    (schema: boolean, data: unknown[]): boolean => {
      validate.errors = [];
      if (!schema) return true;
      const seen = new Map<string, number>();
      for (let i = 0; i < data.length; i++) {
        const key = canonicalJson(data[i]);
        const j = seen.get(key);
        if (j !== undefined) {
          validate.errors = [
            {
              keyword: "uniqueItems",
              params: { i, j },
              message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`,
            },
          ];
          return false;
        }
        seen.set(key, i);
      }
      return true;
    },
    { errors: [] as Array<Partial<ErrorObject>> },
  );
  ajv.addKeyword({ keyword: "uniqueItems", type: "array", schemaType: "boolean", errors: true, validate });
}

/** Options of {@link createAjv}: Ajv's own (less what the factory decides), and which kind of schemas. */
export interface AjvFactoryOptions extends Omit<Options, "code" | "$data" | "formats"> {
  /** "untrusted" (default) or "trusted": see the module doc. */
  readonly trust?: "untrusted" | "trusted";
  /** The ajv-formats formats to add (default: all that the kind allows). */
  readonly formats?: readonly FormatName[];
}

/**
 * A new Ajv (draft 2020-12) with ajv-formats (and its formatMinimum/formatMaximum keywords) for
 * schemas of the given kind; every other option is passed to Ajv as given. For "untrusted"
 * schemas the regex engine, `uniqueItems` and the formats are the bounded ones of the module doc;
 * a format listed in `formats` that is excluded for untrusted schemas is not added.
 */
export function createAjv(options: AjvFactoryOptions = {}): Ajv2020 {
  const { trust = "untrusted", formats, ...ajvOptions } = options;
  const trusted = trust === "trusted";
  const ajv = new Ajv2020({ ...ajvOptions, $data: false, ...(trusted ? {} : { code: { regExp: linearRegExp } }) });
  const names = formats ?? formatNames;
  if (trusted) {
    addFormats(ajv, { formats: [...names], keywords: true });
    return ajv;
  }
  addFormats(ajv, { formats: [], keywords: true });
  for (const name of names) {
    const def = linearFormat(name);
    if (def) ajv.addFormat(name, def);
  }
  addLinearUniqueItems(ajv);
  return ajv;
}
