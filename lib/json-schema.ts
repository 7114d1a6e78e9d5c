/**
 * A small typed builder for JSON Schema: each call returns the schema (for ajv and the OpenAPI
 * document) together with the TypeScript type it describes, so a payload is declared once
 * (`Infer<typeof schema>`).
 *
 * XML mapping uses OpenAPI's `xml` annotation on any node: `name` (element or attribute
 * name), `attribute` (an attribute of the parent element) and, on arrays, `wrapped` (the items
 * sit inside a wrapper element named after the property; the item element is `items.xml.name`).
 */

/** OpenAPI's XML object (subset). */
export interface XmlAnnotation {
  readonly name?: string;
  readonly attribute?: boolean;
  readonly wrapped?: boolean;
}

/** The JSON Schema subset the builder produces. */
export interface JsonSchema {
  readonly type?: "object" | "array" | "string" | "number" | "integer" | "boolean";
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly maxProperties?: number;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly format?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly multipleOf?: number;
  readonly enum?: readonly (string | number)[];
  readonly const?: string | number;
  readonly xml?: XmlAnnotation;
}

/** A schema node carrying its TypeScript type `T` (phantom). */
export interface Schema<T> {
  readonly schema: JsonSchema;
  /** Never set; only carries the type. */
  readonly __type?: T;
}

/** The TypeScript type described by a builder schema. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

type Common = { readonly description?: string; readonly xml?: XmlAnnotation };

/** A string; every string has a `maxLength` (default 200) so no field can carry 60 KB. */
export function str(
  opts: Common & {
    readonly minLength?: number;
    readonly maxLength?: number;
    readonly pattern?: string;
    readonly format?: string;
  } = {},
): Schema<string> {
  return { schema: { type: "string", maxLength: 200, ...opts } };
}

/** A finite number; amounts use `multipleOf: 0.01`. */
export function num(
  opts: Common & {
    readonly minimum?: number;
    readonly maximum?: number;
    readonly exclusiveMinimum?: number;
    readonly multipleOf?: number;
  } = {},
): Schema<number> {
  return { schema: { type: "number", ...opts } };
}

/** An integer. */
export function int(opts: Common & { readonly minimum?: number; readonly maximum?: number } = {}): Schema<number> {
  return { schema: { type: "integer", ...opts } };
}

/** A boolean. */
export function bool(opts: Common = {}): Schema<boolean> {
  return { schema: { type: "boolean", ...opts } };
}

/** Exactly the string `value`. */
export function lit<const V extends string>(value: V, opts: Common = {}): Schema<V> {
  return { schema: { type: "string", const: value, ...opts } };
}

/** One of the strings `values`. */
export function oneOf<const V extends readonly string[]>(values: V, opts: Common = {}): Schema<V[number]> {
  return { schema: { type: "string", enum: values, ...opts } };
}

/** An array of `item` (default at most 1,000 items). */
export function arr<T>(
  item: Schema<T>,
  opts: Common & { readonly minItems?: number; readonly maxItems?: number } = {},
): Schema<T[]> {
  return { schema: { type: "array", items: item.schema, maxItems: 1000, ...opts } };
}

type Props = Readonly<Record<string, Schema<unknown>>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * An object with `required` and `optional` properties and nothing else
 * (`additionalProperties: false`).
 */
export function obj<R extends Props, O extends Props = Record<never, never>>(
  required: R,
  optional?: O,
  opts: Common = {},
): Schema<Simplify<{ [K in keyof R]: Infer<R[K]> } & { [K in keyof O]?: Infer<O[K]> }>> {
  const properties: Record<string, JsonSchema> = {};
  for (const [k, v] of Object.entries(required)) properties[k] = v.schema;
  for (const [k, v] of Object.entries(optional ?? {})) properties[k] = v.schema;
  return {
    schema: {
      type: "object",
      properties,
      required: Object.keys(required),
      additionalProperties: false,
      ...opts,
    },
  };
}
