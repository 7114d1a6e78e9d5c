import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { applyNatsTuning } from "./tuning";

/** A NATS connection with its JetStream client, manager and KV manager. */
export interface NatsHandles {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
}

/**
 * The servers of a NATS_URL list and the user and password its URLs carry
 * (`nats://node:secret@nats1:4222,...`), as the Moleculer transporter reads them: the client
 * does not take credentials from server URLs itself.
 */
export function natsServers(url: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = url.split(",").map((raw) => {
    const s = raw.trim();
    try {
      const u = new URL(s);
      if (!u.username && !u.password) return s;
      user ??= decodeURIComponent(u.username) || undefined;
      pass ??= decodeURIComponent(u.password) || undefined;
      return `${u.protocol}//${u.host}`;
    } catch {
      return s;
    }
  });
  return { servers, ...(user !== undefined ? { user } : {}), ...(pass !== undefined ? { pass } : {}) };
}

/**
 * Connects to NATS and checks that JetStream answers. Fails (rejects) within `timeoutMs`
 * when the server is unreachable, instead of retrying forever: start-up must fail fast.
 * Once connected, the client reconnects forever on its own.
 */
export async function connectNats(url: string, name: string, timeoutMs = 5000): Promise<NatsHandles> {
  applyNatsTuning();
  const nc = await connect({
    ...natsServers(url),
    name,
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // Capturing a stack trace for every request (each JetStream publish and KV write) costs
    // ~10% CPU at load; errors still carry their messages.
    noAsyncTraces: true,
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const js = jetstream(nc, { timeout: timeoutMs });
    return { nc, js, jsm, kvm: new Kvm(nc) };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
