/**
 * What a Postgres error says about the rows of the statement that failed (pure: reads the
 * SQLSTATE the `pg` driver puts on its errors).
 */

/**
 * True when Postgres refused the data itself (SQLSTATE class 22, data exception: e.g. 22P05
 * `\u0000` in jsonb, 22021 NUL in text, 22P02 a lone surrogate escape in jsonb): the same rows
 * fail the same way on every try, so retrying cannot help.
 */
export function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}
