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
 *   POST /idp/users/{userId}/password                  the user sets its password (the step of the
 *        activation mail a real provider sends) `{ password }`; 204, 404 for an unknown user.
 *   POST /idp/token                                    end-user token: `{ username, password }` ->
 *        `{ access_token, token_type: "Bearer", expires_in }` (ES256 JWT: `iss` {url}/idp, `aud`,
 *        `sub` = the user id, `scope`); 401 for bad credentials.
 *   GET  /idp/jwks                                     the public keys of those tokens.
 *   PUT  /admin/idp/admins/{userId}                    an admin user `{ password }` (scope admin).
 *   POST /admin/idp/tokens                             any token `{ sub, scope, expiresIn }`
 *        (expiresIn may be negative: expired tokens for tests).
 *   GET  /catalogs/{irs|hud}/entries?page=N            catalog providers (charities from `irs`,
 *        families in need from `hud`): pages of `pageSize`, ETag per page, 304 on If-None-Match.
 *   PUT  /admin/catalogs/{provider}                    replaces a provider's entries (tests, demos).
 *   GET|PUT /admin/faults                              run-time faults per system (`police`,
 *        `iddoc`, `business`, `idp`, `irs`, `hud`): `{ down, errorRate, latencyMs, reject }`.
 */
import http from "node:http";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
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
  readonly idpUsers: Map<string, IdpUser>;
  /** `iss` of its end-user tokens ({url}/idp). */
  readonly issuer: string;
  close(): Promise<void>;
}

/** A user of the simulated identity provider. */
export interface IdpUser {
  readonly subject: string;
  readonly email: string;
  /** An entity kind, or "admin". */
  readonly kind: string;
  /** `salt:sha256(salt + password)` once the user set a password. */
  password?: string;
}

/** Scopes of an end-user token by the user's kind. */
export function idpScopes(kind: string): string {
  return kind === "admin" ? "admin rewards:read users:read" : "rewards:read rewards:write users:read";
}

const TOKEN_TTL_SEC = 900;

function hashPassword(password: string, salt = randomBytes(8).toString("hex")): string {
  return `${salt}:${createHash("sha256").update(`${salt}${password}`).digest("hex")}`;
}

function passwordMatches(stored: string | undefined, password: string): boolean {
  if (!stored) return false;
  const [salt] = stored.split(":");
  const a = Buffer.from(hashPassword(password, salt));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

const NO_FAULT: Fault = { down: false, errorRate: 0, latencyMs: 0, reject: false };

/** Starts the simulator on `port` (0: any free port). */
export async function startRewardsSimulator(opts: {
  port: number;
  host?: string;
  logger: Logger;
  pageSize?: number;
  catalogs?: Partial<Record<"irs" | "hud", readonly ProviderEntry[]>>;
  /** `aud` of end-user tokens (default "switchyard", END_USER_AUDIENCE's default). */
  audience?: string;
}): Promise<RewardsSimulator> {
  const keys = await generateKeyPair("ES256");
  const kid = randomBytes(6).toString("hex");
  const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid, alg: "ES256", use: "sig" };
  const audience = opts.audience ?? "switchyard";
  let issuer = "";
  const token = (sub: string, scope: string, expiresIn: number) =>
    signToken(keys.privateKey, kid, { issuer, audience, sub, scope, expiresIn });
  const faults = new Map<SimSystem, Fault>(SIM_SYSTEMS.map((s) => [s, NO_FAULT]));
  const calls = Object.fromEntries(SIM_SYSTEMS.map((s) => [s, 0])) as Record<SimSystem, number>;
  const catalogs = new Map<"irs" | "hud", readonly ProviderEntry[]>([
    ["irs", opts.catalogs?.irs ?? []],
    ["hud", opts.catalogs?.hud ?? []],
  ]);
  const idpUsers = new Map<string, IdpUser>();
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
      if (parts[0] === "idp" && parts[1] === "users" && parts.length === 2 && req.method === "POST") {
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
      if (parts[0] === "idp" && parts[1] === "jwks" && req.method === "GET") {
        if (await faulted("idp", res)) return;
        return send(res, 200, { keys: [jwk] }, { "Cache-Control": "public, max-age=300" });
      }
      if (parts[0] === "idp" && parts[1] === "users" && parts[3] === "password" && req.method === "POST") {
        if (await faulted("idp", res)) return;
        const u = idpUsers.get(parts[2] ?? "");
        const pw = (await body(req))["password"];
        if (!u) return send(res, 404, { error: "no such user" });
        if (typeof pw !== "string" || pw.length < 8)
          return send(res, 400, { error: "password of 8 characters or more" });
        u.password = hashPassword(pw);
        return send(res, 204, undefined);
      }
      if (parts[0] === "idp" && parts[1] === "token" && req.method === "POST") {
        if (await faulted("idp", res)) return;
        const b = await body(req);
        const id = typeof b["username"] === "string" ? b["username"] : "";
        const u = idpUsers.get(id);
        if (!u || !passwordMatches(u.password, typeof b["password"] === "string" ? b["password"] : ""))
          return send(res, 401, { error: "invalid_grant" });
        return send(res, 200, {
          access_token: await token(id, idpScopes(u.kind), TOKEN_TTL_SEC),
          token_type: "Bearer",
          expires_in: TOKEN_TTL_SEC,
        });
      }
      if (parts[0] === "admin" && parts[1] === "idp" && parts[2] === "admins" && parts[3] && req.method === "PUT") {
        const pw = (await body(req))["password"];
        if (typeof pw !== "string" || pw.length < 8)
          return send(res, 400, { error: "password of 8 characters or more" });
        idpUsers.set(parts[3], {
          subject: `idp|${randomBytes(8).toString("hex")}`,
          email: "",
          kind: "admin",
          password: hashPassword(pw),
        });
        return send(res, 200, { userId: parts[3], kind: "admin" });
      }
      if (parts[0] === "admin" && parts[1] === "idp" && parts[2] === "tokens" && req.method === "POST") {
        const b = await body(req);
        const sub = typeof b["sub"] === "string" ? b["sub"] : "";
        const scope = typeof b["scope"] === "string" ? b["scope"] : idpScopes("");
        const expiresIn = typeof b["expiresIn"] === "number" ? Math.trunc(b["expiresIn"]) : TOKEN_TTL_SEC;
        if (sub === "") return send(res, 400, { error: "sub required" });
        return send(res, 200, { access_token: await token(sub, scope, expiresIn) });
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
  const url = `http://${opts.host ?? "127.0.0.1"}:${l.port}`;
  issuer = `${url}/idp`;
  return {
    url,
    issuer,
    setFault: (system, f) => faults.set(system, { ...(faults.get(system) ?? NO_FAULT), ...f }),
    setCatalog: (p, entries) => catalogs.set(p, entries),
    calls,
    idpUsers,
    close: () => l.close(),
  };
}

/** An ES256 end-user token (`expiresIn` seconds from now; negative: already expired). */
async function signToken(
  key: CryptoKey,
  kid: string,
  t: { issuer: string; audience: string; sub: string; scope: string; expiresIn: number },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: t.scope })
    .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
    .setIssuer(t.issuer)
    .setAudience(t.audience)
    .setSubject(t.sub)
    .setIssuedAt(Math.min(now, now + t.expiresIn - 60))
    .setExpirationTime(now + t.expiresIn)
    .sign(key);
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
