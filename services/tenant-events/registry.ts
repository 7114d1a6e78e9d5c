/**
 * The event type registry, pure: each type has numbered, immutable versions, each a JSON Schema
 * (draft 2020-12) for the event's `data`. New events are validated against the latest version
 * of their type. Validators are compiled once per version and cached. Where the definitions are
 * kept (a KV bucket watched by every node) is not this module's concern: it only applies them.
 */
import type Ajv2020 from "ajv/dist/2020";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import { createAjv } from "../../lib/ajv";
import { errorMessage } from "../../lib/errors";
import { DEFAULT_SCHEMA_LIMITS, schemaLimitProblems, type SchemaLimits } from "../../lib/schema-limits";
import { MAX_DATA_DEPTH, TYPE_NAME_PATTERN } from "./envelope";
import type { Problem, Rejection } from "./model";

/** One version of one event type. */
export interface EventTypeVersion {
  readonly name: string;
  /** 1, 2, 3, ... */
  readonly version: number;
  /** JSON Schema (draft 2020-12) of `data`. */
  readonly schema: Readonly<Record<string, unknown>>;
  readonly description: string;
  /** RFC 3339. */
  readonly createdAt: string;
}

/** A type with all its versions, as listed to operators and producers. */
export interface EventTypeInfo {
  readonly name: string;
  readonly latest: number;
  readonly versions: readonly EventTypeVersion[];
}

/**
 * Bounds on an event type's schema (see lib/schema-limits): its size, and its cost on documents
 * as deep as the intake lets `data` be.
 */
export const TYPE_SCHEMA_LIMITS: SchemaLimits = { ...DEFAULT_SCHEMA_LIMITS, maxDataDepth: MAX_DATA_DEPTH };

/** Largest accepted schema (serialized), in bytes. */
export const MAX_SCHEMA_BYTES = TYPE_SCHEMA_LIMITS.maxBytes;

const NAME = new RegExp(TYPE_NAME_PATTERN);

/** The KV key of a version: "{name}.v{version}" (names may contain dots; the last token is the version). */
export function typeKey(name: string, version: number): string {
  return `${name}.v${version}`;
}

/** Name and version of a KV key made by {@link typeKey}, or undefined. */
export function parseTypeKey(key: string): { name: string; version: number } | undefined {
  const m = /^(.+)\.v([1-9][0-9]{0,8})$/.exec(key);
  if (!m || !NAME.test(m[1]!)) return undefined;
  return { name: m[1]!, version: Number(m[2]) };
}

function newAjv(): Ajv2020 {
  // Schemas come from admins: the untrusted kind (linear-time patterns, uniqueItems, formats).
  // Unknown keywords are refused (a typo would silently validate nothing); type strictness is
  // left off so that ordinary schemas written without "type" everywhere are accepted.
  return createAjv({
    trust: "untrusted",
    allErrors: true,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    logger: false,
  });
}

/** ajv errors as problems with JSON pointers under `base`; at most 20. */
export function schemaProblems(errors: readonly ErrorObject[] | null | undefined, base: string): Problem[] {
  const out: Problem[] = [];
  for (const e of errors ?? []) {
    if (out.length >= 20) break;
    let path = `${base}${e.instancePath}`;
    let message = e.message ?? "is invalid";
    if (e.keyword === "required") {
      path += `/${String(e.params["missingProperty"])}`;
      message = "is required";
    } else if (e.keyword === "additionalProperties") {
      path += `/${String(e.params["additionalProperty"]).slice(0, 64)}`;
      message = "is not allowed";
    } else if (e.keyword === "enum") {
      message = `must be one of ${JSON.stringify(e.params["allowedValues"]).slice(0, 200)}`;
    }
    out.push({ path, message });
  }
  return out;
}

/**
 * Problems of a proposed type definition (empty when it can be registered): the name's syntax,
 * the schema's bounds ({@link TYPE_SCHEMA_LIMITS}: size, depth, keywords, `$ref` expansion, and
 * patterns the linear-time engine can run, each refused one named), and that it compiles (no
 * unknown keywords or formats, no unresolvable `$ref`).
 */
export function checkTypeDefinition(name: string, schema: unknown): Problem[] {
  const problems: Problem[] = [];
  if (typeof name !== "string" || !NAME.test(name))
    problems.push({ path: "/name", message: `must match ${TYPE_NAME_PATTERN}` });
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    problems.push({ path: "/schema", message: "must be a JSON Schema object" });
    return problems;
  }
  const bounds = schemaLimitProblems(schema, TYPE_SCHEMA_LIMITS, "/schema");
  if (bounds.length > 0) return [...problems, ...bounds];
  try {
    newAjv().compile(schema);
  } catch (err) {
    problems.push({ path: "/schema", message: `does not compile: ${errorMessage(err).slice(0, 300)}` });
  }
  return problems;
}

/** Compiles a schema from outside: its bounds first (a version written to the bucket by other means is held to them too). */
function compileBounded(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  const bounds = schemaLimitProblems(schema, TYPE_SCHEMA_LIMITS);
  if (bounds.length > 0) throw new Error(bounds.map((p) => `${p.path}: ${p.message}`).join("; "));
  return newAjv().compile(schema);
}

/** The outcome of validating one event's data. */
export type TypeCheck = { ok: true; version: number } | { ok: false; rejection: Rejection };

/** Every known type version, with cached validators (see the module doc). */
export class EventTypeRegistry {
  private readonly types = new Map<string, Map<number, EventTypeVersion>>();
  private readonly validators = new Map<string, ValidateFunction | Error>();

  /**
   * Adds (or replaces) a version. A replaced version's cached validator is dropped. Returns the
   * compile error of its schema, if any (the version is then known but refuses every event).
   */
  apply(v: EventTypeVersion): Error | undefined {
    let versions = this.types.get(v.name);
    if (!versions) this.types.set(v.name, (versions = new Map()));
    versions.set(v.version, v);
    const key = typeKey(v.name, v.version);
    this.validators.delete(key);
    const compiled = this.compile(v);
    return compiled instanceof Error ? compiled : undefined;
  }

  /** Forgets a version (a type without versions is unknown). */
  remove(name: string, version: number): void {
    const versions = this.types.get(name);
    versions?.delete(version);
    if (versions && versions.size === 0) this.types.delete(name);
    this.validators.delete(typeKey(name, version));
  }

  /** The newest version of `name`. */
  latest(name: string): EventTypeVersion | undefined {
    const versions = this.types.get(name);
    if (!versions) return undefined;
    let best: EventTypeVersion | undefined;
    for (const v of versions.values()) if (!best || v.version > best.version) best = v;
    return best;
  }

  /** Version `version` of `name`. */
  get(name: string, version: number): EventTypeVersion | undefined {
    return this.types.get(name)?.get(version);
  }

  /** One type with its versions (oldest first). */
  info(name: string): EventTypeInfo | undefined {
    const versions = this.types.get(name);
    if (!versions || versions.size === 0) return undefined;
    const list = [...versions.values()].sort((a, b) => a.version - b.version);
    return { name, latest: list.at(-1)!.version, versions: list };
  }

  /** Every type, by name. */
  list(): EventTypeInfo[] {
    return [...this.types.keys()]
      .sort()
      .map((n) => this.info(n)!)
      .filter(Boolean);
  }

  /** Validates `data` against the latest version of `type`; `base` prefixes JSON pointers. */
  check(type: string, data: unknown, base = ""): TypeCheck {
    const v = this.latest(type);
    if (!v)
      return {
        ok: false,
        rejection: {
          code: "UNKNOWN_TYPE",
          message: `event type ${JSON.stringify(type.slice(0, 64))} is not registered`,
          details: [{ path: `${base}/type`, message: "unknown event type" }],
        },
      };
    const validate = this.compile(v);
    if (validate instanceof Error) {
      return {
        ok: false,
        rejection: {
          code: "SCHEMA_VIOLATION",
          message: `the schema of ${v.name} v${v.version} does not compile: ${validate.message.slice(0, 200)}`,
          details: [],
        },
      };
    }
    if (validate(data)) return { ok: true, version: v.version };
    return {
      ok: false,
      rejection: {
        code: "SCHEMA_VIOLATION",
        message: `data does not match ${v.name} v${v.version}`,
        details: schemaProblems(validate.errors, `${base}/data`),
      },
    };
  }

  private compile(v: EventTypeVersion): ValidateFunction | Error {
    const key = typeKey(v.name, v.version);
    const hit = this.validators.get(key);
    if (hit) return hit;
    let out: ValidateFunction | Error;
    try {
      // One ajv per version: two versions may carry the same $id.
      out = compileBounded(v.schema);
    } catch (err) {
      out = err instanceof Error ? err : new Error(String(err));
    }
    this.validators.set(key, out);
    return out;
  }
}
