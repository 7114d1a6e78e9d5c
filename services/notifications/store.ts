/**
 * Recipients' contacts and preferences (Postgres): per user a locale and, per channel, an
 * address (email, phone, push token) and whether they want messages there.
 */
import type { Migration, Pool } from "../../db";
import { CHANNELS, type Channel } from "./templates";

/** Migrations of the notifications tables. */
export const notificationMigrations: readonly Migration[] = [
  {
    id: "notifications-0001",
    sql: `
      CREATE TABLE ntf_recipients (
        user_id text PRIMARY KEY,
        locale text NOT NULL DEFAULT 'en',
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ntf_channels (
        user_id text NOT NULL REFERENCES ntf_recipients (user_id),
        channel text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
        address text NOT NULL,
        enabled boolean NOT NULL,
        PRIMARY KEY (user_id, channel)
      );
    `,
  },
];

/** A recipient's preferences. */
export interface Preferences {
  readonly locale: string;
  readonly channels: Partial<Record<Channel, { readonly address: string; readonly enabled: boolean }>>;
}

/** The store over `pg`. */
export function createNotificationStore({ pg }: { pg: Pool }) {
  return {
    async get(user: string): Promise<Preferences | undefined> {
      const r = await pg.query<{ locale: string }>("SELECT locale FROM ntf_recipients WHERE user_id = $1", [user]);
      if (!r.rows[0]) return undefined;
      const ch = await pg.query<{ channel: Channel; address: string; enabled: boolean }>(
        "SELECT channel, address, enabled FROM ntf_channels WHERE user_id = $1",
        [user],
      );
      const channels: Preferences["channels"] = Object.fromEntries(
        ch.rows.map((c) => [c.channel, { address: c.address, enabled: c.enabled }]),
      );
      return { locale: r.rows[0].locale, channels };
    },

    /** Replaces `user`'s preferences. */
    async put(user: string, p: Preferences): Promise<void> {
      const c = await pg.connect();
      try {
        await c.query("BEGIN");
        await c.query(
          "INSERT INTO ntf_recipients (user_id, locale) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET locale = EXCLUDED.locale, updated_at = now()",
          [user, p.locale],
        );
        await c.query("DELETE FROM ntf_channels WHERE user_id = $1", [user]);
        for (const ch of CHANNELS) {
          const v = p.channels[ch];
          if (v)
            await c.query("INSERT INTO ntf_channels (user_id, channel, address, enabled) VALUES ($1, $2, $3, $4)", [
              user,
              ch,
              v.address,
              v.enabled,
            ]);
        }
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
  };
}

/** The store. */
export type NotificationStore = ReturnType<typeof createNotificationStore>;
