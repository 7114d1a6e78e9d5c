/**
 * Simulators of the rewards domain's external systems, in one HTTP server:
 *
 *   POST /validators/{police|iddoc|business}/verify   ID validators (one per entity kind:
 *        a police registry for officers, an ID-document service for civilians, a business
 *        registry for merchants). Body `{ document, name }`; 200 `{ valid: true, ref }` or
 *        `{ valid: false, reason }` (a document starting with `REJECT` is refused, as is any
 *        document while the validator's `reject` fault is on).
 *   POST /idp/users                                    identity provider: creates the user and
 *        credentials `{ userId, email, kind }`; idempotent by userId (201, then 200, same subject).
 *   GET  /catalogs/{irs|hud}/entries?page=N            catalog providers (charities from `irs`,
 *        families in need from `hud`): pages of `pageSize`, ETag per page, 304 on If-None-Match.
 *   PUT  /admin/catalogs/{provider}                    replaces a provider's entries (tests, demos).
 *   GET|PUT /admin/faults                              run-time faults per system (`police`,
 *        `iddoc`, `business`, `idp`, `irs`, `hud`): `{ down, errorRate, latencyMs, reject }`.
 */
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "../../lib/logger";
import { listen, readBody, send } from "../../lib/sim-http";
import { isRecord } from "./model";

/** Faults of one simulated system. */
export interface Fault {
  /** Answer 503 to everything. */
  readonly down: boolean;
  /** Share of calls answered 500 (0..1). */
  readonly errorRate: number;
  /** Added to every answer. */
  readonly latencyMs: number;
  /** Validators: refuse every document. */
  readonly reject: boolean;
}

export const SIM_SYSTEMS = ["police", "iddoc", "business", "idp", "irs", "hud"] as const;
export type SimSystem = (typeof SIM_SYSTEMS)[number];

/** One catalog entry as a provider serves it. */
export interface ProviderEntry {
  readonly id: string;
  readonly name: string;
  readonly updatedAt: string;
}

/** A running simulator. */
export interface RewardsSimulator {
  readonly url: string;
  setFault(system: SimSystem, fault: Partial<Fault>): void;
  setCatalog(provider: "irs" | "hud", entries: readonly ProviderEntry[]): void;
  /** Calls answered per system (tests). */
  readonly calls: Record<SimSystem, number>;
  /** Users the identity provider holds. */
  readonly idpUsers: Map<string, { subject: string; email: string; kind: string }>;
  close(): Promise<void>;
}

const NO_FAULT: Fault = { down: false, errorRate: 0, latencyMs: 0, reject: false };

/** Starts the simulator on `port` (0: any free port). */
export async function startRewardsSimulator(opts: {
  port: number;
  host?: string;
  logger: Logger;
  pageSize?: number;
  catalogs?: Partial<Record<"irs" | "hud", readonly ProviderEntry[]>>;
}): Promise<RewardsSimulator> {
  const faults = new Map<SimSystem, Fault>(SIM_SYSTEMS.map((s) => [s, NO_FAULT]));
  const calls = Object.fromEntries(SIM_SYSTEMS.map((s) => [s, 0])) as Record<SimSystem, number>;
  const catalogs = new Map<"irs" | "hud", readonly ProviderEntry[]>([
    ["irs", opts.catalogs?.irs ?? []],
    ["hud", opts.catalogs?.hud ?? []],
  ]);
  const idpUsers = new Map<string, { subject: string; email: string; kind: string }>();
  const pageSize = opts.pageSize ?? 50;

  async function faulted(system: SimSystem, res: http.ServerResponse): Promise<boolean> {
    calls[system]++;
    const f = faults.get(system) ?? NO_FAULT;
    if (f.latencyMs > 0) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (f.down) {
      send(res, 503, { error: `${system} is down` });
      return true;
    }
    if (f.errorRate > 0 && Math.random() < f.errorRate) {
      send(res, 500, { error: `${system} failed` });
      return true;
    }
    return false;
  }

  async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    try {
      const v: unknown = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8"));
      return isRecord(v) ? v : {};
    } catch {
      return {};
    }
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://sim");
      const parts = url.pathname.split("/").filter(Boolean);
      if (parts[0] === "admin" && parts[1] === "faults") {
        if (req.method === "PUT") {
          const b = await body(req);
          for (const [k, v] of Object.entries(b)) {
            const sys = SIM_SYSTEMS.find((s) => s === k);
            if (sys && isRecord(v)) faults.set(sys, { ...(faults.get(sys) ?? NO_FAULT), ...pickFault(v) });
          }
        }
        return send(res, 200, Object.fromEntries(faults));
      }
      if (parts[0] === "admin" && parts[1] === "catalogs" && req.method === "PUT") {
        const p = parts[2] === "irs" || parts[2] === "hud" ? parts[2] : null;
        const b = await body(req);
        if (!p || !Array.isArray(b["entries"]))
          return send(res, 422, { error: "PUT /admin/catalogs/irs|hud { entries }" });
        catalogs.set(p, b["entries"].filter(isEntry));
        return send(res, 200, { entries: catalogs.get(p)!.length });
      }
      if (parts[0] === "validators" && parts[2] === "verify" && req.method === "POST") {
        const sys = parts[1] === "police" || parts[1] === "iddoc" || parts[1] === "business" ? parts[1] : null;
        if (!sys) return send(res, 404, { error: "no such validator" });
        if (await faulted(sys, res)) return;
        const b = await body(req);
        const doc = typeof b["document"] === "string" ? b["document"] : "";
        if (doc === "") return send(res, 400, { error: "document required" });
        if (faults.get(sys)?.reject || doc.startsWith("REJECT"))
          return send(res, 200, { valid: false, reason: `${sys}: document ${doc} is not valid (revoked or unknown)` });
        return send(res, 200, {
          valid: true,
          ref: `${sys}-${createHash("sha256").update(doc).digest("hex").slice(0, 12)}`,
        });
      }
      if (parts[0] === "idp" && parts[1] === "users" && req.method === "POST") {
        if (await faulted("idp", res)) return;
        const b = await body(req);
        const userId = typeof b["userId"] === "string" ? b["userId"] : "";
        if (userId === "") return send(res, 400, { error: "userId required" });
        const had = idpUsers.get(userId);
        if (had) return send(res, 200, { subject: had.subject, created: false });
        const u = {
          subject: `idp|${randomBytes(8).toString("hex")}`,
          email: String(b["email"] ?? ""),
          kind: String(b["kind"] ?? ""),
        };
        idpUsers.set(userId, u);
        return send(res, 201, { subject: u.subject, created: true });
      }
      if (parts[0] === "catalogs" && parts[2] === "entries" && req.method === "GET") {
        const p = parts[1] === "irs" || parts[1] === "hud" ? parts[1] : null;
        if (!p) return send(res, 404, { error: "no such provider" });
        if (await faulted(p, res)) return;
        const all = catalogs.get(p) ?? [];
        const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
        const items = all.slice((page - 1) * pageSize, page * pageSize);
        const etag = `"${createHash("sha256").update(JSON.stringify(items)).digest("hex").slice(0, 16)}"`;
        const next = page * pageSize < all.length ? page + 1 : null;
        if (req.headers["if-none-match"] === etag) return send(res, 304, undefined, { ETag: etag });
        return send(res, 200, { items, page, next }, { ETag: etag });
      }
      send(res, 404, { error: "not found" });
    })().catch((err: unknown) => {
      opts.logger.error({ err: String(err) }, "simulator request failed");
      send(res, 500, { error: "simulator failed" });
    });
  });
  const l = await listen(server, opts.port, opts.host ?? "127.0.0.1");
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${l.port}`,
    setFault: (system, f) => faults.set(system, { ...(faults.get(system) ?? NO_FAULT), ...f }),
    setCatalog: (p, entries) => catalogs.set(p, entries),
    calls,
    idpUsers,
    close: () => l.close(),
  };
}

function pickFault(v: Record<string, unknown>): Partial<Fault> {
  return {
    ...(typeof v["down"] === "boolean" ? { down: v["down"] } : {}),
    ...(typeof v["reject"] === "boolean" ? { reject: v["reject"] } : {}),
    ...(typeof v["errorRate"] === "number" ? { errorRate: Math.min(1, Math.max(0, v["errorRate"])) } : {}),
    ...(typeof v["latencyMs"] === "number" ? { latencyMs: Math.min(60_000, Math.max(0, v["latencyMs"])) } : {}),
  };
}

function isEntry(v: unknown): v is ProviderEntry {
  return (
    isRecord(v) && typeof v["id"] === "string" && typeof v["name"] === "string" && typeof v["updatedAt"] === "string"
  );
}
