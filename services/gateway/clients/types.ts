/**
 * The client registry's contracts: a client is a service with a contract that fixes its scopes
 * (`{domain}:read` only, say, or `{domain}:read` + `{domain}:write`), its webhook endpoint and
 * its status. JSON Schemas here are used for HTTP validation and the OpenAPI document.
 */
import { AppError, type ErrorDetail } from "../../../lib/errors";
import { SCOPE_PATTERN } from "../../../gateway/routes";
import { checkUrl, checkUrlForm, type EgressPolicy } from "../../../lib/egress";

export type ClientStatus = "active" | "suspended";

/** A per-client rate limit (token bucket): sustained requests/s and burst. */
export interface RateLimit {
  readonly perSec: number;
  readonly burst: number;
}

/** A client as admins see it (never its keys or webhook secret). */
export interface ClientRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly webhookUrl: string | null;
  readonly status: ClientStatus;
  /** null: the gateway's default. */
  readonly rateLimit: RateLimit | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What creating a client needs. */
export interface NewClientInput {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly webhookUrl?: string | null;
  readonly rateLimit?: RateLimit | null;
}

/** A new client with the credentials shown once. */
export interface CreatedClient {
  readonly client: ClientRecord;
  readonly apiKey: string;
  readonly webhookSecret: string;
}

/** A new API key after rotation; older keys stop working at `previousKeysExpireAt`. */
export interface RotatedKey {
  readonly client: ClientRecord;
  readonly apiKey: string;
  readonly previousKeysExpireAt: string;
}

/** Where and with which secret a client's webhooks are sent and signed (the `clients.webhook` action). */
export interface ClientWebhook {
  /** The client's webhook URL; null when it has none. */
  readonly url: string | null;
  /** The unsealed Standard Webhooks secret (whsec_...). */
  readonly secret: string;
}

/** A stored API key, as the authenticator needs it. */
export interface KeyEntry {
  readonly keyId: string;
  readonly clientId: string;
  readonly hash: string;
  /** ms since the epoch; null: does not expire. */
  readonly expiresAt: number | null;
  /** The client's version (updated_at, µs) when this was read. */
  readonly version: number;
}

/** A client's access-relevant state, as the authenticator needs it. */
export interface ClientEntry {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly status: ClientStatus;
  readonly rateLimit: RateLimit | null;
  /** updated_at in µs since the epoch: increases with every change. */
  readonly version: number;
}

/** Page of clients. */
export interface ClientPage {
  readonly items: readonly ClientRecord[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

/**
 * Checks and normalises a new client (trimmed name, unique sorted scopes); 422 listing every
 * problem. With `egress`, the webhook URL must also name a destination that policy allows (no
 * loopback, private, link-local, metadata or internal host); the webhook job checks again, at
 * connect time, what the name resolves to.
 */
export function checkNewClient(input: NewClientInput, egress?: EgressPolicy): NewClientInput {
  const problems: ErrorDetail[] = [];
  const name = typeof input.name === "string" ? input.name.trim() : "";
  if (name.length < 1 || name.length > 200) problems.push({ path: "/name", message: "must be 1 to 200 characters" });
  const scopes = Array.isArray(input.scopes) ? [...new Set(input.scopes.map((s) => String(s).trim()))].sort() : [];
  if (scopes.length === 0) problems.push({ path: "/scopes", message: "at least one scope is required" });
  for (const s of scopes)
    if (!SCOPE_PATTERN.test(s))
      problems.push({
        path: "/scopes",
        message: `invalid scope ${JSON.stringify(s)}: expected admin or {domain}:read|write`,
      });
  const webhookUrl = input.webhookUrl ?? null;
  if (webhookUrl !== null) {
    // without a policy (bulk imports through the store) only the form is checked here
    const checked =
      typeof webhookUrl !== "string" ? undefined : egress ? checkUrl(webhookUrl, egress) : checkUrlForm(webhookUrl);
    if (!checked || (!checked.ok && !checked.refusal))
      problems.push({
        path: "/webhookUrl",
        message: "must be an http(s) URL of at most 2048 characters without credentials",
      });
    else if (!checked.ok) problems.push({ path: "/webhookUrl", message: checked.reason });
  }
  const rl = input.rateLimit ?? null;
  if (rl !== null && !(Number.isInteger(rl.perSec) && rl.perSec >= 1 && Number.isInteger(rl.burst) && rl.burst >= 1)) {
    problems.push({ path: "/rateLimit", message: "perSec and burst must be integers >= 1" });
  }
  if (problems.length > 0) throw new AppError("VALIDATION_ERROR", "invalid client", problems);
  return { name, scopes, webhookUrl, rateLimit: rl };
}

const RATE_LIMIT_SCHEMA = {
  type: ["object", "null"],
  required: ["perSec", "burst"],
  additionalProperties: false,
  properties: { perSec: { type: "integer", minimum: 1 }, burst: { type: "integer", minimum: 1 } },
} as const;

/** JSON Schema of a client id. */
export const CLIENT_ID_SCHEMA = { type: "string", pattern: "^cl_[a-z2-7]{16}$", description: "Client id" } as const;

/** JSON Schema of {@link ClientRecord}. */
export const CLIENT_SCHEMA = {
  type: "object",
  required: ["id", "name", "scopes", "webhookUrl", "status", "rateLimit", "createdAt", "updatedAt"],
  properties: {
    id: CLIENT_ID_SCHEMA,
    name: { type: "string" },
    scopes: { type: "array", items: { type: "string" } },
    webhookUrl: { type: ["string", "null"] },
    status: { type: "string", enum: ["active", "suspended"] },
    rateLimit: RATE_LIMIT_SCHEMA,
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

/** JSON Schema of a create-client request body. */
export const NEW_CLIENT_SCHEMA = {
  type: "object",
  required: ["name", "scopes"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: 200 },
    scopes: { type: "array", minItems: 1, maxItems: 100, items: { type: "string", pattern: SCOPE_PATTERN.source } },
    webhookUrl: { type: ["string", "null"], format: "uri", maxLength: 2048 },
    rateLimit: RATE_LIMIT_SCHEMA,
  },
} as const;
