/**
 * The primary gateway's heartbeat and the backup's watch (services/gateway/failover.ts) on the real
 * NATS KV and real HTTP servers on loopback: the hand-back of the port has no gap in which a
 * starting primary meets EADDRINUSE with nobody left to wait for.
 */
import http from "node:http";
import { expect } from "chai";
import { connectNats, type KV, type NatsHandles } from "../../nats";
import { listenAsPrimary, startBackup, startHeartbeat } from "../../services/gateway/failover";
import { closeServer, listen } from "../../services/gateway/http";
import { createLogger } from "../../lib/logger";
import { cleanupNamespace, freshNamespace, NATS_URL } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const log = createLogger({ level: process.env["TEST_LOG_LEVEL"] ?? "silent", name: "test:failover" });

describe("gateway failover: heartbeat, backup watch and hand-back (real NATS)", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tgf");
  let h: NatsHandles;
  let kv: KV;
  const servers: http.Server[] = [];
  const server = (): http.Server => {
    const s = http.createServer((_req, res) => res.end("ok"));
    servers.push(s);
    return s;
  };

  before(async () => {
    h = await connectNats(NATS_URL, `test-${ns}`);
    kv = await h.kvm.create(`${ns}_gateway_hb`, { history: 1 });
  });
  after(async () => {
    for (const s of servers) await closeServer(s);
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  it("a primary waits for a backup that has just deleted its key and is still closing the port", async () => {
    const port = await freePort();
    const held = server();
    await listen(held, port, "127.0.0.1");
    await kv.put("backup.a", new TextEncoder().encode("{}"));
    await kv.delete("backup.a");
    setTimeout(() => void closeServer(held), 600);
    const primary = server();
    await listenAsPrimary(() => listen(primary, port, "127.0.0.1"), kv, "backup.a", log);
    expect(primary.listening).to.equal(true);
  });

  it("a port held by something that is no backup refuses at once", async () => {
    const port = await freePort();
    await listen(server(), port, "127.0.0.1");
    const started = Date.now();
    let code: string | undefined;
    try {
      await listenAsPrimary(() => listen(server(), port, "127.0.0.1"), kv, "backup.nobody", log);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(code).to.equal("EADDRINUSE");
    expect(Date.now() - started).to.be.below(5000);
  });

  it("the backup takes a silent primary's port, and has closed it before its key is deleted on hand-back", async () => {
    const port = await freePort();
    const seen: boolean[] = [];
    const backupServer = server();
    const backup = startBackup({
      kv,
      primaryKey: `primary.${port}`,
      backupKey: `backup.${port}`,
      node: "backup-node",
      timeoutMs: 400,
      log,
      listen: () => listen(backupServer, port, "127.0.0.1"),
      close: () => closeServer(backupServer),
      serving: (on) => seen.push(on),
    });
    try {
      // no primary heartbeat: the backup serves, and says so in its key
      await waitFor("the backup serving", () => backup.isServing(), 10_000);
      await waitFor("the backup's key", async () => (await kv.get(`backup.${port}`))?.operation === "PUT", 5000);

      // the moment the key is deleted the port must already be free
      const watch = await kv.watch({ key: `backup.${port}`, include: "updates" });
      const freeAtDelete = (async () => {
        for await (const e of watch) {
          if (e.operation !== "DEL") continue;
          const probe = server();
          try {
            await listen(probe, port, "127.0.0.1");
            return true;
          } catch {
            return false;
          } finally {
            await closeServer(probe);
          }
        }
        return false;
      })();
      const hb = startHeartbeat(kv, `primary.${port}`, "primary-node", 100, log);
      try {
        expect(await freeAtDelete).to.equal(true);
        watch.stop();
        expect(backup.isServing()).to.equal(false);
        expect(seen).to.deep.equal([true, false]);
      } finally {
        await hb.stop();
      }
    } finally {
      await backup.stop();
    }
  });
});
