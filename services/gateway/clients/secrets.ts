/**
 * The registry's secrets at rest: what each sealed value is bound to, and the data step of
 * migration gateway-0002, which seals what older versions stored in the clear (webhook secrets,
 * the gateway's private signing JWKs) and re-seals values of an older master key after a
 * rotation. Only the master keyring (MASTER_KEYS) opens them; the database alone holds nothing
 * usable.
 */
import type { Pool } from "../../../db";
import type { Logger } from "../../../lib/logger";
import { errorMessage } from "../../../lib/errors";
import { isSealed, sealedKid, type Keyring } from "../../../lib/sealed";

/** The sealing context of a client's webhook secret (a sealed secret moved to another client does not open). */
export function webhookSecretContext(clientId: string): string {
  return `client-webhook-secret/${clientId}`;
}

/** The sealing context of the private JWK of signing key `kid`. */
export function signingKeyContext(kid: string): string {
  return `gateway-signing-key/${kid}`;
}

/** What {@link sealClientSecrets} did. */
export interface SealReport {
  /** Values found in the clear and sealed now. */
  readonly sealed: number;
  /** Values moved from an older master key to the current one. */
  readonly resealed: number;
  /** Values that could not be opened (a master key no longer configured, or damaged): left as they are. */
  readonly unreadable: number;
}

interface Column {
  readonly table: string;
  readonly id: string;
  readonly column: string;
  readonly context: (id: string) => string;
  /** The plaintext as it is sealed (a jsonb value read as text is re-serialised compactly). */
  readonly normalise: (plain: string) => string;
}

const COLUMNS: readonly Column[] = [
  { table: "clients", id: "id", column: "sealed_webhook_secret", context: webhookSecretContext, normalise: (p) => p },
  {
    table: "gateway_signing_keys",
    id: "kid",
    column: "sealed_private_jwk",
    context: signingKeyContext,
    normalise: (p) => JSON.stringify(JSON.parse(p)),
  },
];

const BATCH = 500;

/**
 * Seals every registry secret still in the clear and re-seals those of an older master key
 * (current first in `keyring`). Idempotent and safe to run on several nodes at once: rows are
 * locked while they are changed, and a value already sealed with the current key is left alone.
 * Runs at start after the migrations (gateway service, clients CLI, provision).
 */
export async function sealClientSecrets(pg: Pool, keyring: Keyring, logger?: Logger): Promise<SealReport> {
  let sealed = 0;
  let resealed = 0;
  let unreadable = 0;
  const current = `sy1.${keyring.currentId}.`;
  for (const col of COLUMNS) {
    let after = "";
    for (;;) {
      const c = await pg.connect();
      let last: string | undefined;
      try {
        await c.query("BEGIN");
        // Only rows whose value is not sealed with the current key; keyset pages so that a value
        // that cannot be opened is passed over, not met again.
        const res = await c.query<{ id: string; value: string }>(
          `SELECT ${col.id} AS id, ${col.column} AS value FROM ${col.table}
           WHERE ${col.id} > $1 AND left(${col.column}, $2) <> $3
           ORDER BY ${col.id} LIMIT ${BATCH} FOR UPDATE`,
          [after, current.length, current],
        );
        const ids: string[] = [];
        const values: string[] = [];
        for (const r of res.rows) {
          last = r.id;
          const context = col.context(r.id);
          let plain: string;
          if (isSealed(r.value)) {
            try {
              plain = keyring.openText(r.value, context);
            } catch (err) {
              unreadable++;
              logger?.error(
                { table: col.table, id: r.id, kid: sealedKid(r.value), err: errorMessage(err) },
                "sealed secret does not open: left as it is",
              );
              continue;
            }
            resealed++;
          } else {
            plain = col.normalise(r.value);
            sealed++;
          }
          ids.push(r.id);
          values.push(keyring.seal(plain, context));
        }
        if (ids.length > 0) {
          await c.query(
            `UPDATE ${col.table} t SET ${col.column} = u.value FROM unnest($1::text[], $2::text[]) AS u(id, value) WHERE t.${col.id} = u.id`,
            [ids, values],
          );
        }
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
      if (last === undefined) break;
      after = last;
    }
  }
  if (sealed + resealed + unreadable > 0)
    logger?.info({ sealed, resealed, unreadable }, "registry secrets sealed with the current master key");
  return { sealed, resealed, unreadable };
}
