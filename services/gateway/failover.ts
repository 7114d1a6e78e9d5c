/**
 * The primary gateway's heartbeat and the backup gateway's watch over it (KV `{ns}_gateway_hb`).
 *
 * A primary serving port P writes `primary.P` every GATEWAY_HEARTBEAT_MS, and once before it
 * listens ("starting"), so a backup holding P lets go of it; while the port is taken by a
 * backup that is serving or handing it back (`backup.P` written or deleted within 10 s), the
 * primary retries listening for up to 30 s. A backup handing back closes the port before it
 * deletes `backup.P`.
 *
 * A backup for port P idles (not listening) while `primary.P` keeps changing. Liveness is judged
 * by the entry's revision moving, seen on the backup's own clock, so clocks of different hosts
 * never matter: no new revision for GATEWAY_HEARTBEAT_TIMEOUT_MS and the backup listens on P;
 * the primary's next heartbeat (it came back) and the backup closes the port again.
 */
import type { KV } from "../../nats";
import type { Logger } from "../../lib/logger";

/** A heartbeat's value. */
export interface Heartbeat {
  readonly node: string;
  readonly state: "starting" | "serving";
  /** The writer's clock, for people reading the bucket; liveness never compares it. */
  readonly at: string;
}

const enc = new TextEncoder();

function beat(node: string, state: Heartbeat["state"]): Uint8Array {
  const hb: Heartbeat = { node, state, at: new Date().toISOString() };
  return enc.encode(JSON.stringify(hb));
}

/** Writes `key` every `everyMs` until stopped (errors logged once per outage). */
export function startHeartbeat(
  kv: KV,
  key: string,
  node: string,
  everyMs: number,
  log: Logger,
): { serving(): void; stop(): Promise<void> } {
  let state: Heartbeat["state"] = "starting";
  let failing = false;
  let stopped = false;
  const put = async (): Promise<void> => {
    try {
      await kv.put(key, beat(node, state));
      if (failing) log.info({ key }, "gateway heartbeat written again");
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ key, err: String(err) }, "gateway heartbeat not written");
      failing = true;
    }
  };
  void put();
  const timer = setInterval(() => void put(), everyMs);
  timer.unref();
  return {
    serving() {
      state = "serving";
      void put();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      // the next backup check sees no new revision; deleting would make it look dead at once, as it is
      await kv.delete(key).catch(() => undefined);
    },
  };
}

/**
 * True when `key` was written or deleted within `freshMs`: a backup serving the port, or one that
 * has just handed it back (its close may still be in progress).
 */
async function recentlyTouched(kv: KV, key: string, freshMs: number): Promise<boolean> {
  const e = await kv.get(key);
  if (!e) return false;
  return Date.now() - e.created.getTime() < freshMs;
}

/**
 * Listens with `listen`, retrying on EADDRINUSE for up to `maxWaitMs` while a backup that is
 * serving holds the port (it lets go once it sees this primary's "starting" heartbeat).
 */
export async function listenAsPrimary(
  listen: () => Promise<void>,
  kv: KV,
  backupKey: string,
  log: Logger,
  maxWaitMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await listen();
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const heldByBackup = code === "EADDRINUSE" && (await recentlyTouched(kv, backupKey, 10_000).catch(() => false));
      if (!heldByBackup || Date.now() > deadline) throw err;
      if (attempt === 0) log.info("the backup gateway holds the port: waiting for it to hand it back");
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** What the backup's watch needs. */
export interface BackupDeps {
  readonly kv: KV;
  readonly primaryKey: string;
  readonly backupKey: string;
  readonly node: string;
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Starts serving the public port. */
  listen(): Promise<void>;
  /** Stops serving it (connections in flight finish). */
  close(): Promise<void>;
  /** Told when this backup starts or stops serving. */
  serving(on: boolean): void;
}

/** The backup's watch: checks every `min(250, timeout / 4)` ms; `stop` closes the port if held. */
export function startBackup(deps: BackupDeps): { isServing(): boolean; stop(): Promise<void> } {
  const { kv, log } = deps;
  let lastRevision = -1;
  let lastChange = Date.now();
  let serving = false;
  let busy = false;
  let stopped = false;

  async function tick(): Promise<void> {
    const now = Date.now();
    let revision = 0;
    try {
      const e = await kv.get(deps.primaryKey);
      revision = e && e.operation === "PUT" ? e.revision : 0;
    } catch {
      return; // NATS unreachable: no verdict either way
    }
    const changed = revision !== 0 && revision !== lastRevision;
    if (revision !== lastRevision) {
      lastRevision = revision;
      if (changed) lastChange = now;
    }
    const alive = revision !== 0 && now - lastChange < deps.timeoutMs;
    if (!serving && !alive && !stopped) {
      try {
        await deps.listen();
      } catch (err) {
        // the primary may still hold the port (its heartbeat stopped, its process did not)
        log.warn({ err: String(err) }, "backup gateway could not take the port yet");
        return;
      }
      serving = true;
      deps.serving(true);
      log.warn({ primary: deps.primaryKey, silentMs: now - lastChange }, "primary gateway silent: backup took over");
    } else if (serving && changed) {
      log.warn({ primary: deps.primaryKey }, "primary gateway is back: backup hands the port back");
      serving = false;
      deps.serving(false);
      // the port first: a primary meeting EADDRINUSE after the key's deletion would give up
      await deps.close();
      await kv.delete(deps.backupKey).catch(() => undefined);
      return;
    }
    if (serving) await kv.put(deps.backupKey, beat(deps.node, "serving")).catch(() => undefined);
  }

  const timer = setInterval(
    () => {
      if (busy) return;
      busy = true;
      void tick().finally(() => {
        busy = false;
      });
    },
    Math.max(50, Math.min(250, Math.floor(deps.timeoutMs / 4))),
  );
  timer.unref();
  return {
    isServing: () => serving,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 10));
      if (serving) {
        serving = false;
        deps.serving(false);
        await deps.close();
        await kv.delete(deps.backupKey).catch(() => undefined);
      }
    },
  };
}
