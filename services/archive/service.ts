/**
 * The archive domain's Moleculer layer: the service "archive". Its actions parse, call the
 * sealer, reader, analytics and exports, and shape the answer. Datasets are found in the
 * service registry: every action named `<service>.archiveDataset` answers one definition.
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import {
  clientOf,
  hasScope,
  requireClient,
  requireNodeOrOperator,
  requireOperator,
  requireScope,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import { AppError } from "../../lib/errors";
import type { Logger } from "../../lib/logger";
import { readVerified } from "../../storage";
import { checkDataset, isDatasetDefinition, type DatasetDefinition } from "./dataset";
import { bindParams, filesFor, runNamed, runOperatorSql } from "./analytics";
import { checkDownload, exportOf, signDownload, startExport, type ExportDeps, type ExportFormat } from "./exports";
import type { ArchiveListQuery } from "./reader";
import type { ArchiveParts } from "./parts";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;

/** Suffix of the action by which a domain describes its dataset. */
export const DATASET_ACTION = "archiveDataset";

/** Finds datasets in the registry (cached; looked up again when a name is unknown, at most every 5 s). */
export function datasetDirectory(broker: () => ServiceBroker | undefined, log: Logger) {
  let known = new Map<string, DatasetDefinition>();
  let at = 0;
  async function refresh(): Promise<void> {
    const b = broker();
    if (!b) return;
    const list = b.registry.getServiceList({ withActions: true, onlyAvailable: true }) as {
      actions?: Record<string, unknown>;
    }[];
    const names = new Set<string>();
    for (const s of list)
      for (const a of Object.keys(s.actions ?? {})) if (a.endsWith(`.${DATASET_ACTION}`)) names.add(a);
    const next = new Map<string, DatasetDefinition>();
    for (const a of names) {
      try {
        const def: unknown = await b.call(a, {});
        if (!isDatasetDefinition(def)) {
          log.error({ action: a }, "archive: dataset definition has the wrong shape");
          continue;
        }
        const problems = checkDataset(def);
        if (problems.length) log.error({ action: a, problems }, "archive: dataset definition refused");
        else next.set(def.name, def);
      } catch (err) {
        log.warn({ action: a, err: String(err) }, "archive: dataset definition not answered");
      }
    }
    known = next;
    at = Date.now();
  }
  return {
    async all(): Promise<DatasetDefinition[]> {
      if (Date.now() - at > 60_000) await refresh();
      return [...known.values()];
    },
    async get(name: string): Promise<DatasetDefinition> {
      let d = known.get(name);
      if (!d && Date.now() - at > 5000) {
        await refresh();
        d = known.get(name);
      }
      if (!d) throw new AppError("NOT_FOUND", `no dataset ${name}`);
      return d;
    },
  };
}

/** What the service needs. */
export interface ArchiveServiceDeps {
  readonly parts: () => ArchiveParts;
  readonly datasets: ReturnType<typeof datasetDirectory>;
  readonly publicUrl: string;
  readonly urlSecret: string;
  readonly urlTtlSec: number;
  readonly sqlTimeoutMs: number;
  readonly sqlMaxRows: number;
  readonly queryTimeoutMs: number;
  readonly log: Logger;
  /** Status for operators: the job's lease and progress. */
  readonly status: () => Record<string, unknown>;
  /** Runs one sealing round now (operators). */
  readonly sealNow: () => Promise<unknown>;
  readonly created: (b: ServiceBroker) => void;
  readonly started: (b: ServiceBroker) => Promise<void>;
  readonly stopped: () => Promise<void>;
}

type ListParams = ArchiveListQuery & { readonly dataset: string };
type GetParams = { readonly dataset: string; readonly clientId: string; readonly id: string; readonly time: string };

/** The Moleculer service "archive". */
export function archiveService(x: ArchiveServiceDeps): ServiceSchema {
  const exportDeps = (): ExportDeps => {
    const p = x.parts();
    return { pg: p.pg, store: p.store, reader: p.reader, log: x.log };
  };
  return {
    name: "archive",
    created() {
      x.created(this.broker);
    },
    started() {
      return x.started(this.broker);
    },
    stopped() {
      return x.stopped();
    },
    actions: {
      /** Nodes: a client's archived rows, newest first, before a (time, id) position. */
      async list(c: Context<ListParams>) {
        requireNodeOrOperator(c);
        const d = await x.datasets.get(c.params.dataset);
        const limit = Math.min(Math.max(1, Number(c.params.limit) || 100), 100_000);
        return { items: await x.parts().reader.list(d, { ...c.params, limit }) };
      },

      /** Nodes: one archived row of a client by id and time. */
      async get(c: Context<GetParams>) {
        requireNodeOrOperator(c);
        const d = await x.datasets.get(c.params.dataset);
        return { item: (await x.parts().reader.get(d, c.params.clientId, c.params.id, c.params.time)) ?? null };
      },

      /** Operators (REPL `archive`): datasets, months per state, the job's lease and progress. */
      async status(c: Context) {
        requireOperator(c);
        const p = x.parts();
        const out: Record<string, unknown>[] = [];
        for (const d of await x.datasets.all()) {
          const months = await p.months.all(d.name);
          const by: Record<string, number> = {};
          for (const m of months) by[m.state] = (by[m.state] ?? 0) + 1;
          const sealed = months.filter((m) => m.state === "sealed");
          out.push({
            dataset: d.name,
            months: by,
            rows: sealed.reduce((a, m) => a + (m.rows ?? 0), 0),
            bytes: sealed.reduce((a, m) => a + m.bytes, 0),
            oldest: sealed[0]?.month ?? null,
            newest: sealed.at(-1)?.month ?? null,
          });
        }
        return { datasets: out, job: x.status(), store: p.store.backend };
      },

      /** Operators: seal what is due now (on this node, if it holds the lease). */
      async sealNow(c: Context) {
        requireOperator(c);
        return x.sealNow();
      },

      async queries(c: Ctx<HttpCallParams<{ dataset: string }>>) {
        requireScope(c, "analytics:read");
        const d = await x.datasets.get(c.params.params.dataset);
        return {
          items: (d.queries ?? []).map((q) => ({ name: q.name, description: q.description, params: q.params })),
        };
      },

      async query(
        c: Ctx<
          HttpCallParams<
            { dataset: string; name: string },
            Record<string, unknown>,
            { params?: Record<string, unknown>; allClients?: boolean }
          >
        >,
      ) {
        const client = requireScope(c, "analytics:read");
        const d = await x.datasets.get(c.params.params.dataset);
        const q = (d.queries ?? []).find((n) => n.name === c.params.params.name);
        if (!q) throw new AppError("NOT_FOUND", `no query ${c.params.params.name} on ${d.name}`);
        const all = c.params.body?.allClients === true;
        if (all && !hasScope(client, "analytics:all"))
          throw new AppError("FORBIDDEN", "scope analytics:all required to query across clients");
        const params = bindParams(q, c.params.body?.params ?? {});
        const p = x.parts();
        const months = filesFor(await p.reader.sealed(d), q.months);
        const files = await Promise.all(months.map((m) => p.cache.ensure(m.fileKey, m.bytes)));
        const t0 = Date.now();
        const rows = await runNamed(p.duck, d, q, files, all ? null : client.id, params, x.queryTimeoutMs);
        return { query: q.name, scope: all ? "all clients" : "own", rows, ms: Date.now() - t0 };
      },

      async sql(
        c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { dataset: string; sql: string }>>,
      ) {
        requireOperator(c);
        const body = c.params.body;
        if (!body) throw new AppError("BAD_REQUEST", "a JSON body is required");
        const d = await x.datasets.get(body.dataset);
        const p = x.parts();
        const files = await p.reader.files(d);
        const t0 = Date.now();
        const r = await runOperatorSql(p.sqlDuck, d, files, body.sql, x.sqlTimeoutMs, x.sqlMaxRows);
        x.log.info({ dataset: d.name, rows: r.rows.length, ms: Date.now() - t0 }, "operator SQL ran");
        return { ...r, ms: Date.now() - t0 };
      },

      async exportStart(
        c: Ctx<
          HttpCallParams<
            { dataset: string },
            Record<string, unknown>,
            { from?: string; to?: string; format?: ExportFormat }
          >
        >,
      ) {
        const d = await x.datasets.get(c.params.params.dataset);
        const client = requireScope(c, `${d.name}:read`);
        const b = c.params.body ?? {};
        const id = await startExport(exportDeps(), d, {
          clientId: client.id,
          ...(b.from ? { from: b.from } : {}),
          ...(b.to ? { to: b.to } : {}),
          format: b.format ?? "jsonl",
        });
        const statusUrl = `${x.publicUrl}/api/v1/archive/exports/${id}`;
        c.meta.$statusCode = 202;
        c.meta.$responseHeaders = { Location: statusUrl };
        return { id, statusUrl };
      },

      async exportStatus(c: Ctx<HttpCallParams<{ id: string }>>) {
        const client = requireClient(c);
        const e = await exportOf(x.parts().pg, c.params.params.id);
        // another client's export is answered as absent
        if (!e || e.clientId !== client.id) throw new AppError("NOT_FOUND", "export not found");
        let downloadUrl: string | null = null;
        let expiresAt: string | null = null;
        if (e.state === "done") {
          const expires = Math.floor(Date.now() / 1000) + x.urlTtlSec;
          downloadUrl = `${x.publicUrl}/api/v1/archive/downloads/${e.id}?expires=${expires}&signature=${signDownload(x.urlSecret, e.id, expires)}`;
          expiresAt = new Date(expires * 1000).toISOString();
        }
        return { id: e.id, state: e.state, rows: e.rows, bytes: e.bytes, error: e.error, downloadUrl, expiresAt };
      },

      async download(c: Ctx<HttpCallParams<{ id: string }, { expires: number; signature: string }>>) {
        const { id } = c.params.params;
        const check = checkDownload(
          x.urlSecret,
          id,
          Number(c.params.query.expires),
          String(c.params.query.signature),
          Math.floor(Date.now() / 1000),
        );
        if (check === "bad") throw new AppError("FORBIDDEN", "download link is not valid");
        if (check === "expired")
          throw new AppError("FORBIDDEN", "download link expired: ask the export's status for a new one");
        const p = x.parts();
        const e = await exportOf(p.pg, id);
        if (!e || e.state !== "done" || !e.fileKey) throw new AppError("NOT_FOUND", "export not found");
        const bytes = await readVerified(p.store, e.fileKey);
        if (!bytes) throw new AppError("NOT_FOUND", "export file not found");
        c.meta.$responseType = e.format === "csv" ? "text/csv" : "application/x-ndjson";
        c.meta.$responseHeaders = { "Content-Disposition": `attachment; filename="${e.dataset}-${e.id}.${e.format}"` };
        return bytes.toString("utf8");
      },
    },
  };
}

export { clientOf };
