/**
 * Bounds on a JSON Schema from outside, checked before it is compiled, pure. Together with the
 * "untrusted" Ajv of {@link ./ajv} (linear regexes, uniqueItems and formats) they keep the work
 * of compiling the schema, and of validating one document against it, bounded:
 * - size: serialized bytes, nesting depth and the number of keywords (what compiling costs), and
 *   the number of `patternProperties` patterns (each is tried on every key of a document);
 * - patterns: every `pattern` and `patternProperties` key must compile on the linear-time
 *   engine; the problem names the pattern and where it is;
 * - references: `$ref` must be a local JSON pointer ("#" or "#/..."); `$dynamicRef`,
 *   `$recursiveRef` and a nested `$id` (which would change what "#" means) are refused;
 * - expansion: with every `$ref` followed, the number of subschemas applied to the values at any
 *   one depth of the document (up to `maxDataDepth`) is at most `maxApplications`. This refuses
 *   schemas whose references multiply (`anyOf: [{$ref: a}, {$ref: a}]` nested n times costs 2^n
 *   on every value) and references that loop without going into the document (which would
 *   never end), while recursive schemas for recursive data (a tree node whose children are
 *   nodes) stay allowed.
 */
import { compileLinearRegExp, UnsupportedPatternError } from "./ajv";
import type { ErrorDetail } from "./errors";

/** The bounds of {@link schemaLimitProblems}. */
export interface SchemaLimits {
  /** Largest serialized schema (UTF-8 bytes). */
  readonly maxBytes: number;
  /** Deepest nesting of the schema's JSON (objects and arrays). */
  readonly maxDepth: number;
  /** Most keywords (keys of schema objects) in the whole schema. */
  readonly maxKeywords: number;
  /**
   * Most `patternProperties` patterns in the whole schema: each one is tried on every key of the
   * objects it applies to, so their number multiplies the cost of every document.
   */
  readonly maxPatternProperties: number;
  /** Deepest document the schema will be applied to (the intake's limit). */
  readonly maxDataDepth: number;
  /** Most subschema applications at one depth of the document, `$ref`s expanded. */
  readonly maxApplications: number;
}

/** Defaults sized for schemas registered at run time: room for large real schemas, none for blow-ups. */
export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = {
  maxBytes: 64 * 1024,
  maxDepth: 64,
  maxKeywords: 4000,
  maxPatternProperties: 64,
  maxDataDepth: 32,
  maxApplications: 10_000,
};

/** Keywords whose value is one subschema, applied to the same value (in place) or to its parts. */
const ONE_IN_PLACE = ["not", "if", "then", "else"];
const ONE_DESCEND = [
  "items",
  "additionalItems",
  "contains",
  "additionalProperties",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
];
/** Keywords whose value is an array of subschemas. */
const ARRAY_IN_PLACE = ["allOf", "anyOf", "oneOf"];
const ARRAY_DESCEND = ["prefixItems", "items"];
/** Keywords whose value is an object of subschemas. */
const MAP_IN_PLACE = ["dependentSchemas", "dependencies"];
const MAP_DESCEND = ["properties", "patternProperties"];
/** Subschemas that are only reachable through `$ref` (or not applied at all). */
const MAP_NONE = ["$defs", "definitions"];
const ONE_NONE = ["contentSchema"];

interface Node {
  readonly pointer: string;
  readonly inPlace: Node[];
  readonly descend: Node[];
  /** Unresolved `$ref` of this node, resolved once the whole schema is walked. */
  ref?: string;
}

const escape = (token: string): string => token.replace(/~/g, "~0").replace(/\//g, "~1");

/** Depth of a JSON value, iterative (a hostile schema cannot exhaust the stack); stops past `limit`. */
function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** Walks the schema, checking patterns and references, and builds the application graph. */
class Walker {
  readonly problems: ErrorDetail[] = [];
  readonly nodes = new Map<object, Node>();
  private readonly unresolved: Node[] = [];
  keywords = 0;
  patternProperties = 0;

  constructor(
    private readonly root: object,
    private readonly base: string,
  ) {}

  private problem(pointer: string, message: string): void {
    if (this.problems.length < 20) this.problems.push({ path: `${this.base}${pointer}`, message });
  }

  /** The node of the schema at `pointer` (boolean schemas are leaves; non-schemas are left to ajv). */
  node(schema: unknown, pointer: string): Node {
    if (typeof schema !== "object" || schema === null || Array.isArray(schema))
      return { pointer, inPlace: [], descend: [] };
    const known = this.nodes.get(schema);
    if (known) return known;
    const node: Node = { pointer, inPlace: [], descend: [] };
    this.nodes.set(schema, node);
    const s = schema as Record<string, unknown>;
    this.keywords += Object.keys(s).length;
    this.checkKeywords(s, pointer, node);
    const at = (k: string): string => `${pointer}/${escape(k)}`;
    for (const k of ONE_IN_PLACE) if (k in s) node.inPlace.push(this.node(s[k], at(k)));
    for (const k of ONE_DESCEND) if (k in s && !Array.isArray(s[k])) node.descend.push(this.node(s[k], at(k)));
    for (const k of ONE_NONE) if (k in s) this.node(s[k], at(k));
    const each = (k: string, into: Node[] | null): void => {
      const v = s[k];
      if (Array.isArray(v))
        v.forEach((sub, i) => (into ? into.push(this.node(sub, `${at(k)}/${i}`)) : this.node(sub, `${at(k)}/${i}`)));
    };
    for (const k of ARRAY_IN_PLACE) each(k, node.inPlace);
    for (const k of ARRAY_DESCEND) each(k, node.descend);
    const values = (k: string, into: Node[] | null): void => {
      const v = s[k];
      if (typeof v !== "object" || v === null || Array.isArray(v)) return;
      for (const [name, sub] of Object.entries(v)) {
        if (Array.isArray(sub)) continue; // draft-07 "dependencies" may list property names
        const child = this.node(sub, `${at(k)}/${escape(name)}`);
        into?.push(child);
      }
    };
    for (const k of MAP_IN_PLACE) values(k, node.inPlace);
    for (const k of MAP_DESCEND) values(k, node.descend);
    for (const k of MAP_NONE) values(k, null);
    return node;
  }

  private checkKeywords(s: Record<string, unknown>, pointer: string, node: Node): void {
    if (typeof s["pattern"] === "string") this.checkPattern(s["pattern"], `${pointer}/pattern`);
    const pp = s["patternProperties"];
    if (typeof pp === "object" && pp !== null && !Array.isArray(pp)) {
      for (const key of Object.keys(pp)) {
        this.patternProperties++;
        this.checkPattern(key, `${pointer}/patternProperties/${escape(key)}`);
      }
    }
    if ("$ref" in s) {
      const ref = s["$ref"];
      if (typeof ref !== "string" || (ref !== "#" && !ref.startsWith("#/"))) {
        this.problem(`${pointer}/$ref`, 'only local references ("#" or "#/...") are supported');
      } else {
        node.ref = ref;
        this.unresolved.push(node);
      }
    }
    for (const k of ["$dynamicRef", "$recursiveRef"])
      if (k in s) this.problem(`${pointer}/${k}`, "is not supported: use $ref");
    if ("$id" in s && s !== this.root) this.problem(`${pointer}/$id`, "is only supported at the root of the schema");
  }

  private checkPattern(pattern: string, pointer: string): void {
    try {
      compileLinearRegExp(pattern, "u");
    } catch (err) {
      this.problem(
        pointer,
        err instanceof UnsupportedPatternError ? err.message : `pattern ${JSON.stringify(pattern)} is invalid`,
      );
    }
  }

  /** Adds each node's `$ref` as an in-place edge to the schema it points to (targets may hold `$ref`s too). */
  resolveRefs(): void {
    for (let node = this.unresolved.pop(); node; node = this.unresolved.pop()) {
      const ref = node.ref!;
      const target = this.resolve(ref);
      if (target === undefined)
        this.problem(`${node.pointer}/$ref`, `${JSON.stringify(ref)} does not resolve in this schema`);
      else node.inPlace.push(this.node(target, ref.slice(1)));
    }
  }

  private resolve(ref: string): unknown {
    let v: unknown = this.root;
    if (ref === "#") return v;
    for (const raw of ref.slice(2).split("/")) {
      let token: string;
      try {
        token = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      } catch {
        return undefined;
      }
      if (typeof v !== "object" || v === null || !Object.prototype.hasOwnProperty.call(v, token)) return undefined;
      v = (v as Record<string, unknown>)[token];
    }
    return v;
  }
}

/** Nodes reachable from `root`, children before parents along in-place edges, or the pointer of an in-place cycle. */
function inPlaceOrder(root: Node): { order: Node[] } | { cycle: string } {
  const order: Node[] = [];
  const state = new Map<Node, 1 | 2>(); // 1: on the path, 2: done
  const stack: Array<{ node: Node; next: number }> = [];
  const visit = (start: Node): string | undefined => {
    if (state.has(start)) return undefined;
    stack.push({ node: start, next: 0 });
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const edges = top.node.inPlace;
      if (top.next < edges.length) {
        const child = edges[top.next++]!;
        const s = state.get(child);
        if (s === 1) return child.pointer || "/";
        if (s === undefined) {
          state.set(child, 1);
          stack.push({ node: child, next: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.node, 2);
      order.push(top.node);
      for (const d of top.node.descend) pending.push(d);
    }
    return undefined;
  };
  const pending: Node[] = [root];
  while (pending.length > 0) {
    const cycle = visit(pending.pop()!);
    if (cycle !== undefined) return { cycle };
  }
  return { order };
}

/**
 * The most subschema applications at one depth (0..maxDataDepth) of a document, with `$ref`s
 * expanded; saturates just above `cap`. `order` lists children before parents (in place).
 */
function maxApplications(root: Node, order: readonly Node[], maxDataDepth: number, cap: number): number {
  let prev = new Map<Node, number>();
  let worst = 0;
  for (let k = 0; k <= maxDataDepth; k++) {
    const cur = new Map<Node, number>();
    for (const n of order) {
      let c = k === 0 ? 1 : 0;
      for (const child of n.inPlace) c += cur.get(child) ?? 0;
      if (k > 0) for (const child of n.descend) c += prev.get(child) ?? 0;
      cur.set(n, Math.min(c, cap + 1));
    }
    const atRoot = cur.get(root) ?? 0;
    if (atRoot > worst) worst = atRoot;
    if (worst > cap || atRoot === 0) break;
    prev = cur;
  }
  return worst;
}

/**
 * Problems of a schema from outside against `limits` (empty when it may be compiled), with JSON
 * pointers under `base` (see the module doc); at most 20.
 */
export function schemaLimitProblems(
  schema: unknown,
  limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS,
  base = "",
): ErrorDetail[] {
  const at = base || "/";
  if (typeof schema === "boolean") return [];
  if (typeof schema !== "object" || schema === null || Array.isArray(schema))
    return [{ path: at, message: "must be a JSON Schema object" }];
  const bytes = Buffer.byteLength(JSON.stringify(schema), "utf8");
  if (bytes > limits.maxBytes) return [{ path: at, message: `is ${bytes} bytes; at most ${limits.maxBytes}` }];
  const depth = jsonDepth(schema, limits.maxDepth);
  if (depth > limits.maxDepth) return [{ path: at, message: `nests deeper than ${limits.maxDepth} levels` }];
  const w = new Walker(schema, base);
  const root = w.node(schema, "");
  w.resolveRefs();
  if (w.keywords > limits.maxKeywords)
    w.problems.push({ path: at, message: `has ${w.keywords} keywords; at most ${limits.maxKeywords}` });
  if (w.patternProperties > limits.maxPatternProperties) {
    w.problems.push({
      path: at,
      message: `has ${w.patternProperties} patternProperties patterns; at most ${limits.maxPatternProperties}`,
    });
  }
  if (w.problems.length > 0) return w.problems;
  const o = inPlaceOrder(root);
  if ("cycle" in o)
    return [
      {
        path: `${base}${o.cycle}`,
        message: "is part of a $ref cycle that never goes into the data: validation would not end",
      },
    ];
  const n = maxApplications(root, o.order, limits.maxDataDepth, limits.maxApplications);
  if (n > limits.maxApplications) {
    return [
      {
        path: at,
        message: `applies more than ${limits.maxApplications} subschemas to one level of a document once its $refs are expanded; at most ${limits.maxApplications}`,
      },
    ];
  }
  return [];
}
