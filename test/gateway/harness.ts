/**
 * Gateway test harness: real nodes in this process (the lead's startNode: NATS, Postgres, Redis,
 * real actor runtime), each with a gateway on a free port, plus a tiny test-only "notes"
 * domain whose resources belong to clients (for tenant isolation). Several nodes in one
 * namespace see each other over NATS like separate processes would.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { ServiceSchema } from "moleculer";
import { loadConfig } from "../../node/config";
import { migrate } from "../../db";
import { startNode, type RunningNode } from "../../node/start";
import type { NodeContext } from "../../node/context";
import { createGatewayServices } from "../../services/gateway/service";
import {
  clientMigrations,
  clientAdminDeps,
  createClient,
  type ClientAdminDeps,
  type CreatedClient,
  type NewClientInput,
} from "../../services/gateway/clients";
import { assertOwner, requireScope, type GatewayMeta, type HttpCallParams, type RouteSpec } from "../../gateway";
import { AppError } from "../../lib/errors";
import { DATABASE_URL, NATS_URL, REDIS_URL, cleanupNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import type { Context } from "moleculer";
import { answerOf, type Answer } from "../support/http";

/** A running node with a gateway. */
export interface GatewayNode {
  readonly node: RunningNode;
  readonly ctx: NodeContext;
  readonly port: number;
  readonly url: string;
  readonly admin: ClientAdminDeps;
  stop(): Promise<void>;
}

/** Routes of the test-only notes domain. */
export const notesRoutes: readonly RouteSpec[] = [
  {
    method: "POST",
    path: "/api/v1/notes",
    action: "notes.create",
    access: "notes:write",
    summary: "Store a note (test domain)",
    tags: ["notes"],
    body: {
      contentTypes: ["application/json", "application/xml"],
      raw: true,
      schema: {
        type: "object",
        required: ["text"],
        additionalProperties: false,
        properties: { text: { type: "string", maxLength: 10000 } },
      },
    },
    responses: { 201: { description: "Stored" } },
  },
  {
    method: "GET",
    path: "/api/v1/notes/{id}",
    action: "notes.get",
    access: "notes:read",
    summary: "Read one of your notes (test domain)",
    tags: ["notes"],
    params: { type: "object", required: ["id"], properties: { id: { type: "string", pattern: "^n[0-9]{1,9}$" } } },
    responses: { 200: { description: "The note" } },
  },
  {
    method: "GET",
    path: "/api/v1/notes",
    action: "notes.list",
    access: "notes:read",
    summary: "List your notes (test domain)",
    tags: ["notes"],
    query: {
      type: "object",
      additionalProperties: false,
      properties: { limit: { type: "integer", minimum: 1, maximum: 100, default: 10 } },
    },
    responses: { 200: { description: "Your notes" } },
  },
];

interface Note {
  readonly id: string;
  readonly owner: string;
  readonly contentType: string;
  readonly raw: string;
}

/** The notes service: per-client resources kept in memory on the node that hosts it. */
export function notesService(): ServiceSchema {
  const notes = new Map<string, Note>();
  let seq = 0;
  return {
    name: "notes",
    actions: {
      create(
        ctx: Context<HttpCallParams<Record<string, string>, Record<string, unknown>, { text: string }>, GatewayMeta>,
      ) {
        const client = requireScope(ctx, "notes:write");
        const raw = ctx.params.raw;
        if (!raw) throw new AppError("BAD_REQUEST", "raw body expected");
        const id = `n${++seq}`;
        notes.set(id, { id, owner: client.id, contentType: raw.contentType, raw: raw.text });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/notes/${id}`;
        return {
          id,
          owner: client.id,
          contentType: raw.contentType,
          bytes: raw.bytes,
          sha256: createHash("sha256").update(raw.text, "utf8").digest("hex"),
          parsed: ctx.params.body ?? null,
        };
      },
      get(ctx: Context<HttpCallParams<{ id: string }>, GatewayMeta>) {
        const n = notes.get(ctx.params.params.id);
        assertOwner(ctx, n?.owner, "note");
        return n;
      },
      list(ctx: Context<HttpCallParams<Record<string, string>, { limit: number }>, GatewayMeta>) {
        const client = requireScope(ctx, "notes:read");
        return [...notes.values()].filter((n) => n.owner === client.id).slice(0, ctx.params.query.limit);
      },
    },
  };
}

/** Options for {@link startGatewayNode}. */
export interface StartOptions {
  readonly ns: string;
  readonly nodeId: string;
  /** Extra environment (e.g. GATEWAY_BODY_LIMIT_BYTES). */
  readonly env?: Record<string, string>;
  /** Host the notes service on this node (its routes are served by every node). */
  readonly notes?: boolean;
  readonly extraServices?: (ctx: NodeContext) => ServiceSchema[];
  /** Routes served besides every domain's and the notes routes. */
  readonly extraRoutes?: readonly RouteSpec[];
}

/** Starts a node with a gateway (and the notes routes) on a free port of 127.0.0.1. */
export async function startGatewayNode(opts: StartOptions): Promise<GatewayNode> {
  const config = loadConfig({
    NAMESPACE: opts.ns,
    NODE_ID: opts.nodeId,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime",
    ACTOR_PARTITIONS: "2",
    ...opts.env,
  });
  const node = await startNode(config);
  try {
    await migrate(node.ctx.pg, opts.ns, clientMigrations);
    const schemas = [
      ...createGatewayServices(node.ctx, { extraRoutes: [...notesRoutes, ...(opts.extraRoutes ?? [])] }),
      ...(opts.notes ? [notesService()] : []),
      ...(opts.extraServices?.(node.ctx) ?? []),
    ];
    for (const s of schemas) node.broker.createService(s);
    const svc = node.broker.getLocalService("gateway") as unknown as { server?: Server };
    const server = await waitFor("gateway listening", () => (svc.server?.listening ? svc.server : undefined), 15_000);
    await node.broker.waitForServices(["clients", ...(opts.notes ? ["notes"] : [])], 15_000);
    const port = (server.address() as AddressInfo).port;
    return {
      node,
      ctx: node.ctx,
      port,
      url: `http://127.0.0.1:${port}`,
      admin: clientAdminDeps(node.ctx),
      stop: () => node.stop(),
    };
  } catch (err) {
    await node.stop();
    throw err;
  }
}

/** Creates a client straight in the registry (as the CLI would). */
export function makeClient(
  admin: ClientAdminDeps,
  input: Partial<NewClientInput> & { scopes: string[] },
): Promise<CreatedClient> {
  return createClient(admin, {
    name: input.name ?? `client-${Math.random().toString(36).slice(2, 8)}`,
    scopes: input.scopes,
    ...(input.rateLimit ? { rateLimit: input.rateLimit } : {}),
    ...(input.webhookUrl ? { webhookUrl: input.webhookUrl } : {}),
  });
}

/** Deletes every Redis key of the namespace. */
export async function cleanupRedis(ns: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${ns}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Removes everything a gateway test created in `ns`: streams, KV, schema, Redis keys. */
export async function cleanupAll(ns: string): Promise<void> {
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}

export type { Answer };

/** Sends one request with fetch (loopback only) and reads the whole answer. */
export async function request(
  url: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<Answer> {
  return answerOf(await fetch(url, { ...init, redirect: "manual" }));
}

/** True when `body` is the uniform error shape with `code` (any code when omitted). */
export function isUniformError(body: unknown, code?: string): boolean {
  if (typeof body !== "object" || body === null) return false;
  const keys = Object.keys(body);
  const e = (body as { error?: unknown }).error;
  if (typeof e !== "object" || e === null) return false;
  const err = e as Record<string, unknown>;
  const allowed = new Set(["code", "message", "details", "requestId"]);
  if (!Object.keys(err).every((k) => allowed.has(k))) return false;
  if (typeof err["code"] !== "string" || !/^[A-Z][A-Z_]+$/.test(err["code"])) return false;
  if (typeof err["message"] !== "string" || typeof err["requestId"] !== "string" || err["requestId"] === "")
    return false;
  if (err["details"] !== undefined && !Array.isArray(err["details"])) return false;
  if (!keys.includes("error")) return false;
  return code === undefined || err["code"] === code;
}
