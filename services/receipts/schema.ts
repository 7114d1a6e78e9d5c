/**
 * The typed JSON Schema builder (lib/json-schema.ts), as the receipt types use it: each call
 * returns the schema (for ajv, the OpenAPI document and GET /receipt-types) with the TypeScript
 * type it describes, so a receipt type's payload is declared once.
 */
export * from "../../lib/json-schema";
