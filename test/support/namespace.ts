/**
 * Every test run gets its own namespace (NATS subjects, streams, KV buckets, Postgres schema,
 * Moleculer namespace) and removes it afterwards, so runs never collide or leak.
 */
import { randomBytes } from "node:crypto";
import { connectNats, type NatsHandles } from "../../nats";
import { createPool, dropSchema } from "../../db";
// Every gateway answer a test receives is checked against the OpenAPI document.
import "./openapi-recorder";

export const NATS_URL = process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
export const DATABASE_URL = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** A fresh namespace name such as "t3f9a1c2". */
export function freshNamespace(prefix = "t"): string {
  return `${prefix}${randomBytes(5).toString("hex")}`.slice(0, 16);
}

/** Deletes every stream (streams, KV and object buckets) and the Postgres schema of `ns`. */
export async function cleanupNamespace(ns: string): Promise<void> {
  const h: NatsHandles = await connectNats(NATS_URL, `cleanup-${ns}`);
  try {
    const NS = ns.toUpperCase();
    const names: string[] = [];
    for await (const name of h.jsm.streams.names()) names.push(name);
    for (const name of names) {
      if (name.startsWith(`${NS}_`) || name.startsWith(`KV_${ns}_`) || name.startsWith(`OBJ_${ns}_`)) {
        await h.jsm.streams.delete(name).catch(() => undefined);
      }
    }
  } finally {
    await h.nc.close();
  }
  const pool = createPool(DATABASE_URL, ns, 1);
  try {
    await dropSchema(pool, ns);
  } finally {
    await pool.end();
  }
}

/** Environment for a child node process in namespace `ns`. */
export function nodeEnv(ns: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NAMESPACE: ns,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    ...extra,
  };
}
