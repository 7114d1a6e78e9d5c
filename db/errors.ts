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

/** Node's socket errors that mean the server is not reachable now. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** What `pg` and `pg-pool` say when no connection could be had or one was lost mid-query. */
const UNAVAILABLE_MESSAGE =
  /^(timeout exceeded when trying to connect|Connection terminated( unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable)/;

/**
 * True when `err` says Postgres could not answer for now, not that the statement was wrong: no
 * connection within the pool's timeout, the server unreachable or shutting down (SQLSTATE 57P01
 * to 57P03), a connection exception (class 08), too many connections (53300), or a connection
 * lost mid-query. The caller gets 503 with Retry-After and retries; nothing was committed by a
 * statement that never reached the server, and one whose connection broke mid-way rolled back.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (UNREACHABLE.has(code) || /^(08[0-9A-Z]{3}|57P0[123]|53300)$/.test(code)))
      return true;
    if (UNAVAILABLE_MESSAGE.test(e.message)) return true;
    if (e instanceof AggregateError && e.errors.some((x) => isPostgresUnavailable(x))) return true;
  }
  return false;
}
