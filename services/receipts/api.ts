/**
 * What the receipts HTTP surface does, behind the thin Moleculer actions: accept a receipt
 * (parse, validate, idempotency, durable store, 202), read status and documents from the
 * freshest copy (actor state in KV, then the receipt stream, then Postgres), list, verify and
 * forward callbacks from the external services, and operator retries. Connections come in
 * through {@link ReceiptApiDeps}.
 */
import type { NatsHandles, KV } from "../../nats";
import type { Logger } from "../../lib/logger";
import type { ActorRuntime } from "../../actors/types";
import {
  REGISTRATION_SERVICES,
  receipt,
  type ReceiptCommand,
  type ReceiptState,
  type RegistrationService,
} from "./receipt.actor";
import { AppError, errorMessage } from "../../lib/errors";
import { checkUrl, type EgressPolicy } from "../../lib/egress";
import type { ReceiptNames } from "./streams";
import type { ReceiptStatus, ReceiptTypeInfo } from "./model";
import type { ReceiptTypeRegistry } from "./registry";
import { readReceipt, type BodyLimits, DEFAULT_BODY_LIMITS } from "./parse";
import { newReceiptId, isReceiptId } from "./ids";
import {
  checkIdempotencyKey,
  fingerprint,
  idempotencySlot,
  naturalKey,
  reuse,
  type IdempotencyRecord,
} from "./idempotency";
import { verifyWebhook } from "./webhooks";
import type { ReceiptRecord } from "./record";
import { isReceiptRecord, submittedFromRecord } from "./record";
import type { DeliveryLog } from "./deliveries";
import { statusFromRow, statusFromState, statusReceived, type ReceiptStatusView } from "./status";
import type { ListQuery, ReceiptPage, ReceiptStore } from "./store";
import type { ClientLookup } from "./jobs";

/** Connections and settings of the receipts API. */
export interface ReceiptApiDeps {
  readonly nats: NatsHandles;
  readonly names: ReceiptNames;
  readonly runtime: ActorRuntime;
  readonly store: ReceiptStore;
  readonly registry: ReceiptTypeRegistry;
  readonly clients: ClientLookup;
  readonly deliveries: DeliveryLog;
  readonly logger: Logger;
  readonly publicUrl: string;
  readonly callbackSecrets: Readonly<Record<RegistrationService, string>>;
  /** Destinations X-Callback-Url may name (config.egress). */
  readonly egress: EgressPolicy;
  readonly limits?: BodyLimits;
  readonly now?: () => number;
  /** Admission control: an error to refuse new receipts with while the node is overloaded. */
  readonly admission?: () => AppError | undefined;
}

/** True once the actor handled the receipt's submit (its status is set). */
function hasStatus(s: ReceiptState): s is ReceiptState & { status: ReceiptStatus } {
  return s.status !== null;
}

/** A submission as the action hands it over. */
export interface Submission {
  readonly clientId: string;
  readonly body: Uint8Array;
  readonly contentType: string | undefined;
  readonly idempotencyKey?: string | undefined;
  readonly callbackUrl?: string | undefined;
}

/** The 202 answer of POST /receipts. */
export interface Accepted {
  readonly id: string;
  readonly status: "RECEIVED";
  readonly statusUrl: string;
  /** True when an Idempotency-Key replay returned an earlier receipt. */
  readonly replayed: boolean;
}

/** GET /receipts/{id}. */
export interface ReceiptView {
  readonly id: string;
  readonly type: string;
  readonly format: string;
  readonly status: ReceiptStatus;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly references: { readonly tax: string | null; readonly warehouse: string | null };
  readonly document: Record<string, unknown>;
}

/** The receipts API (see module doc). */
export interface ReceiptApi {
  types(): ReceiptTypeInfo[];
  submit(s: Submission): Promise<Accepted>;
  status(clientId: string, id: string): Promise<ReceiptStatusView>;
  get(clientId: string, id: string): Promise<ReceiptView>;
  original(clientId: string, id: string): Promise<{ contentType: string; bytes: Buffer }>;
  list(q: ListQuery): Promise<ReceiptPage>;
  /** Verifies and forwards a callback; resolves once the actor's mailbox has it. */
  callback(
    service: RegistrationService,
    raw: string,
    headers: Readonly<Record<string, string | undefined>>,
  ): Promise<{ accepted: boolean; duplicate: boolean }>;
  /** An operator retry of a FAILED receipt (any client's). */
  retry(id: string, requestedBy: string): Promise<ReceiptStatusView>;
}

function notFound(): AppError {
  return new AppError("NOT_FOUND", "receipt not found");
}

/**
 * Checks X-Callback-Url: a malformed URL is a 400; a destination the egress policy refuses
 * (loopback, private, link-local, metadata, local names) a 422. The name is checked again
 * against what it resolves to when the webhook is sent.
 */
function checkCallbackUrl(url: string | undefined, egress: EgressPolicy): string | undefined {
  if (url === undefined || url === "") return undefined;
  const checked = checkUrl(url, egress);
  if (checked.ok) return url;
  const details = [{ path: "/headers/x-callback-url", message: checked.reason }];
  if (checked.refusal) throw new AppError("VALIDATION_ERROR", `X-Callback-Url ${checked.reason}`, details);
  throw new AppError(
    "INVALID_PARAMETER",
    "X-Callback-Url must be an http(s) URL of at most 2048 characters without credentials",
    details,
  );
}

/** Creates the receipts API over `deps`. */
export function createReceiptApi(deps: ReceiptApiDeps): ReceiptApi {
  const now = deps.now ?? Date.now;
  const receipts = receipt.on(deps.runtime);
  const limits = deps.limits ?? DEFAULT_BODY_LIMITS;
  let idemKv: Promise<KV> | null = null;
  const kv = (): Promise<KV> =>
    (idemKv ??= deps.nats.kvm.open(deps.names.idempotencyBucket).catch((err: unknown) => {
      idemKv = null;
      throw err;
    }));
  const statusUrl = (id: string): string => `${deps.publicUrl}/api/v1/receipts/${id}/status`;

  /** The stored record of `id` while the receipt stream still has it. */
  async function streamRecord(id: string): Promise<ReceiptRecord | undefined> {
    const m = await deps.nats.jsm.direct
      .getMessage(deps.names.stream, { last_by_subj: deps.names.recordSubject(id) })
      .catch(() => null);
    if (!m) return undefined;
    let v: unknown;
    try {
      v = m.json();
    } catch {
      return undefined;
    }
    return isReceiptRecord(v) ? v : undefined;
  }

  /** The actor's state once the receipt was submitted to it (a status set), else undefined. */
  async function actorState(id: string): Promise<(ReceiptState & { status: ReceiptStatus }) | undefined> {
    const s = await receipts.state(id);
    return s && hasStatus(s) ? s : undefined;
  }

  /** Claims the Idempotency-Key for a new receipt, or returns the receipt it already names. */
  async function claimKey(
    clientId: string,
    key: string,
    fp: string,
    natural?: { type: string; number: string },
  ): Promise<{ record: IdempotencyRecord; replayed: boolean }> {
    const bucket = await kv();
    const slot = idempotencySlot(clientId, key);
    const t = now();
    const fresh: IdempotencyRecord = { receiptId: newReceiptId(t), fingerprint: fp, receivedAt: t };
    try {
      await bucket.create(slot, JSON.stringify(fresh));
      return { record: fresh, replayed: false };
    } catch (err) {
      // taken (or the create timed out: then it may have landed); a store that does not answer is a 503
      const e = await bucket.get(slot).catch((getErr: unknown) => {
        throw new AppError("UNAVAILABLE", `idempotency store unavailable: ${errorMessage(getErr)}`, undefined, {
          "Retry-After": "1",
        });
      });
      if (!e || e.operation !== "PUT")
        throw new AppError("UNAVAILABLE", `idempotency store unavailable: ${errorMessage(err)}`, undefined, {
          "Retry-After": "1",
        });
      return { record: reuse(e.json<IdempotencyRecord>(), fp, natural), replayed: true };
    }
  }

  return {
    types: () => deps.registry.describe(),

    async submit(s) {
      const refused = deps.admission?.();
      if (refused) throw refused;
      const key = checkIdempotencyKey(s.idempotencyKey);
      const headerCallback = checkCallbackUrl(s.callbackUrl, deps.egress);
      const read = readReceipt(deps.registry, s.body, s.contentType, limits);
      const fp = fingerprint(read.format, s.body);
      // the Idempotency-Key, or else the receipt's natural identity (client, type, number)
      const natural = { type: read.type.name, number: read.type.number(read.document) };
      const claim =
        key !== undefined
          ? await claimKey(s.clientId, key, fp)
          : await claimKey(s.clientId, naturalKey(natural.type, natural.number), fp, natural);
      const id = claim.record.receiptId;
      const createdAt = claim.record.receivedAt;
      const replayed = claim.replayed;
      // an earlier submission that reached its actor needs no second copy
      if (replayed && (await actorState(id))) return { id, status: "RECEIVED", statusUrl: statusUrl(id), replayed };
      const callbackUrl = headerCallback ?? (await deps.clients.webhookOf(s.clientId))?.url ?? null;
      const record: ReceiptRecord = {
        id,
        clientId: s.clientId,
        type: read.type.name,
        typeVersion: read.type.version,
        format: read.format,
        contentType: read.contentType || (read.format === "json" ? "application/json" : "application/xml"),
        createdAt,
        idempotencyKey: key ?? null,
        fingerprint: fp,
        callbackUrl,
        summary: read.summary,
        document: read.document,
        original: Buffer.from(s.body).toString("base64"),
      };
      // Durable before the answer: both publish acks mean JetStream stored them. The record
      // (original bytes, for the store) and the submit (for the actor) go in parallel; if only
      // the record lands, the sweeper resubmits it from Postgres.
      const submit: ReceiptCommand = { type: "submit", receipt: submittedFromRecord(record) };
      await Promise.all([
        deps.nats.js.publish(deps.names.recordSubject(id), JSON.stringify(record), { msgID: id }),
        receipts.send(id, submit, { id: `submit-${id}` }),
      ]);
      return { id, status: "RECEIVED", statusUrl: statusUrl(id), replayed };
    },

    async status(clientId, id) {
      if (!isReceiptId(id)) throw notFound();
      const st = await actorState(id);
      if (st) {
        if (st.clientId !== clientId) throw notFound();
        const deliveries = st.webhooks.length > 0 ? await deps.deliveries.read(id).catch(() => ({})) : {};
        return statusFromState(st, now(), deliveries);
      }
      const rec = await streamRecord(id);
      if (rec) {
        if (rec.clientId !== clientId) throw notFound();
        return statusReceived(id, rec.createdAt);
      }
      const row = await deps.store.get(id);
      if (!row || row.clientId !== clientId) throw notFound();
      return statusFromRow({
        id,
        status: row.status,
        reason: row.reason,
        taxReference: row.references.tax,
        warehouseReference: row.references.warehouse,
        createdAt: row.createdAt,
        updatedAt: row.updatedAt,
      });
    },

    async get(clientId, id) {
      if (!isReceiptId(id)) throw notFound();
      const [row, st] = await Promise.all([deps.store.get(id), actorState(id)]);
      if (row) {
        if (row.clientId !== clientId) throw notFound();
        return {
          id,
          type: row.type,
          format: row.format,
          status: st?.status ?? row.status,
          reason: st ? st.reason : row.reason,
          createdAt: row.createdAt,
          updatedAt: st ? new Date(st.updatedAt).toISOString() : row.updatedAt,
          references: st ? { tax: st.steps.tax.reference, warehouse: st.steps.warehouse.reference } : row.references,
          document: row.document,
        };
      }
      const rec = await streamRecord(id);
      if (!rec || rec.clientId !== clientId) throw notFound();
      const created = new Date(rec.createdAt).toISOString();
      return {
        id,
        type: rec.type,
        format: rec.format,
        status: st?.status ?? "RECEIVED",
        reason: st?.reason ?? null,
        createdAt: created,
        updatedAt: st ? new Date(st.updatedAt).toISOString() : created,
        references: { tax: st?.steps.tax.reference ?? null, warehouse: st?.steps.warehouse.reference ?? null },
        document: rec.document,
      };
    },

    async original(clientId, id) {
      if (!isReceiptId(id)) throw notFound();
      const row = await deps.store.original(id);
      if (row) {
        if (row.clientId !== clientId) throw notFound();
        return { contentType: row.contentType, bytes: row.bytes };
      }
      const rec = await streamRecord(id);
      if (!rec || rec.clientId !== clientId) throw notFound();
      return { contentType: rec.contentType, bytes: Buffer.from(rec.original, "base64") };
    },

    list: (q) => deps.store.list(q),

    async callback(service, raw, headers) {
      const failure = verifyWebhook(deps.callbackSecrets[service], headers, raw, now());
      if (failure !== null) throw new AppError("INVALID_SIGNATURE", `callback signature not accepted (${failure})`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new AppError("INVALID_JSON", "callback body is not JSON");
      }
      // a body that is JSON but no object has none of the fields: refused below like a missing receiptId
      const body: Readonly<Record<string, unknown>> =
        typeof parsed === "object" && parsed !== null ? { ...parsed } : {};
      const receiptId = body["receiptId"];
      const status = body["status"];
      if (typeof receiptId !== "string" || !isReceiptId(receiptId))
        throw new AppError("VALIDATION_ERROR", "receiptId must be a receipt id", [
          { path: "/receiptId", message: "invalid" },
        ]);
      let msg: ReceiptCommand;
      if (status === "registered" && typeof body["registrationId"] === "string" && body["registrationId"] !== "") {
        msg = { type: "callback", service, status: "registered", registrationId: body["registrationId"].slice(0, 200) };
      } else if (status === "rejected") {
        msg = {
          type: "callback",
          service,
          status: "rejected",
          reason:
            typeof body["reason"] === "string" && body["reason"] !== ""
              ? body["reason"].slice(0, 1000)
              : "no reason given",
        };
      } else {
        throw new AppError(
          "VALIDATION_ERROR",
          "status must be registered (with registrationId) or rejected (with reason)",
          [{ path: "/status", message: "invalid" }],
        );
      }
      // no existence check: the service is authenticated, and the actor ignores what is not its own
      const webhookId = headers["webhook-id"] ?? "";
      const r = await receipts.send(receiptId, msg, { id: `cb-${service}-${webhookId}` });
      return { accepted: true, duplicate: r.duplicate };
    },

    async retry(id, requestedBy) {
      if (!isReceiptId(id)) throw notFound();
      const st = await actorState(id);
      if (!st) throw notFound();
      if (st.status !== "FAILED")
        throw new AppError("CONFLICT", `only FAILED receipts can be retried; this one is ${st.status}`);
      await receipts.send(id, { type: "retry", requestedBy }, { id: `retry-${id}-${st.operatorRetries + 1}` });
      return statusFromState(st, now());
    },
  };
}

/** The services a callback can come from (path parameter of POST /callbacks/{service}). */
export const CALLBACK_SERVICES = REGISTRATION_SERVICES;
