/**
 * The receipts domain's Moleculer layer: the service "receipts", whose actions only parse, call
 * the receipts API (api.ts) and shape the answer, and the client lookup the webhook job signs
 * with, through the gateway domain's action `clients.webhook` (cached per client).
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import {
  requireNodeOrOperator,
  requireOperator,
  requireScope,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import { AppError, RetryableError } from "../../lib/errors";
import type { RegistrationService } from "./receipt.actor";
import type { ReceiptStatus } from "./model";
import type { ReceiptApi } from "./api";
import type { ClientLookup } from "./jobs";
import type { ConsumerLoop } from "./writer";
import { archivedReceipt, olderThanHot, withArchived } from "./archived";
import { receiptsDataset } from "./dataset";

/** What the gateway domain's action `clients.webhook` answers: the client's webhook URL and secret, or null for no such client. */
export type ClientWebhook = { readonly url: string | null; readonly secret: string } | null;

/** True when `v` has the shape of a {@link ClientWebhook} answer. */
function isClientWebhook(v: unknown): v is ClientWebhook {
  if (v === null) return true;
  if (typeof v !== "object" || !("secret" in v) || typeof v.secret !== "string") return false;
  return "url" in v && (v.url === null || typeof v.url === "string");
}

/**
 * Client webhook lookups through the gateway domain (`clients.webhook`, callable by nodes and
 * operators only), called as this node (`broker.call` from no action: the node's standing
 * caller assertion). `broker` is the node's broker once the receipts service was created; a
 * lookup before then, or a failed call, is retried by the webhook job.
 */
export function gatewayClientLookup(broker: () => ServiceBroker | undefined): ClientLookup {
  return {
    async webhookOf(id) {
      const b = broker();
      if (!b) throw new RetryableError("receipts service not started on this node yet", 1000);
      const answer: unknown = await b.call("clients.webhook", { id });
      if (!isClientWebhook(answer)) throw new RetryableError("clients.webhook answered an unexpected shape");
      return answer ?? undefined;
    },
  };
}

/** Caches client webhook lookups for `ttlMs` (one query per client per TTL, not per receipt). */
export function cachedClientLookup(inner: ClientLookup, ttlMs = 30_000): ClientLookup {
  const cache = new Map<string, { at: number; value: Awaited<ReturnType<ClientLookup["webhookOf"]>> }>();
  return {
    async webhookOf(id) {
      const hit = cache.get(id);
      if (hit && Date.now() - hit.at < ttlMs) return hit.value;
      const value = await inner.webhookOf(id);
      if (cache.size > 50_000) cache.clear();
      cache.set(id, { at: Date.now(), value });
      return value;
    },
  };
}

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall = HttpCallParams<{ id: string }>;
type ListCall = HttpCallParams<
  Record<string, string>,
  { from?: string; to?: string; status?: ReceiptStatus; type?: string; limit?: number; cursor?: string }
>;

/** What the service hands its node's lifecycle (index.ts): its broker once created, and when it started. */
export interface ReceiptsServiceHooks {
  /** The node's broker, before any action or job runs. */
  created(broker: ServiceBroker): void;
  /** The broker started: background work (partitions, writer, sweeper) may begin. */
  started(broker: ServiceBroker): Promise<void>;
  /** RECEIPTS_HOT_DAYS: older months are read from the archive (archived.ts). */
  readonly hotDays: number;
}

/** The Moleculer service "receipts" over `api` (see {@link ReceiptApi}). */
export function receiptsService(
  api: ReceiptApi,
  publicUrl: string,
  loops: () => readonly ConsumerLoop[],
  hooks: ReceiptsServiceHooks,
): ServiceSchema {
  const callback = (service: RegistrationService) => async (c: Ctx) => {
    const raw = c.params.raw;
    if (!raw) throw new AppError("BAD_REQUEST", "a JSON body is required");
    await api.callback(service, raw.text, c.params.headers ?? {});
    return { received: true };
  };
  let broker: ServiceBroker | undefined;
  /** Hot first, then the archive; for ids of months older than the hot window, the archive first. */
  const getAny = async (clientId: string, id: string) => {
    const archived = olderThanHot(id, hooks.hotDays) ? await archivedReceipt(broker, clientId, id) : undefined;
    if (archived) return archived;
    try {
      return await api.get(clientId, id);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "NOT_FOUND") throw err;
      const late = await archivedReceipt(broker, clientId, id);
      if (!late) throw err;
      return late;
    }
  };
  return {
    name: "receipts",
    created() {
      broker = this.broker;
      hooks.created(this.broker);
    },
    started() {
      return hooks.started(this.broker);
    },
    actions: {
      types: () => ({ items: api.types() }),

      async submit(c: Ctx) {
        const client = requireScope(c, "receipts:write");
        const raw = c.params.raw;
        if (!raw) throw new AppError("BAD_REQUEST", "a receipt body is required");
        const h = c.params.headers ?? {};
        const r = await api.submit({
          clientId: client.id,
          body: Buffer.from(raw.text, "utf8"),
          contentType: h["content-type"] ?? raw.contentType,
          idempotencyKey: h["idempotency-key"],
          callbackUrl: h["x-callback-url"],
        });
        c.meta.$statusCode = 202;
        // moleculer-web sets Location from $location only for 201 and 3xx
        c.meta.$responseHeaders = { Location: r.statusUrl, ...(r.replayed ? { "Idempotent-Replayed": "true" } : {}) };
        return { id: r.id, status: r.status, statusUrl: r.statusUrl };
      },

      status: (c: Ctx<IdCall>) => api.status(requireScope(c, "receipts:read").id, c.params.params.id),

      async get(c: Ctx<IdCall>) {
        const r = await getAny(requireScope(c, "receipts:read").id, c.params.params.id);
        return {
          id: r.id,
          type: r.type,
          format: r.format,
          status: r.status,
          reason: r.reason,
          createdAt: r.createdAt,
          updatedAt: r.updatedAt,
          references: r.references,
          document: r.document,
        };
      },

      async original(c: Ctx<IdCall>) {
        const clientId = requireScope(c, "receipts:read").id;
        const o = await api.original(clientId, c.params.params.id).catch(async (err: unknown) => {
          if (!(err instanceof AppError) || err.code !== "NOT_FOUND") throw err;
          const a = await archivedReceipt(broker, clientId, c.params.params.id);
          if (!a) throw err;
          return { contentType: a.contentType, bytes: Buffer.from(a.original, "base64") };
        });
        c.meta.$responseType = o.contentType;
        // the gateway only accepts UTF-8 bodies, so the original is UTF-8 text
        return o.bytes.toString("utf8");
      },

      async list(c: Ctx<ListCall>) {
        const client = requireScope(c, "receipts:read");
        const q = c.params.query;
        const query = {
          clientId: client.id,
          ...(q.from ? { from: new Date(q.from) } : {}),
          ...(q.to ? { to: new Date(q.to) } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        };
        return withArchived(broker, query, await api.list(query));
      },

      /** Nodes: the receipts table as a dataset of the archive domain (dataset.ts). */
      archiveDataset(c: Context) {
        requireNodeOrOperator(c);
        return receiptsDataset(hooks.hotDays);
      },

      callbackTax: callback("tax"),
      callbackWarehouse: callback("warehouse"),

      async retry(c: Ctx<IdCall>) {
        // through the gateway the route requires "admin"; the REPL calls as an operator
        const who = requireOperator(c);
        c.meta.$statusCode = 202;
        return api.retry(c.params.params.id, who);
      },

      /** Operators (REPL): `call receipts.retryFailed --id <id>`. */
      retryFailed: {
        params: { id: "string" },
        handler: (c: Context<{ id: string }>) => api.retry(c.params.id, requireOperator(c)),
      },

      /** Operators: counters of the Postgres writer on this node. */
      pipeline: (c: Ctx<unknown>) => {
        requireOperator(c);
        return { publicUrl, loops: loops().map((l) => ({ running: l.running(), ...l.stats })) };
      },
    },
  };
}
