/**
 * The receipt type registry: looks types up by name (JSON `type` field) or XML root element,
 * and validates documents against their compiled JSON Schemas (the project's Ajv, draft 2020-12,
 * all errors, formats).
 */
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import { createAjv } from "../../lib/ajv";
import type { ErrorDetail } from "../../lib/errors";
import { RECEIPT_FORMATS, xmlRootOf, type ReceiptType, type ReceiptTypeInfo } from "./model";

/** At most this many schema violations are reported for one document. */
export const MAX_DETAILS = 50;

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** ajv errors as `[{path, message}]` with JSON pointers into the document. */
export function ajvDetails(errors: readonly ErrorObject[] | null | undefined): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const e of errors ?? []) {
    if (out.length >= MAX_DETAILS) break;
    let path = e.instancePath || "";
    let message = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") {
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      if (extra !== undefined) path = `${path}/${extra.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      message = "is not allowed";
    } else if (e.keyword === "required") {
      const missing = (e.params as { missingProperty?: string }).missingProperty;
      if (missing !== undefined) path = `${path}/${missing}`;
      message = "is required";
    } else if (e.keyword === "enum") {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
    }
    out.push({ path: path || "/", message });
  }
  return out;
}

/** Every registered receipt type with its compiled validator. */
export class ReceiptTypeRegistry {
  private readonly byNameMap = new Map<string, ReceiptType>();
  private readonly byRootMap = new Map<string, ReceiptType>();
  private readonly validators = new Map<string, ValidateFunction>();

  /** Compiles every type's schema; throws on duplicate names or XML roots, or a bad schema. */
  // a list of types of different documents: each type's rules are typed by its own document
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(types: readonly ReceiptType<any>[]) {
    // The type schemas are written in this code base: "trusted".
    const ajv = createAjv({
      trust: "trusted",
      allErrors: true,
      strict: true,
      multipleOfPrecision: 9,
      formats: ["date", "date-time", "email", "uri"],
    });
    // OpenAPI's XML annotation: read by the XML mapper, ignored by validation.
    ajv.addKeyword({ keyword: "xml", schemaType: "object" });
    for (const t of types) {
      if (!NAME_PATTERN.test(t.name))
        throw new Error(`receipt type name ${JSON.stringify(t.name)} must match ${NAME_PATTERN}`);
      if (this.byNameMap.has(t.name)) throw new Error(`receipt type ${t.name} is registered twice`);
      const root = xmlRootOf(t);
      if (this.byRootMap.has(root))
        throw new Error(`XML root <${root}> is used by ${this.byRootMap.get(root)?.name} and ${t.name}`);
      const s = t.schema.schema;
      if (s.type !== "object" || s.properties?.["type"]?.const !== t.name) {
        throw new Error(
          `receipt type ${t.name}: the schema root must be an object whose "type" property is const ${JSON.stringify(t.name)}`,
        );
      }
      this.byNameMap.set(t.name, t);
      this.byRootMap.set(root, t);
      this.validators.set(t.name, ajv.compile(s));
    }
  }

  /** Every type, in registration order. */
  list(): ReceiptType[] {
    return [...this.byNameMap.values()];
  }

  /** The type named `name` (JSON `type` field). */
  byName(name: string): ReceiptType | undefined {
    return this.byNameMap.get(name);
  }

  /** The type whose XML root element is `root`. */
  byXmlRoot(root: string): ReceiptType | undefined {
    return this.byRootMap.get(root);
  }

  /** Schema violations of `doc` as type `t` (empty when valid). */
  schemaErrors(t: ReceiptType, doc: unknown): ErrorDetail[] {
    const v = this.validators.get(t.name);
    if (!v) throw new Error(`receipt type ${t.name} is not registered`);
    return v(doc) ? [] : ajvDetails(v.errors);
  }

  /** The public description of every type (GET /receipt-types). */
  describe(): ReceiptTypeInfo[] {
    return this.list().map((t) => ({
      name: t.name,
      version: t.version,
      description: t.description,
      formats: RECEIPT_FORMATS,
      xmlRoot: xmlRootOf(t),
      schema: t.schema.schema,
      examples: {
        json: { contentType: "application/json", body: t.examples.json },
        xml: { contentType: "application/xml", body: t.examples.xml },
      },
    }));
  }
}
