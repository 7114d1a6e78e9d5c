/**
 * The security agent's pure core: from one snapshot of the production state (clients and their
 * keys, every node's development settings, the route table, the gateway's limits, JetStream's
 * sync setting as the monitoring endpoint shows it, the egress policy), the risky states it
 * finds. Each check is one function; `securityObservations` runs them all.
 */
import type { RouteAccess } from "../../gateway/routes";
import { checkUrlForm, checkHost, STRICT_EGRESS, type EgressPolicy } from "../../lib/egress";
import type { Observation } from "./findings";

/** A client of the registry with its keys, as the agent reads it. */
export interface ClientView {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly status: "active" | "suspended";
  readonly webhookUrl: string | null;
  readonly createdAt: string;
  readonly keys: readonly { readonly keyId: string; readonly createdAt: string; readonly expiresAt: string | null }[];
}

/** What one node says about its development settings. */
export interface NodeSecrets {
  readonly node: string;
  readonly devMode: boolean;
  /** Settings holding a well-known development value (names only, never values). */
  readonly devSettings: readonly string[];
}

/** JetStream's sync setting as read from the NATS monitoring endpoint. */
export type JetStreamSync =
  | { readonly readable: false; readonly reason: string }
  | {
      readonly readable: true;
      readonly server: string;
      readonly version: string;
      /** `always`, a duration, or null when the server does not report one (2.9 has no such setting). */
      readonly syncInterval: string | null;
    };

/** A route as the checks need it. */
export interface RouteView {
  readonly method: string;
  readonly path: string;
  readonly access: RouteAccess;
  readonly rateLimited?: boolean;
}

/** Everything the checks look at, read at one moment. */
export interface SecuritySnapshot {
  readonly now: number;
  readonly clients: readonly ClientView[];
  readonly nodes: readonly NodeSecrets[];
  readonly routes: readonly RouteView[];
  /** Routes that may be public (`METHOD /path`, `*` matches one path segment). */
  readonly publicRoutes: readonly string[];
  readonly throttle: { readonly unauthPerSec: number; readonly tokenPerSec: number };
  readonly jetstream: JetStreamSync;
  readonly egress: EgressPolicy;
  readonly keyMaxAgeDays: number;
}

const DAY = 86_400_000;

/** The security finding kinds (a look resolves those it no longer sees). */
export const SECURITY_KINDS = [
  "admin-client",
  "key-age",
  "dev-secret",
  "public-route",
  "rate-limit-off",
  "jetstream-sync",
  "webhook-private",
  "suspended-credentials",
] as const;

/** Active clients holding scope admin: each one can do everything. */
export function adminClients(s: SecuritySnapshot): Observation[] {
  return s.clients
    .filter((c) => c.status === "active" && c.scopes.includes("admin"))
    .map((c) => ({
      kind: "admin-client",
      severity: "medium",
      subject: c.id,
      detail: {
        message: `client ${c.id} (${c.name}) holds scope admin (created ${c.createdAt})`,
        name: c.name,
        createdAt: c.createdAt,
        scopes: c.scopes,
      },
    }));
}

/** Keys still valid and older than `keyMaxAgeDays`: rotate them. */
export function oldKeys(s: SecuritySnapshot): Observation[] {
  const out: Observation[] = [];
  for (const c of s.clients)
    for (const k of c.keys) {
      if (k.expiresAt !== null && Date.parse(k.expiresAt) <= s.now) continue;
      const ageDays = Math.floor((s.now - Date.parse(k.createdAt)) / DAY);
      if (ageDays < s.keyMaxAgeDays) continue;
      out.push({
        kind: "key-age",
        severity: "medium",
        subject: `${c.id}/${k.keyId}`,
        detail: {
          message: `API key ${k.keyId} of client ${c.id} is ${ageDays} days old (limit ${s.keyMaxAgeDays}): rotate it`,
          clientId: c.id,
          keyId: k.keyId,
          ageDays,
          createdAt: k.createdAt,
        },
      });
    }
  return out;
}

/** Nodes outside dev mode holding a well-known development value. */
export function devSecrets(s: SecuritySnapshot): Observation[] {
  const out: Observation[] = [];
  for (const n of s.nodes) {
    if (n.devMode) continue;
    for (const setting of n.devSettings)
      out.push({
        kind: "dev-secret",
        severity: "critical",
        subject: `${n.node}/${setting}`,
        detail: {
          message: `node ${n.node} runs outside dev mode with the well-known development value of ${setting}: anyone can read it in the source`,
          node: n.node,
          setting,
        },
      });
  }
  return out;
}

/** True when `method path` matches `pattern` (`METHOD /a/*\/b`, `*` one segment, a trailing `/*` any rest). */
export function routeMatches(pattern: string, method: string, path: string): boolean {
  const sp = pattern.indexOf(" ");
  if (sp < 0 || pattern.slice(0, sp) !== method) return false;
  const want = pattern.slice(sp + 1).split("/");
  const got = path.split("/");
  for (let i = 0; i < want.length; i++) {
    if (want[i] === "*" && i === want.length - 1 && got.length >= want.length) return true;
    if (i >= got.length) return false;
    if (want[i] !== "*" && want[i] !== got[i]) return false;
  }
  return want.length === got.length;
}

/** Public routes the policy does not expect to be public. */
export function publicRoutes(s: SecuritySnapshot): Observation[] {
  return s.routes
    .filter((r) => r.access === "public" && !s.publicRoutes.some((p) => routeMatches(p, r.method, r.path)))
    .map((r) => ({
      kind: "public-route",
      severity: "high",
      subject: `${r.method} ${r.path}`,
      detail: {
        message: `${r.method} ${r.path} answers without authentication and is not in AGENTS_PUBLIC_ROUTES`,
        method: r.method,
        path: r.path,
      },
    }));
}

/** Authenticated routes that skip the client's rate limit, and per-IP limits turned off. */
export function rateLimitsOff(s: SecuritySnapshot): Observation[] {
  const out: Observation[] = s.routes
    .filter((r) => r.access !== "public" && r.rateLimited === false)
    .map((r) => ({
      kind: "rate-limit-off",
      severity: "low",
      subject: `${r.method} ${r.path}`,
      detail: { message: `${r.method} ${r.path} does not count against the client's rate limit`, access: r.access },
    }));
  const perIp: Array<[string, number, string]> = [
    ["GATEWAY_UNAUTH_PER_SEC", s.throttle.unauthPerSec, "failed authentications per IP are not limited"],
    ["GATEWAY_TOKEN_PER_SEC", s.throttle.tokenPerSec, "token exchanges per IP are not limited"],
  ];
  for (const [name, v, what] of perIp)
    if (v === 0)
      out.push({
        kind: "rate-limit-off",
        severity: "medium",
        subject: name,
        detail: { message: `${name}=0: ${what} (credential guessing is unthrottled)`, setting: name },
      });
  return out;
}

/** JetStream that may lose acknowledged writes on a power loss, or whose setting cannot be read. */
export function jetstreamSync(s: SecuritySnapshot): Observation[] {
  const j = s.jetstream;
  if (!j.readable)
    return [
      {
        kind: "jetstream-sync",
        severity: "info",
        subject: "jetstream",
        detail: { message: `JetStream's sync_interval cannot be read: ${j.reason}`, readable: false },
      },
    ];
  if (j.syncInterval === "always") return [];
  return [
    {
      kind: "jetstream-sync",
      severity: "medium",
      subject: `jetstream/${j.server}`,
      detail: {
        message:
          j.syncInterval === null
            ? `NATS ${j.version} (${j.server}) reports no sync_interval: its default applies (fsync every 2 minutes), so acknowledged messages can be lost on a power loss; set sync_interval: always (2.10+)`
            : `NATS ${j.server} has sync_interval ${j.syncInterval}, not always: acknowledged messages of the last interval can be lost on a power loss`,
        readable: true,
        version: j.version,
        syncInterval: j.syncInterval,
      },
    },
  ];
}

/**
 * Client webhook URLs naming a destination that is not public (loopback, private, link-local,
 * metadata, internal names): high when the egress policy refuses it (stored before the policy,
 * or imported past it), low when EGRESS_ALLOW lets it through on purpose.
 */
export function privateWebhooks(s: SecuritySnapshot): Observation[] {
  const out: Observation[] = [];
  for (const c of s.clients) {
    if (c.webhookUrl === null) continue;
    const form = checkUrlForm(c.webhookUrl);
    if (!form.ok) continue;
    const strict = checkHost(form.url.hostname, STRICT_EGRESS);
    if (!strict) continue;
    const allowed = checkHost(form.url.hostname, s.egress) === null;
    out.push({
      kind: "webhook-private",
      severity: allowed ? "low" : "high",
      subject: c.id,
      detail: {
        message: `client ${c.id}'s webhook URL points at ${strict.reason}${allowed ? " (allowed by EGRESS_ALLOW)" : ""}`,
        host: form.url.hostname,
        allowedByPolicy: allowed,
      },
    });
  }
  return out;
}

/** Suspended clients whose API keys have not expired: activating them brings those keys back. */
export function suspendedCredentials(s: SecuritySnapshot): Observation[] {
  const out: Observation[] = [];
  for (const c of s.clients) {
    if (c.status !== "suspended") continue;
    const live = c.keys.filter((k) => k.expiresAt === null || Date.parse(k.expiresAt) > s.now);
    if (live.length === 0) continue;
    out.push({
      kind: "suspended-credentials",
      severity: "medium",
      subject: c.id,
      detail: {
        message: `suspended client ${c.id} still holds ${live.length} unexpired API key(s): activating it makes them work again (rotate with overlapSeconds 0 after activating to retire them)`,
        keys: live.map((k) => k.keyId),
      },
    });
  }
  return out;
}

/** Every check over `s`. */
export function securityObservations(s: SecuritySnapshot): Observation[] {
  return [
    ...adminClients(s),
    ...oldKeys(s),
    ...devSecrets(s),
    ...publicRoutes(s),
    ...rateLimitsOff(s),
    ...jetstreamSync(s),
    ...privateWebhooks(s),
    ...suspendedCredentials(s),
  ];
}

/** Names of settings whose values are secrets. */
const SECRET_NAME = /secret|pepper|password|passphrase|token|(^|[a-z])keys?$/i;
/** Values that say they are for development. */
const DEV_VALUE = /(^|[^a-z])dev([^a-z]|$)|development|do-not-use|change-?me/i;
/** Flags config sections set when they fell back to (or were given) a well-known development value. */
const DEV_FLAG = /^(devSecret|devSecrets|devKey|dev)$/;

/**
 * The settings of a node's configuration that hold a well-known development value, as dotted
 * paths (e.g. `cluster.devSecret`, `somedomain.cardSecret`): sections that flag it themselves
 * (`devSecret`, `devSecrets`, `devKey`, `dev` true), the platform's known dev values, and secret
 * settings whose value says it is for development. Never a value.
 */
export function devSettingsOf(config: unknown, known: readonly string[] = [], path = "", depth = 0): string[] {
  if (depth > 4 || typeof config !== "object" || config === null) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(config as Record<string, unknown>)) {
    const p = path === "" ? k : `${path}.${k}`;
    if (v === true && DEV_FLAG.test(k)) out.push(p);
    else if (typeof v === "string" && SECRET_NAME.test(k) && (known.includes(v) || DEV_VALUE.test(v))) out.push(p);
    else if (Array.isArray(v) && SECRET_NAME.test(k) && v.some((x) => typeof x === "string" && known.includes(x)))
      out.push(p);
    else if (typeof v === "object" && v !== null && !Array.isArray(v))
      out.push(...devSettingsOf(v, known, p, depth + 1));
  }
  return out.sort();
}
