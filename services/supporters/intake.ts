/**
 * The synchronous intakes (HTTP and NATS request/reply): check, normalise and hash the payload
 * at once, answer the identity hash, and store the message durably by publishing it to the
 * intake stream (the same subject a JetStream producer uses), so every path shares the pump's
 * order. A refused payload is logged (paths and messages only, never values) and stores nothing.
 *
 * Tenancy: the HTTP intake publishes on {ns}.supporters.ctl.{source} with the sending client in
 * a header (only nodes may publish there), and its resend dedupe is per client, so the
 * `duplicate` flag never tells one client about another's message ids. The request/reply intake
 * publishes on in.{source} like a JetStream producer: its messages belong to the source.
 */
import { randomBytes } from "node:crypto";
import { headers, type Msg, type NatsHandles } from "../../nats";
import type { Logger } from "../../lib/logger";
import { AppError, errorMessage } from "../../lib/errors";
import type { SupporterNames } from "./streams";
import { isRefusal, prepareBytes, prepareValue, type PrepareOptions, type Refusal } from "./prepare";
import { isIdentityHash } from "./identity";
import type { ForgetRequest } from "./pump";
import { OWNER_HEADER, isRecord } from "./model";

/** The answer to an accepted message. */
export interface Accepted {
  /** The supporter's identity hash (use it to refer to the supporter from now on). */
  readonly hash: string;
  readonly messageId: string;
  /** True when this message id was already accepted (a resend). */
  readonly duplicate: boolean;
}

/** How the intake was reached, for logs. */
export interface Origin {
  readonly via: "http" | "nats";
  /** Client id (HTTP: the message's owner) or subject source (NATS). */
  readonly producer: string;
}

/** The synchronous intake. */
export interface Intake {
  /** Accepts a parsed payload (HTTP: `source` in the body), owned by client `origin.producer`; throws AppError when refused. */
  submit(value: unknown, origin: Origin): Promise<Accepted>;
  /** Accepts raw bytes from NATS subject source `source`; throws AppError when refused. */
  submitBytes(bytes: Uint8Array, source: string, origin: Origin): Promise<Accepted>;
  /** Queues a forget request (ordered with the supporter's messages). */
  forget(hash: string, by: string): Promise<{ hash: string; requestedAt: string }>;
}

/** Connections and settings of the intake. */
export interface IntakeDeps {
  readonly nats: NatsHandles;
  readonly names: SupporterNames;
  readonly prepare: PrepareOptions;
  readonly logger: Logger;
}

function refusalError(r: Refusal): AppError {
  return new AppError(r.code, r.message, r.details.length > 0 ? r.details : undefined);
}

/** The fields of a payload the schema accepted (so an object; anything else is refused all the same). */
function fieldsOf(value: unknown): Record<string, unknown> {
  if (!isRecord(value)) throw new AppError("VALIDATION_ERROR", "the payload must be a JSON object");
  return value;
}

/** A fresh message id (when the producer gives none). */
export function newMessageId(): string {
  return `m${Date.now().toString(36)}${randomBytes(9).toString("base64url")}`;
}

/** Creates the intake over `deps`. */
export function createIntake(deps: IntakeDeps): Intake {
  const { nats, names, logger } = deps;

  /** Publishes a checked message: as the NATS producer of its source, or as gateway client `client`. */
  async function store(
    prepared: Exclude<ReturnType<typeof prepareValue>, Refusal>,
    value: Record<string, unknown>,
    client?: string,
  ): Promise<Accepted> {
    const messageId = prepared.messageId ?? newMessageId();
    const body = JSON.stringify({ ...value, source: prepared.source, messageId });
    const dedupe = `${prepared.source}.${messageId}`;
    let subject = names.inSubject(prepared.source);
    const opts: { msgID: string; headers?: ReturnType<typeof headers> } = { msgID: dedupe };
    if (client !== undefined) {
      subject = names.gatewaySubject(prepared.source);
      opts.msgID = `${client}/${dedupe}`;
      opts.headers = headers();
      opts.headers.set(OWNER_HEADER, client);
    }
    try {
      const ack = await nats.js.publish(subject, body, opts);
      return { hash: prepared.hash, messageId, duplicate: ack.duplicate };
    } catch (err) {
      logger.error({ source: prepared.source, err: errorMessage(err) }, "supporter message not stored");
      throw new AppError("UNAVAILABLE", "the message could not be stored; try again");
    }
  }

  function refuse(r: Refusal, origin: Origin, source: string | undefined): never {
    logger.warn(
      { via: origin.via, producer: origin.producer, source, code: r.code, details: r.details },
      "supporter payload refused",
    );
    throw refusalError(r);
  }

  return {
    async submit(value, origin) {
      const prepared = prepareValue(value, undefined, deps.prepare);
      if (isRefusal(prepared)) refuse(prepared, origin, undefined);
      return store(prepared, fieldsOf(value), origin.producer);
    },
    async submitBytes(bytes, source, origin) {
      const prepared = prepareBytes(bytes, source, deps.prepare);
      if (isRefusal(prepared)) refuse(prepared, origin, source);
      const value: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
      return store(prepared, fieldsOf(value));
    },
    async forget(hash, by) {
      if (!isIdentityHash(hash))
        throw new AppError("INVALID_PARAMETER", "not an identity hash", [
          { path: "/params/hash", message: "must be 43 base64url characters" },
        ]);
      const req: ForgetRequest = { hash, by };
      try {
        const ack = await nats.js.publish(names.forgetSubject, JSON.stringify(req));
        logger.info({ hash, by, seq: ack.seq }, "forget requested");
      } catch (err) {
        logger.error({ hash, err: errorMessage(err) }, "forget request not stored");
        throw new AppError("UNAVAILABLE", "the request could not be stored; try again");
      }
      return { hash, requestedAt: new Date().toISOString() };
    },
  };
}

/** The reply to a NATS request: the hash, or the error in the gateway's shape. */
export type IntakeReply =
  | ({ readonly ok: true } & Accepted)
  | {
      readonly ok: false;
      readonly error: {
        readonly code: string;
        readonly message: string;
        readonly details?: readonly { path: string; message: string }[];
      };
    };

/** Answers one request on {ns}.supporters.req.{source}. */
export async function answerRequest(intake: Intake, msg: Msg, logger: Logger): Promise<void> {
  const source = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
  let reply: IntakeReply;
  try {
    const a = await intake.submitBytes(msg.data, source, { via: "nats", producer: source });
    reply = { ok: true, ...a };
  } catch (err) {
    const e = err instanceof AppError ? err : new AppError("INTERNAL", "internal error");
    if (!(err instanceof AppError)) logger.error({ source, err: errorMessage(err) }, "supporter request failed");
    reply = { ok: false, error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
  }
  if (!msg.reply) {
    logger.warn(
      { source },
      "supporter request without a reply subject (use the in.* subject to publish without an answer)",
    );
    return;
  }
  msg.respond(JSON.stringify(reply));
}
