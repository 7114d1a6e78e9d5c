/**
 * Issue 11, item 2, the NATS side: the shipped accounts (deploy/nats/accounts.conf) let an intake
 * producer hand work in and nothing else. An extra nats-server process runs the shipped server
 * config (deploy/nats/nats1.conf with a test port and store, as one server: no cluster block,
 * and without 2.10's sync_interval), and the tests show:
 * - the producer's JetStream publish to its intake subject is acked, its supporter request is
 *   answered, on its own inbox prefix;
 * - it cannot publish to the Moleculer subjects, to the JetStream API (stream delete), or to
 *   another tenant's intake; it cannot subscribe to the Moleculer subjects or to others' inboxes;
 * - a node user can do all of that; a connection without a user is refused.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { connect, connectNats, jetstream, type NatsConnection, type NatsHandles } from "../../nats";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");
const NATS_DIR = path.join(ROOT, "deploy", "nats");
const NATS_SERVER = "/usr/sbin/nats-server";
const PASSWORDS = { NATS_NODE_PASSWORD: "test-node-password", NATS_PRODUCER_ACME_PASSWORD: "test-acme-password" };

/** deploy/nats/nats1.conf as a lone test server on `port`, storing in `dir`. */
function testServerConfig(port: number, dir: string): string {
  const shipped = readFileSync(path.join(NATS_DIR, "nats1.conf"), "utf8");
  expect(shipped, "nats1.conf includes the shipped accounts").to.match(/^include\s+"?\.\/accounts\.conf"?\s*$/m);
  return shipped
    .replace(/^port:\s*4222\s*$/m, `port: ${port}\nhost: 127.0.0.1`)
    .replace(/^http_port:.*$/m, "")
    .replace(/^\s*sync_interval\s*[:=].*$/m, "")
    .replace(/^\s*store_dir:.*$/m, `  store_dir: ${JSON.stringify(path.join(dir, "js"))}`)
    .replace(/^cluster\s*\{[\s\S]*?^\}\s*$/m, "");
}

describe("security: NATS accounts separate producers from nodes (deploy/nats)", function () {
  this.timeout(60_000);
  let dir: string;
  let server: ChildProcess;
  let url: string;
  let node: NatsHandles;
  let producer: NatsConnection;
  const STREAM = "SY_EVENTS_IN_ACCOUNTS_TEST";

  before(async function () {
    const port = await freePort();
    dir = mkdtempSync(path.join(os.tmpdir(), "nats-accounts-"));
    copyFileSync(path.join(NATS_DIR, "accounts.conf"), path.join(dir, "accounts.conf"));
    writeFileSync(path.join(dir, "server.conf"), testServerConfig(port, dir));
    server = spawn(NATS_SERVER, ["-c", path.join(dir, "server.conf")], {
      env: { ...process.env, ...PASSWORDS },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    server.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    url = `127.0.0.1:${port}`;
    node = await waitFor(
      "the test nats-server to accept the node user",
      async () => {
        if (server.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
        return connectNats(`nats://node:${PASSWORDS.NATS_NODE_PASSWORD}@${url}`, "accounts-test-node", 1000);
      },
      20_000,
      100,
    );
    await node.jsm.streams.add({ name: STREAM, subjects: ["sy.events.in.>"] });
    producer = await connect({
      servers: url,
      user: "producer-acme",
      pass: PASSWORDS.NATS_PRODUCER_ACME_PASSWORD,
      inboxPrefix: "_INBOX_acme",
      name: "accounts-test-producer",
    });
  });

  after(async function () {
    await producer?.close().catch(() => undefined);
    await node?.nc.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Publishes `forbidden` then an allowed marker from the producer, and returns what a node
   * subscriber on everything saw before the marker. One connection's messages arrive in order,
   * so a forbidden message that got through would be there: no waiting on a timer.
   */
  async function seenBeforeMarker(forbidden: readonly string[]): Promise<string[]> {
    const marker = `sy.events.in.acme`;
    const id = `marker-${Date.now()}-${Math.random()}`;
    const seen: string[] = [];
    const sub = node.nc.subscribe(">");
    await node.nc.flush();
    const done = (async () => {
      for await (const m of sub) {
        if (m.subject === marker && new TextDecoder().decode(m.data) === id) return;
        if (forbidden.includes(m.subject)) seen.push(m.subject);
      }
    })();
    for (const s of forbidden) producer.publish(s, "x");
    producer.publish(marker, id);
    await producer.flush();
    await done;
    sub.unsubscribe();
    return seen;
  }

  it("acks the producer's JetStream publish to its intake subject and answers its supporter request", async function () {
    const ack = await jetstream(producer).publish("sy.events.in.acme", JSON.stringify({ eventId: "e-1" }), {
      msgID: "acme:e-1",
    });
    expect(ack.stream).to.equal(STREAM);
    const responder = node.nc.subscribe("sy.supporters.req.>", {
      callback: (_e, m) => void m.respond(JSON.stringify({ ok: true, hash: "h" })),
    });
    await node.nc.flush();
    const r = await producer.request("sy.supporters.req.acme", "{}", { timeout: 5000 });
    expect(r.json<{ ok: boolean }>().ok).to.equal(true);
    responder.unsubscribe();
  });

  it("drops the producer's publishes to Moleculer subjects, the JetStream API and another tenant", async function () {
    const forbidden = [
      "MOL.REQ.n1",
      "MOL-sy.REQ.n1",
      "MOL-sy.DISCOVER",
      `$JS.API.STREAM.DELETE.${STREAM}`,
      "$JS.API.STREAM.PURGE." + STREAM,
      "sy.events.in.other",
      "sy.actor.receipt.0.k",
      "sy.job.x.k",
    ];
    expect(await seenBeforeMarker(forbidden)).to.deep.equal([]);
    expect((await node.jsm.streams.info(STREAM)).config.name, "the stream survived").to.equal(STREAM);
  });

  it("refuses the producer's JetStream API request to delete a stream", async function () {
    let refused: unknown;
    try {
      await producer.request(`$JS.API.STREAM.DELETE.${STREAM}`, "", { timeout: 2000 });
    } catch (err) {
      refused = err;
    }
    expect(refused, "the delete request fails").to.be.instanceOf(Error);
    expect((await node.jsm.streams.info(STREAM)).config.name).to.equal(STREAM);
  });

  it("refuses the producer's subscriptions to Moleculer subjects and to other inboxes", async function () {
    for (const subject of ["MOL.>", "MOL-sy.>", "_INBOX.>", "$JS.API.>", "sy.events.in.>"]) {
      const sub = producer.subscribe(subject);
      // A deadline, not a pause: the server's refusal closes the subscription at once.
      const closed = await Promise.race([
        sub.closed,
        new Promise<string>((r) => setTimeout(() => r("still open after 5 s"), 5000).unref()),
      ]);
      expect(closed, subject).to.be.instanceOf(Error);
      expect(String((closed as Error).message), subject).to.match(/permissions violation/i);
    }
    expect(producer.isClosed(), "the producer's connection stays up").to.equal(false);
  });

  it("lets a node subscribe to the Moleculer subjects, and refuses a connection without a user", async function () {
    const sub = node.nc.subscribe("MOL-sy.>");
    await node.nc.flush();
    node.nc.publish("MOL-sy.DISCOVER", "{}");
    for await (const m of sub) {
      expect(m.subject).to.equal("MOL-sy.DISCOVER");
      break;
    }
    let refused: unknown;
    try {
      const anon = await connect({ servers: url, reconnect: false, timeout: 2000 });
      await anon.close();
    } catch (err) {
      refused = err;
    }
    expect(String((refused as Error | undefined)?.message)).to.match(/authorization/i);
  });
});
