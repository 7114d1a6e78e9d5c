/**
 * A Moleculer middleware on every node: an action that fails because NATS could not answer
 * for now (a publish timed out, a stream has no leader during an election, the connection is
 * lost or reconnecting), or because Postgres could not (no connection within the pool's
 * timeout, the server stopped or restarting), fails with UNAVAILABLE, so the caller gets 503
 * with Retry-After and retries, rather than a 500. Nothing was promised: the 202 of an intake comes only after the
 * publish is acknowledged, and the retry carries the same Nats-Msg-Id, so it is stored once.
 */
import type { Context, Middleware } from "moleculer";
import { AppError } from "../lib/errors";
import { isPostgresUnavailable } from "../db";
import { isNatsUnavailable } from "../nats";

type Handler = (ctx: Context) => Promise<unknown>;

/** The middleware. */
export function natsUnavailableAs503(): Middleware {
  return {
    name: "NatsUnavailableAs503",
    localAction(next: Handler): Handler {
      return async function mapped(ctx: Context): Promise<unknown> {
        try {
          return await next(ctx);
        } catch (err) {
          if (err instanceof AppError) throw err;
          if (isNatsUnavailable(err))
            throw new AppError("UNAVAILABLE", "the message store did not answer in time; retry", undefined, {
              "Retry-After": "1",
            });
          if (isPostgresUnavailable(err))
            throw new AppError("UNAVAILABLE", "the database did not answer in time; retry", undefined, {
              "Retry-After": "2",
            });
          throw err;
        }
      };
    },
  };
}
