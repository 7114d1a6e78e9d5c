/**
 * Safe XML reading: no DTDs or entity declarations (a `<!DOCTYPE` or `<!ENTITY` anywhere is
 * refused before parsing, which rules out billion-laughs and external entities), bounded depth
 * and element count, well-formedness checked; then a schema-driven mapping from the element
 * tree to the JSON document shape (OpenAPI `xml` annotations: names, attributes, wrapped
 * arrays), with numbers and booleans converted where the schema says so.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { AppError } from "../../lib/errors";
import type { JsonSchema } from "./schema";

/** Limits applied to every XML document. */
export interface XmlLimits {
  /** Deepest element nesting allowed. */
  readonly maxDepth: number;
  /** Most elements allowed in one document. */
  readonly maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 32, maxElements: 50_000 };

const FORBIDDEN = /<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;
/** An `&` that does not start one of the predefined entities or a character reference. */
const UNDECLARED_ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/;

/**
 * Counts element depth and number with a single pass over the text (comments, CDATA,
 * processing instructions and attribute values skipped). Throws INVALID_XML past a limit.
 */
export function checkXmlShape(xml: string, limits: XmlLimits = DEFAULT_XML_LIMITS): void {
  let depth = 0;
  let elements = 0;
  let i = 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf("<", i);
    if (lt < 0) break;
    if (xml.startsWith("<!--", lt)) {
      const end = xml.indexOf("-->", lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    if (xml.startsWith("<![CDATA[", lt)) {
      const end = xml.indexOf("]]>", lt + 9);
      i = end < 0 ? n : end + 3;
      continue;
    }
    if (xml.startsWith("<?", lt)) {
      const end = xml.indexOf("?>", lt + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    // find the end of the tag, skipping quoted attribute values
    let j = lt + 1;
    let quote: string | null = null;
    while (j < n) {
      const c = xml[j];
      if (quote) {
        if (c === quote) quote = null;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === ">") break;
      j++;
    }
    if (xml[lt + 1] === "/") depth--;
    else if (xml[j - 1] !== "/") {
      depth++;
      elements++;
      if (depth > limits.maxDepth)
        throw new AppError("INVALID_XML", `XML nesting is deeper than ${limits.maxDepth} elements`);
    } else elements++;
    if (elements > limits.maxElements)
      throw new AppError("INVALID_XML", `XML has more than ${limits.maxElements} elements`);
    i = j + 1;
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Only the five predefined entities and character references can occur: DTDs are refused.
  processEntities: true,
  htmlEntities: false,
  removeNSPrefix: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: 64,
});

/**
 * Parses `xml` safely (see module doc) and returns the root element's name and content.
 * Throws AppError INVALID_XML (400) for anything not a plain, well-formed document.
 */
export function parseXml(xml: string, limits: XmlLimits = DEFAULT_XML_LIMITS): { root: string; node: unknown } {
  if (FORBIDDEN.test(xml)) throw new AppError("INVALID_XML", "DTDs and entity declarations are not allowed");
  if (UNDECLARED_ENTITY.test(xml))
    throw new AppError(
      "INVALID_XML",
      "undeclared entity or bare '&' (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)",
    );
  checkXmlShape(xml, limits);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new AppError(
      "INVALID_XML",
      `malformed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`,
    );
  }
  let tree: Record<string, unknown>;
  try {
    tree = parser.parse(xml) as Record<string, unknown>;
  } catch (err) {
    throw new AppError("INVALID_XML", `malformed XML: ${(err as Error).message}`);
  }
  const roots = Object.keys(tree);
  if (roots.length !== 1 || roots[0] === undefined)
    throw new AppError("INVALID_XML", "an XML document must have exactly one root element");
  return { root: roots[0], node: tree[roots[0]] };
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // keys from the document (e.g. "__proto__") must not reach the prototype
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function scalar(schema: JsonSchema, v: unknown): unknown {
  if (typeof v !== "string") return v;
  switch (schema.type) {
    case "number":
    case "integer": {
      if (!NUMBER.test(v)) return v;
      const x = Number(v);
      // NaN/Infinity stay strings so that validation reports "must be number"
      return Number.isFinite(x) ? x : v;
    }
    case "boolean":
      return v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v;
    default:
      return v;
  }
}

function asArray(v: unknown): unknown[] {
  if (v === undefined || v === "") return [];
  return Array.isArray(v) ? v : [v];
}

function isAttrOfNs(name: string): boolean {
  return (
    name === "xmlns" || name.startsWith("xmlns:") || name === "schemaLocation" || name === "noNamespaceSchemaLocation"
  );
}

/**
 * Maps an element tree (as parsed) to the document shape `schema` describes. Elements and
 * attributes the schema does not know are kept under their own names so that validation
 * reports them ("is not allowed"); `skip` names root properties not present in XML.
 */
export function mapXml(schema: JsonSchema, node: unknown, skip: readonly string[] = []): unknown {
  switch (schema.type) {
    case "object": {
      if (node === "") node = {};
      if (typeof node !== "object" || node === null || Array.isArray(node)) return node;
      const src = node as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const used = new Set<string>();
      for (const [prop, sub] of Object.entries(schema.properties ?? {})) {
        if (skip.includes(prop)) continue;
        const x = sub.xml ?? {};
        if (sub.type === "array") {
          const name = x.name ?? prop;
          used.add(name);
          const itemSchema = sub.items ?? {};
          let items: unknown[];
          if (x.wrapped) {
            const wrapper = src[name];
            if (wrapper === undefined) continue;
            if (wrapper !== "" && (typeof wrapper !== "object" || wrapper === null || Array.isArray(wrapper))) {
              setOwn(out, prop, wrapper);
              continue;
            }
            items = wrapper === "" ? [] : asArray((wrapper as Record<string, unknown>)[itemSchema.xml?.name ?? prop]);
          } else {
            if (src[name] === undefined) continue;
            items = asArray(src[name]);
          }
          setOwn(
            out,
            prop,
            items.map((it) => mapXml(itemSchema, it)),
          );
        } else if (x.attribute) {
          const key = `@_${x.name ?? prop}`;
          used.add(key);
          if (src[key] !== undefined) setOwn(out, prop, scalar(sub, src[key]));
        } else {
          const key = x.name ?? prop;
          used.add(key);
          if (src[key] !== undefined) setOwn(out, prop, mapXml(sub, src[key]));
        }
      }
      for (const [k, v] of Object.entries(src)) {
        if (used.has(k)) continue;
        if (k.startsWith("@_")) {
          if (!isAttrOfNs(k.slice(2))) setOwn(out, k.slice(2), v);
        } else if (k === "#text") {
          if (v !== "") setOwn(out, "#text", v);
        } else setOwn(out, k, v);
      }
      return out;
    }
    case "array":
      return asArray(node).map((it) => mapXml(schema.items ?? {}, it));
    default:
      return scalar(schema, node);
  }
}
