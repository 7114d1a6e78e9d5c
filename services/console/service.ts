/**
 * The `console` service, one per node that hosts the console: serves the page and its assets,
 * and answers the console's admin routes (routes.ts). Every admin action passes the operator
 * gate (`requireOperator`: an operator, a node, or a client with scope admin) and calls the
 * same runtime actions as the REPL (`runtime.partitions`, `runtime.dlqReplay`) with the
 * caller's own assertion; edits and replays are written to the audit log (audit.ts).
 */
import { PassThrough } from "node:stream";
import type { Context, ServiceSchema } from "moleculer";
import type { NodeContext } from "../../node/context";
import { requireOperator } from "../../gateway/access";
import { seqCursorOf } from "../../gateway/pagination";
import type { GatewayMeta, HttpCallParams } from "../../gateway/routes";
import type { PartitionOwnership, ConsumerStats } from "../../actors/types";
import { AppError, errorMessage } from "../../lib/errors";
import { CONSOLE_CSP, type ConsoleAssets } from "./assets";
import type { AuditLog } from "./audit";
import { replayOrder, type DlqFilter } from "./dlq-view";
import type { Inspector } from "./inspect";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

/** An alarm as the console lists it. */
export interface AlarmView {
  readonly event: string;
  readonly from: string;
  readonly receivedAt: string;
  readonly payload: unknown;
}

/** What one node says about itself (`console.node`). */
export interface NodeView {
  readonly nodeId: string;
  readonly workers: boolean;
  readonly services: readonly string[];
  readonly ready: { ready: boolean; checks: Record<string, { ok: boolean; detail?: unknown }> };
  readonly ownedPartitions: number;
  readonly actors: Record<string, number>;
  readonly heapUsed: number;
  readonly uptimeSec: number;
  /** Live feeds (`console.live`) this node is serving now. */
  readonly liveFeeds: number;
}

/** What the service needs. */
export interface ConsoleServiceDeps {
  readonly ctx: NodeContext;
  readonly assets: ConsoleAssets;
  readonly inspector: Inspector;
  readonly audit: AuditLog;
  /** How often the live feed sends a snapshot (default 1000 ms). */
  readonly liveIntervalMs?: number;
  /** How long one live feed stays open (default 10 minutes; the page reconnects). */
  readonly liveMaxMs?: number;
}

const MAX_ALARMS = 200;

function filterOf(q: { subject?: string | undefined; error?: string | undefined }): DlqFilter {
  return { subject: q.subject, error: q.error };
}

/** The `console` service (see the module doc). */
export function consoleService(deps: ConsoleServiceDeps): ServiceSchema {
  const { ctx, assets, inspector, audit } = deps;
  const alarms: AlarmView[] = [];
  const listeners = new Set<(a: AlarmView) => void>();
  const started = Date.now();

  async function snapshot() {
    const [streams, consumers] = await Promise.all([inspector.streams(), ctx.runtime.consumerStats()]);
    return {
      at: Date.now(),
      streams: streams.map((s) => ({ name: s.name, lastSeq: s.lastSeq, messages: s.messages })),
      consumers,
    };
  }

  return {
    name: "console",
    events: {
      "alarm.*"(c: Context<unknown>) {
        const a: AlarmView = {
          event: c.eventName ?? "",
          from: c.nodeID ?? "",
          receivedAt: new Date().toISOString(),
          payload: c.params,
        };
        alarms.unshift(a);
        alarms.length = Math.min(alarms.length, MAX_ALARMS);
        for (const l of listeners) l(a);
      },
    },
    actions: {
      page(c: Ctx<unknown>) {
        if (!assets.index) throw new AppError("NOT_FOUND", "the console is not built (npm run build:console)");
        c.meta.$responseType = "text/html; charset=utf-8";
        c.meta.$responseHeaders = { "Content-Security-Policy": CONSOLE_CSP, "Referrer-Policy": "no-referrer" };
        return assets.index;
      },
      asset(c: Ctx<HttpCallParams<{ file: string }>>) {
        const a = assets.files.get(c.params.params.file);
        if (!a) throw new AppError("NOT_FOUND", "no such asset");
        c.meta.$responseType = a.type;
        // file names carry a content hash
        c.meta.$responseHeaders = { "Cache-Control": "public, max-age=31536000, immutable" };
        return a.body;
      },
      node: {
        // internal (no route): what this node says about itself, for the cluster page
        handler(c: Context<unknown>): NodeView {
          requireOperator(c);
          const cfg = ctx.config;
          return {
            nodeId: cfg.nodeId,
            workers: cfg.workers,
            services: [...cfg.services],
            ready: ctx.health.report(),
            ownedPartitions: ctx.runtime.ownedPartitions(),
            actors: ctx.runtime.actorCounts(),
            heapUsed: process.memoryUsage().heapUsed,
            uptimeSec: Math.round((Date.now() - started) / 1000),
            liveFeeds: listeners.size,
          };
        },
      },
      async cluster(c: Ctx) {
        requireOperator(c);
        const registryNodes = c.broker.registry.getNodeList({ onlyAvailable: true, withServices: true });
        const nodes = await Promise.all(
          registryNodes
            .filter((n) => !n.id.startsWith("repl-"))
            .map(async (n) => {
              const services = [...new Set(n.services.map((s) => String(s["name"])).filter((s) => !s.startsWith("$")))];
              const base = {
                id: n.id,
                hostname: n.hostname,
                services: services.sort(),
                roles: [
                  ...(services.includes("gateway") ? ["api"] : []),
                  ...(services.includes("runtime") ? ["worker"] : []),
                ],
              };
              if (!services.includes("console")) return { ...base, info: null };
              try {
                const info = (await c.call("console.node", {}, { nodeID: n.id })) as NodeView;
                if (!info.workers) base.roles = base.roles.filter((r) => r !== "worker");
                return { ...base, info };
              } catch (err) {
                return { ...base, info: null, error: errorMessage(err) };
              }
            }),
        );
        const ownership: PartitionOwnership[] = [];
        for (const n of nodes) {
          if (!n.services.includes("runtime") || ownership.length > 0) continue;
          try {
            const r = (await c.call("runtime.partitions", {}, { nodeID: n.id })) as {
              partitions: PartitionOwnership[];
            };
            ownership.push(...r.partitions);
          } catch {
            // a node without hosted kinds answers nothing: try the next
          }
        }
        const leases = await inspector.leases();
        const age = new Map(leases.map((l) => [`${l.kind}/${l.partition}`, l]));
        const partitions = ownership.map((o) => ({
          ...o,
          leaseAgeMs: age.get(`${o.kind}/${o.partition}`)?.ageMs ?? null,
        }));
        return {
          namespace: ctx.config.namespace,
          answeredBy: ctx.config.nodeId,
          nodes: nodes.sort((a, b) => a.id.localeCompare(b.id)),
          partitions,
          rebalancing: partitions.filter((p) => p.owner !== p.desired).length,
        };
      },
      async streams(c: Ctx) {
        requireOperator(c);
        const [streams, consumers] = await Promise.all([inspector.streams(), ctx.runtime.consumerStats()]);
        return { streams, consumers: consumers satisfies ConsumerStats[] };
      },
      live(c: Ctx) {
        requireOperator(c);
        const out = new PassThrough();
        let closed = false;
        const send = (event: string, data: unknown) => {
          if (!closed) out.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        const onAlarm = (a: AlarmView) => send("alarm", a);
        listeners.add(onAlarm);
        let busy = false;
        const tick = () => {
          if (busy || closed) return;
          busy = true;
          snapshot()
            .then((s) => send("snapshot", s))
            .catch((err: unknown) => send("problem", { message: errorMessage(err) }))
            .finally(() => {
              busy = false;
            });
        };
        const timer = setInterval(tick, deps.liveIntervalMs ?? 1000);
        const stop = () => {
          if (closed) return;
          closed = true;
          clearInterval(timer);
          clearTimeout(limit);
          listeners.delete(onAlarm);
          out.end();
        };
        const limit = setTimeout(stop, deps.liveMaxMs ?? 600_000);
        // the response closing unpipes this stream: stop feeding it
        out.on("unpipe", stop);
        out.on("close", stop);
        out.write(": live\n\n");
        // what came before this feed opened, so that a page misses none
        send("alarms", alarms);
        tick();
        c.meta.$responseType = "text/event-stream; charset=utf-8";
        c.meta.$responseHeaders = { "Cache-Control": "no-store", "X-Accel-Buffering": "no" };
        return out;
      },
      async actor(c: Ctx<HttpCallParams<{ kind: string; key: string }>>) {
        requireOperator(c);
        return inspector.actor(c.params.params.kind, c.params.params.key);
      },
      async dlq(
        c: Ctx<
          HttpCallParams<
            Record<string, string>,
            { group?: string; subject?: string; error?: string; cursor?: string; after?: number; limit?: number }
          >
        >,
      ) {
        requireOperator(c);
        const q = c.params.query;
        const page = await inspector.dlqPage({
          group: q.group,
          filter: filterOf(q),
          after: seqCursorOf(q),
          limit: q.limit ?? 100,
        });
        return { ...page, nextCursor: page.next === null ? null : String(page.next) };
      },
      async dlqEdit(
        c: Ctx<HttpCallParams<{ seq: string }, Record<string, unknown>, { data: unknown; reason?: string }>>,
      ) {
        const who = requireOperator(c);
        const seq = Number(c.params.params.seq);
        const body = c.params.body!;
        const r = await inspector.dlqEdit(seq, body.data, who);
        const entry = await audit.record({
          who,
          action: "dlq.edit",
          target: `dlq:${seq}`,
          detail: {
            seq,
            newSeq: r.seq,
            subject: r.before.subject,
            originalSubject: r.before.originalSubject,
            before: r.before.data,
            after: body.data,
            ...(body.reason ? { reason: body.reason } : {}),
          },
          requestId: c.requestID ?? undefined,
        });
        return { seq: r.seq, previous: seq, audit: entry };
      },
      async dlqReplay(
        c: Ctx<
          HttpCallParams<
            Record<string, string>,
            Record<string, unknown>,
            { seqs?: number[]; filter?: { group?: string; subject?: string; error?: string } }
          >
        >,
      ) {
        const who = requireOperator(c);
        const body = c.params.body!;
        const entries = body.seqs
          ? await inspector.dlqEntries(body.seqs)
          : await inspector.dlqSelect(body.filter?.group, filterOf(body.filter ?? {}));
        const ordered = replayOrder(entries).map((e) => e.seq);
        const requestedMissing = body.seqs ? body.seqs.filter((s) => !entries.some((e) => e.seq === s)) : [];
        const r =
          ordered.length > 0
            ? ((await c.call("runtime.dlqReplay", { seqs: ordered })) as { replayed: number[]; missing: number[] })
            : { replayed: [], missing: [] };
        const missing = [...requestedMissing, ...r.missing];
        const entry = await audit.record({
          who,
          action: "dlq.replay",
          target: `dlq:${r.replayed.length} entries`,
          detail: {
            replayed: r.replayed,
            missing,
            subjects: entries.filter((e) => r.replayed.includes(e.seq)).map((e) => e.originalSubject),
            ...(body.filter ? { filter: body.filter } : {}),
          },
          requestId: c.requestID ?? undefined,
        });
        return { replayed: r.replayed, missing, audit: entry };
      },
      async audit(
        c: Ctx<HttpCallParams<Record<string, string>, { cursor?: string; before?: number; limit?: number }>>,
      ) {
        requireOperator(c);
        const q = c.params.query;
        const limit = q.limit ?? 100;
        const before = seqCursorOf({ cursor: q.cursor, after: q.before });
        const items = await audit.list({ limit, before: before > 0 ? before : undefined });
        const last = items.at(-1);
        return { items, nextCursor: items.length >= limit && last ? String(last.id) : null };
      },
      pages(c: Ctx) {
        requireOperator(c);
        return { items: ctx.consolePages ?? [] };
      },
      alarms(c: Ctx) {
        requireOperator(c);
        return { items: alarms };
      },
    },
  };
}
