/**
 * The broker middleware that makes every Moleculer call prove who it is for (see
 * gateway/caller.ts). Registered by `brokerOptions` on every broker of the cluster (nodes, the
 * REPL, tools), so nothing runs anonymously, whichever node or plain NATS connection sent it.
 *
 * Incoming (every action of this broker but `private` ones, which only `this.actions.x()` in the
 * same service can reach): the caller assertion in `ctx.meta.caller` is verified before the
 * handler (and its parameter validation's result) is used; without a valid one the call fails
 * with 401 UNAUTHORIZED. This holds for local calls too: the sender node id of a request is
 * whatever the packet says, so "it came from this node" proves nothing. Broadcasts from other
 * nodes without a valid assertion are dropped (logged); `broadcastLocal` ones (Moleculer's own
 * `$...` broadcasts) cannot arrive over the wire and pass.
 *
 * Outgoing: a call made by this process's own code (no parent context, no assertion given) gets
 * this broker's standing assertion: kind "node" for a node, "operator" for the REPL and tools.
 * A call from inside an action (`ctx.call`) inherits the assertion of the call it serves (a
 * client's, forwarded), and gets none if that had none, so an unverified path fails closed.
 * Code that serves a client and calls an operator action with `broker.call` acts as the node:
 * use `ctx.call` there.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { AppError } from "../lib/errors";
import { bindCaller, CALLER_TTL_SEC, type CallerTokens } from "../gateway/caller";

/** Who this broker's own calls are made as. */
export interface StandingIdentity {
  readonly kind: "node" | "operator";
  /** The node id, or who operates. */
  readonly subject: string;
}

/** What the middleware needs. */
export interface CallerGuardOptions {
  readonly tokens: CallerTokens;
  readonly identity: StandingIdentity;
}

type Meta = Record<string, unknown> & { caller?: unknown };
interface CallOpts {
  ctx?: unknown;
  parentCtx?: { meta?: Meta } | null;
  meta?: Meta;
  [k: string]: unknown;
}
type CallFn = (action: unknown, params?: unknown, opts?: CallOpts) => Promise<unknown>;
type EventFn = (event: string, payload?: unknown, opts?: unknown) => Promise<unknown>;
type Handler = (ctx: Context) => Promise<unknown>;

/** The middleware (see the module doc). */
export function callerGuard(opts: CallerGuardOptions): Middleware {
  const { tokens, identity } = opts;
  let broker: ServiceBroker | undefined;
  let standing: { token: string; renewAt: number; expiresAt: number } | undefined;
  let renewing: Promise<string> | undefined;

  function renew(): Promise<string> {
    renewing ??= tokens
      .sign({ kind: identity.kind, subject: identity.subject, ttlSec: CALLER_TTL_SEC })
      .then((token) => {
        const now = Date.now();
        standing = {
          token,
          renewAt: now + (CALLER_TTL_SEC * 1000) / 2,
          expiresAt: now + CALLER_TTL_SEC * 1000 - 5_000,
        };
        return token;
      })
      .finally(() => {
        renewing = undefined;
      });
    return renewing;
  }

  /** The standing assertion now if one is fresh (renewed in the background past half its life), else undefined. */
  function standingNow(): string | undefined {
    const now = Date.now();
    if (!standing || standing.expiresAt <= now) return undefined;
    if (standing.renewAt <= now) void renew().catch(() => undefined);
    return standing.token;
  }

  function withStanding(meta: Meta | undefined, token: string): Meta {
    return { ...(meta ?? {}), caller: token };
  }

  function normaliseEventOpts(o: unknown): CallOpts {
    if (Array.isArray(o) || typeof o === "string") return { groups: o };
    return (o ?? {}) as CallOpts;
  }

  const refuse = (what: string, ctx: Context, reason: string): void => {
    broker?.logger.warn(
      { [what]: ctx.action?.name ?? ctx.eventName, from: ctx.nodeID, reason },
      `${what} refused: no valid caller assertion`,
    );
  };

  const mw = {
    name: "CallerGuard",

    created(b: ServiceBroker) {
      broker = b;
    },

    async started() {
      await renew();
    },

    localAction(next: Handler, action: { name?: string; visibility?: string }): Handler {
      if (action.visibility === "private") return next;
      return async function guarded(ctx: Context): Promise<unknown> {
        const check = await tokens.verify((ctx.meta as Meta | undefined)?.caller, ctx.requestID);
        if (!check.ok) {
          refuse("action", ctx, check.reason);
          throw new AppError("UNAUTHORIZED", `caller not verified (${check.reason})`);
        }
        bindCaller(ctx, check.caller);
        return next(ctx);
      };
    },

    localEvent(next: Handler): Handler {
      return async function guarded(ctx: Context): Promise<unknown> {
        const check = await tokens.verify((ctx.meta as Meta | undefined)?.caller, ctx.requestID);
        if (check.ok) bindCaller(ctx, check.caller);
        else if (ctx.eventType !== "broadcastLocal") {
          refuse("event", ctx, check.reason);
          return undefined;
        }
        return next(ctx);
      };
    },

    call(next: CallFn): CallFn {
      return function call(action, params, o = {}) {
        if (o.ctx || o.parentCtx || o.meta?.caller !== undefined) return next(action, params, o);
        const token = standingNow();
        // Synchronous when the assertion is at hand: keeps the promise's `ctx` for Moleculer's meta merge.
        if (token) return next(action, params, { ...o, meta: withStanding(o.meta, token) });
        return renew().then((t) => next(action, params, { ...o, meta: withStanding(o.meta, t) }));
      };
    },

    emit(next: EventFn): EventFn {
      return stampEvent(next);
    },

    broadcast(next: EventFn): EventFn {
      return stampEvent(next);
    },
  };

  function stampEvent(next: EventFn): EventFn {
    return function stamped(event, payload, raw) {
      const o = normaliseEventOpts(raw);
      if (o.meta?.caller !== undefined || event.startsWith("$")) return next(event, payload, raw);
      const token = standingNow();
      if (token) return next(event, payload, { ...o, meta: withStanding(o.meta, token) });
      return renew().then((t) => next(event, payload, { ...o, meta: withStanding(o.meta, t) }));
    };
  }

  return mw as unknown as Middleware;
}
