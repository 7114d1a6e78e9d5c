/**
 * The client registry in PostgreSQL (namespace schema): clients, their API key hashes and the
 * gateway's JWT signing keys. `createClientStore({ pg, keyring })` is the only code that touches
 * these tables (with clients/secrets.ts, which seals what older versions stored in the clear).
 * Webhook secrets and signing keys are stored sealed by the master keyring (lib/sealed.ts).
 */
import type { Pool, PoolClient, Migration } from "../../../db";
import type { Keyring } from "../../../lib/sealed";
import { newApiKey, newClientId, newWebhookSecret } from "./keys";
import { webhookSecretContext } from "./secrets";
import {
  checkNewClient,
  type ClientEntry,
  type ClientPage,
  type ClientRecord,
  type ClientStatus,
  type CreatedClient,
  type KeyEntry,
  type NewClientInput,
  type RotatedKey,
} from "./types";

/** Tables of the client registry. */
export const clientMigrations: readonly Migration[] = [
  {
    id: "gateway-0001",
    sql: `
CREATE TABLE clients (
  id             text PRIMARY KEY,
  name           text NOT NULL,
  scopes         text[] NOT NULL,
  webhook_url    text,
  webhook_secret text NOT NULL,
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  rate_per_sec   integer,
  rate_burst     integer,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE client_keys (
  key_id     text PRIMARY KEY,
  client_id  text NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  key_hash   text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz
);
CREATE INDEX client_keys_client ON client_keys (client_id);
CREATE TABLE gateway_signing_keys (
  kid         text PRIMARY KEY,
  alg         text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
`,
  },
  {
    // Secrets sealed by the master key. SQL cannot seal (the key is not the database's), so the
    // columns are renamed (code of older versions fails loudly instead of writing plaintext) and
    // the rows are sealed in place at start by sealClientSecrets (clients/secrets.ts).
    id: "gateway-0002",
    sql: `
ALTER TABLE clients RENAME COLUMN webhook_secret TO sealed_webhook_secret;
ALTER TABLE gateway_signing_keys ALTER COLUMN private_jwk TYPE text USING private_jwk::text;
ALTER TABLE gateway_signing_keys RENAME COLUMN private_jwk TO sealed_private_jwk;
`,
  },
];

interface ClientRow {
  id: string;
  name: string;
  scopes: string[];
  webhook_url: string | null;
  status: ClientStatus;
  rate_per_sec: number | null;
  rate_burst: number | null;
  created_at: Date;
  updated_at: Date;
  version: string;
}

const CLIENT_COLUMNS = `id, name, scopes, webhook_url, status, rate_per_sec, rate_burst, created_at, updated_at,
  (extract(epoch from updated_at) * 1000000)::bigint::text AS version`;

function toRecord(r: ClientRow): ClientRecord {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    webhookUrl: r.webhook_url,
    status: r.status,
    rateLimit:
      r.rate_per_sec !== null && r.rate_burst !== null ? { perSec: r.rate_per_sec, burst: r.rate_burst } : null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The registry's operations. */
export interface ClientStore {
  /** Creates a client with one API key and a webhook secret (both returned once). */
  create(input: NewClientInput): Promise<CreatedClient>;
  /** Creates many clients in one statement per table (benchmarks, imports). */
  createMany(inputs: readonly NewClientInput[]): Promise<CreatedClient[]>;
  get(id: string): Promise<ClientRecord | undefined>;
  /** Clients by id, `limit` at a time after `after`, optionally of one status. */
  list(opts?: { limit?: number; after?: string; status?: ClientStatus }): Promise<ClientPage>;
  /** Sets the status; the updated client and its new version, or undefined when there is no such client. */
  setStatus(id: string, status: ClientStatus): Promise<{ client: ClientRecord; version: number } | undefined>;
  /**
   * Issues a new key; keys in use expire `overlapSec` from now (0: at once). Undefined when
   * there is no such client.
   */
  rotate(id: string, overlapSec: number): Promise<{ rotated: RotatedKey; version: number } | undefined>;
  /** Ids of the client's keys (for cache invalidation). */
  keyIdsOf(clientId: string): Promise<string[]>;
  /** A stored key by id. */
  findKey(keyId: string): Promise<KeyEntry | undefined>;
  /** A client's access-relevant state. */
  findClient(id: string): Promise<ClientEntry | undefined>;
  /** Where and with which secret to sign webhooks for a client; throws SealedError when the stored secret does not open. */
  webhookOf(id: string): Promise<{ url: string | null; secret: string } | undefined>;
}

/**
 * The registry over `pg` (whose search_path is the namespace schema); `keyring` seals webhook
 * secrets on write and opens them on read.
 */
export function createClientStore({ pg, keyring }: { pg: Pool; keyring: Keyring }): ClientStore {
  async function tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await pg.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async function createMany(inputs: readonly NewClientInput[]): Promise<CreatedClient[]> {
    if (inputs.length === 0) return [];
    const checked = inputs.map((i) => checkNewClient(i));
    const rows = checked.map((i) => ({ input: i, id: newClientId(), key: newApiKey(), secret: newWebhookSecret() }));
    return tx(async (c) => {
      const res = await c.query<ClientRow>(
        `INSERT INTO clients (id, name, scopes, webhook_url, sealed_webhook_secret, rate_per_sec, rate_burst)
         SELECT u.id, u.name, string_to_array(u.scopes, ' '), u.webhook_url, u.sealed_webhook_secret, u.rate_per_sec, u.rate_burst
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[])
           AS u(id, name, scopes, webhook_url, sealed_webhook_secret, rate_per_sec, rate_burst)
         RETURNING ${CLIENT_COLUMNS}`,
        [
          rows.map((r) => r.id),
          rows.map((r) => r.input.name),
          rows.map((r) => r.input.scopes.join(" ")),
          rows.map((r) => r.input.webhookUrl ?? null),
          rows.map((r) => keyring.seal(r.secret, webhookSecretContext(r.id))),
          rows.map((r) => r.input.rateLimit?.perSec ?? null),
          rows.map((r) => r.input.rateLimit?.burst ?? null),
        ],
      );
      await c.query(
        `INSERT INTO client_keys (key_id, client_id, key_hash) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
        [rows.map((r) => r.key.keyId), rows.map((r) => r.id), rows.map((r) => r.key.hash)],
      );
      const byId = new Map(res.rows.map((r) => [r.id, toRecord(r)]));
      return rows.map((r) => ({ client: byId.get(r.id)!, apiKey: r.key.key, webhookSecret: r.secret }));
    });
  }

  return {
    async create(input) {
      const [created] = await createMany([input]);
      return created!;
    },
    createMany,
    async get(id) {
      const res = await pg.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = $1`, [id]);
      return res.rows[0] ? toRecord(res.rows[0]) : undefined;
    },
    async list(opts = {}) {
      const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
      const res = await pg.query<ClientRow>(
        `SELECT ${CLIENT_COLUMNS} FROM clients
         WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)
         ORDER BY id LIMIT $3`,
        [opts.after ?? null, opts.status ?? null, limit + 1],
      );
      const items = res.rows.slice(0, limit).map(toRecord);
      return { items, next: res.rows.length > limit ? items[items.length - 1]!.id : null };
    },
    async setStatus(id, status) {
      const res = await pg.query<ClientRow>(
        `UPDATE clients SET status = $2, updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
         WHERE id = $1 RETURNING ${CLIENT_COLUMNS}`,
        [id, status],
      );
      const r = res.rows[0];
      return r ? { client: toRecord(r), version: Number(r.version) } : undefined;
    },
    async rotate(id, overlapSec) {
      return tx(async (c) => {
        const cl = await c.query<ClientRow>(
          `UPDATE clients SET updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
           WHERE id = $1 RETURNING ${CLIENT_COLUMNS}`,
          [id],
        );
        if (!cl.rows[0]) return undefined;
        await c.query(`DELETE FROM client_keys WHERE client_id = $1 AND expires_at <= clock_timestamp()`, [id]);
        const exp = await c.query<{ at: Date }>(`SELECT clock_timestamp() + make_interval(secs => $1) AS at`, [
          overlapSec,
        ]);
        const at = exp.rows[0]!.at;
        await c.query(
          `UPDATE client_keys SET expires_at = $2 WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
          [id, at],
        );
        const key = newApiKey();
        await c.query(`INSERT INTO client_keys (key_id, client_id, key_hash) VALUES ($1, $2, $3)`, [
          key.keyId,
          id,
          key.hash,
        ]);
        return {
          rotated: { client: toRecord(cl.rows[0]), apiKey: key.key, previousKeysExpireAt: at.toISOString() },
          version: Number(cl.rows[0].version),
        };
      });
    },
    async keyIdsOf(clientId) {
      const res = await pg.query<{ key_id: string }>(`SELECT key_id FROM client_keys WHERE client_id = $1`, [clientId]);
      return res.rows.map((r) => r.key_id);
    },
    async findKey(keyId) {
      const res = await pg.query<{
        key_id: string;
        client_id: string;
        key_hash: string;
        expires_at: Date | null;
        version: string;
      }>(
        `SELECT k.key_id, k.client_id, k.key_hash, k.expires_at,
           (extract(epoch from c.updated_at) * 1000000)::bigint::text AS version
         FROM client_keys k JOIN clients c ON c.id = k.client_id WHERE k.key_id = $1`,
        [keyId],
      );
      const r = res.rows[0];
      if (!r) return undefined;
      return {
        keyId: r.key_id,
        clientId: r.client_id,
        hash: r.key_hash,
        expiresAt: r.expires_at ? r.expires_at.getTime() : null,
        version: Number(r.version),
      };
    },
    async findClient(id) {
      const res = await pg.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = $1`, [id]);
      const r = res.rows[0];
      if (!r) return undefined;
      const rec = toRecord(r);
      return {
        id: rec.id,
        scopes: rec.scopes,
        status: rec.status,
        rateLimit: rec.rateLimit,
        version: Number(r.version),
      };
    },
    async webhookOf(id) {
      const res = await pg.query<{ webhook_url: string | null; sealed_webhook_secret: string }>(
        `SELECT webhook_url, sealed_webhook_secret FROM clients WHERE id = $1`,
        [id],
      );
      const r = res.rows[0];
      // A value that does not open (not sealed yet, another master key, moved, forged) throws.
      return r
        ? { url: r.webhook_url, secret: keyring.openText(r.sealed_webhook_secret, webhookSecretContext(id)) }
        : undefined;
    },
  };
}
