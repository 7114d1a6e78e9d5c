/**
 * Agents test harness: nodes (child processes running bin/start.ts) hosting the agents domain in
 * a fresh namespace, gateway clients made straight in the registry, JSON calls over HTTP, the
 * findings API polled until a finding shows, and cleanup (the interactions stream `{NS}_INTERACTIONS`
 * too, which the namespace cleanup's `{NS}_` prefix does not cover).
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { cleanupNamespace, DATABASE_URL, NATS_URL, REDIS_URL } from "../support/namespace";
import { cleanupRedis } from "../gateway/harness";
import { call, type Answer } from "../support/http";
import { waitFor } from "../support/wait";
import { createKeyring } from "../../lib/sealed";
import { createPool } from "../../db";
import { connectNats } from "../../nats";
import { createClient, createClientStore, type CreatedClient } from "../../services/gateway/clients";
import type { Finding } from "../../services/agents/findings";

import { freePort } from "../support/ports";

export { freePort };
export { startChild, type ChildNode } from "../support/node";
export type { Answer };

/** Creates a gateway client in the registry of `ns` as the admin functions do, sealed with `masterKey`. */
export async function makeClientIn(ns: string, masterKey: string, scopes: string[]): Promise<CreatedClient> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    return await createClient(
      { store: createClientStore({ pg, keyring: createKeyring([masterKey]) }), namespace: ns },
      { name: `c-${Math.random().toString(36).slice(2, 8)}`, scopes, rateLimit: { perSec: 100_000, burst: 100_000 } },
    );
  } finally {
    await pg.end();
  }
}

/**
 * Creates a client with `webhookUrl` through the registry's store alone, as a bulk import does:
 * the store checks a URL's form, not its destination (the admin functions check that).
 */
export async function importClientIn(ns: string, masterKey: string, webhookUrl: string): Promise<CreatedClient> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    return await createClientStore({ pg, keyring: createKeyring([masterKey]) }).create({
      name: `imported-${Math.random().toString(36).slice(2, 8)}`,
      scopes: ["receipts:write"],
      webhookUrl,
    });
  } finally {
    await pg.end();
  }
}

/** Runs one SQL statement in the schema of `ns` (staging state the API cannot make, e.g. an old key). */
export async function sql(ns: string, text: string, params: unknown[] = []): Promise<void> {
  const pg = createPool(DATABASE_URL, ns, 1);
  try {
    await pg.query(text, params);
  } finally {
    await pg.end();
  }
}

/** Environment of a node `nodeId` in `ns` hosting the agents, with fast looks. */
export function agentEnv(
  ns: string,
  nodeId: string,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NAMESPACE: ns,
    NODE_ID: nodeId,
    NATS_URL,
    DATABASE_URL,
    REDIS_URL,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
    SERVICES: "runtime,gateway,agents",
    ACTOR_PARTITIONS: "4",
    GATEWAY_RATE_PER_SEC: "100000",
    GATEWAY_RATE_BURST: "100000",
    AGENTS_HEALTH_INTERVAL_MS: "500",
    AGENTS_HEALTH_TIMEOUT_MS: "1500",
    AGENTS_HEALTH_SLOW_MS: "60000",
    AGENTS_QUALITY_INTERVAL_MS: "500",
    AGENTS_SECURITY_INTERVAL_MS: "1000",
    ...extra,
  };
}

/** A JSON call: `body` is sent as JSON when given. */
export function json(url: string, apiKey: string | null, method: string, body?: unknown): Promise<Answer> {
  return call(url, apiKey, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } } : {}),
  });
}

/** Every finding the findings API lists for `query` (all pages). */
export async function findings(base: string, key: string, query: string): Promise<Finding[]> {
  const out: Finding[] = [];
  let cursor: string | null = null;
  do {
    const r = await json(
      `${base}/api/v1/admin/agents/findings?${query}&limit=100${cursor ? `&cursor=${cursor}` : ""}`,
      key,
      "GET",
    );
    expect(r.status, r.text).to.equal(200);
    out.push(...(r.json.items as Finding[]));
    cursor = r.json.nextCursor as string | null;
  } while (cursor);
  return out;
}

/** Waits until the findings API lists a finding matching `match` for `query`; returns it. */
export async function waitForFinding(
  base: string,
  key: string,
  query: string,
  match: (f: Finding) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Finding> {
  let last: Finding[] = [];
  try {
    return await waitFor(
      what,
      async () => {
        last = await findings(base, key, query);
        return last.find(match);
      },
      timeoutMs,
      200,
    );
  } catch (err) {
    throw new Error(
      `${String(err)}; listed: ${JSON.stringify(last.map((f) => [f.kind, f.subject, f.resolvedAt ?? "open"]))}`,
    );
  }
}

/** The value of the metric series `name{labels}` in a Prometheus text page; undefined when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf("}");
    const body = line.slice(name.length + 1, close);
    const ok = Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(close + 1).trim());
  }
  return undefined;
}

/** Removes the namespace's streams (and `{NS}_INTERACTIONS`), buckets, schema and Redis keys. */
export async function cleanupAgents(ns: string): Promise<void> {
  const h = await connectNats(NATS_URL, `cleanup-${ns}`);
  try {
    await h.jsm.streams.delete(`${ns.toUpperCase()}_INTERACTIONS`).catch(() => undefined);
  } finally {
    await h.nc.close();
  }
  await cleanupNamespace(ns);
  await cleanupRedis(ns);
}

/** A nats-server of its own with JetStream and an HTTP monitoring port (for /varz). */
export interface MonitoredNats {
  readonly name: string;
  readonly monitorUrl: string;
  stop(): Promise<void>;
}

/** Starts `nats-server` on free loopback ports and waits until `/healthz` answers. */
export async function startMonitoredNats(name: string): Promise<MonitoredNats> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sy-agents-nats-"));
  const [port, http] = [await freePort(), await freePort()];
  const proc = spawn(
    "nats-server",
    ["-a", "127.0.0.1", "-p", String(port), "-m", String(http), "-js", "-sd", dir, "--server_name", name],
    { stdio: "ignore" },
  );
  const monitorUrl = `http://127.0.0.1:${http}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("nats-server monitoring", async () => (await fetch(`${monitorUrl}/healthz`)).ok, 20_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, monitorUrl, stop };
}
