/**
 * Request validation from the route table's JSON Schemas (draft 2020-12, the OpenAPI 3.1
 * dialect): path parameters and query are coerced from strings (400 INVALID_PARAMETER), bodies
 * are checked as sent (422 VALIDATION_ERROR). Validators are compiled once at start-up.
 */
import type Ajv2020 from "ajv/dist/2020";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import { createAjv } from "../lib/ajv";
import { AppError, type ErrorCode, type ErrorDetail } from "../lib/errors";
import { schemaErrorDetails } from "../lib/schema-errors";
import { routeKey, type RouteSpec } from "./routes";

/** Compiled validators of one route. */
export interface RouteValidators {
  readonly params?: ValidateFunction;
  readonly query?: ValidateFunction;
  readonly body?: ValidateFunction;
}

/** The project's Ajv for route schemas (written in this code base, so "trusted"), all formats. */
function newAjv(coerce: boolean): Ajv2020 {
  return createAjv({
    trust: "trusted",
    allErrors: true,
    strict: false,
    coerceTypes: coerce ? "array" : false,
    useDefaults: coerce,
  });
}

/** Compiles every route's schemas; throws naming the route when a schema does not compile. */
export function compileValidators(routes: readonly RouteSpec[]): Map<RouteSpec, RouteValidators> {
  const coercing = newAjv(true);
  const exact = newAjv(false);
  const out = new Map<RouteSpec, RouteValidators>();
  for (const r of routes) {
    try {
      out.set(r, {
        ...(r.params ? { params: coercing.compile(r.params) } : {}),
        ...(r.query ? { query: coercing.compile(r.query) } : {}),
        ...(r.body?.schema && r.body.validate !== false ? { body: exact.compile(r.body.schema) } : {}),
      });
    } catch (err) {
      throw new Error(`route ${routeKey(r)}: schema does not compile: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * Up to 100 schema errors as details with JSON pointers under `/{where}`: every problem at once,
 * alternatives (anyOf/oneOf) folded into one line, enums listing their values (lib/schema-errors.ts).
 */
export function schemaDetails(errors: readonly ErrorObject[] | null | undefined, where: string): ErrorDetail[] {
  return schemaErrorDetails(errors, `/${where}`, 100);
}

/**
 * Validates `data` (mutated in place by coercion and defaults) with `validate`; throws AppError
 * `code` naming every problem.
 */
export function assertValid(
  validate: ValidateFunction | undefined,
  data: unknown,
  where: "params" | "query" | "body",
  code: ErrorCode,
): void {
  if (!validate || validate(data)) return;
  const message =
    where === "body"
      ? "request body does not match the schema"
      : `invalid ${where === "params" ? "path parameter" : "query parameter"}`;
  throw new AppError(code, message, schemaDetails(validate.errors, where));
}
