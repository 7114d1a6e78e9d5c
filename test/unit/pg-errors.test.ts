/**
 * isPostgresUnavailable (db/errors.ts) against errors provoked for real on the test Postgres:
 * a server that does not listen, a pool with no free connection within its timeout, and a
 * connection the server terminates are "unavailable" (503 and retry); a wrong statement and a
 * data exception are not. The node's middleware turns the first kind into UNAVAILABLE.
 */
import { expect } from "chai";
import net from "node:net";
import pg from "pg";
import { ServiceBroker } from "moleculer";
import { isPostgresUnavailable } from "../../db";
import { AppError } from "../../lib/errors";
import { natsUnavailableAs503 } from "../../node/unavailable";

const URL = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** A loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("isPostgresUnavailable: real Postgres errors", function () {
  it("a server that does not listen is unavailable", async () => {
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres` });
    try {
      const err = await rejection(pool.query("SELECT 1"));
      expect(isPostgresUnavailable(err), String(err)).to.equal(true);
    } finally {
      await pool.end();
    }
  });

  it("no free connection within the pool's timeout is unavailable", async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 1, connectionTimeoutMillis: 200 });
    const held = await pool.connect();
    try {
      const err = await rejection(pool.query("SELECT 1"));
      expect((err as Error).message).to.match(/timeout/);
      expect(isPostgresUnavailable(err), String(err)).to.equal(true);
    } finally {
      held.release();
      await pool.end();
    }
  });

  it("a connection the server terminates is unavailable (57P01)", async () => {
    const victim = new pg.Client({ connectionString: URL });
    victim.on("error", () => undefined);
    await victim.connect();
    const pid = ((await victim.query("SELECT pg_backend_pid() AS pid")).rows[0] as { pid: number }).pid;
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    try {
      const pending = rejection(victim.query("SELECT pg_sleep(5)"));
      await new Promise((r) => setTimeout(r, 100));
      await admin.query("SELECT pg_terminate_backend($1)", [pid]);
      const err = await pending;
      expect(isPostgresUnavailable(err), String(err)).to.equal(true);
    } finally {
      await admin.end();
      await victim.end().catch(() => undefined);
    }
  });

  it("a wrong statement and a data exception are not", async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 1 });
    try {
      const syntax = await rejection(pool.query("SELEC 1"));
      const data = await rejection(pool.query("SELECT $1::jsonb", ['"\\u0000"']));
      expect(isPostgresUnavailable(syntax), String(syntax)).to.equal(false);
      expect(isPostgresUnavailable(data), String(data)).to.equal(false);
      expect(isPostgresUnavailable(new Error("connection refused by policy"))).to.equal(false);
    } finally {
      await pool.end();
    }
  });

  it("the node's middleware answers UNAVAILABLE with Retry-After for it, and passes other errors on", async () => {
    const broker = new ServiceBroker({ logger: false, transporter: null, middlewares: [natsUnavailableAs503()] });
    const pool = new pg.Pool({ connectionString: URL, max: 1, connectionTimeoutMillis: 100 });
    const held = await pool.connect();
    broker.createService({
      name: "pgprobe",
      actions: {
        busy: () => pool.query("SELECT 1"),
        wrong: () => pool.query("SELEC 1"),
      },
    });
    await broker.start();
    try {
      const busy = await rejection(broker.call("pgprobe.busy"));
      expect(busy).to.be.instanceOf(AppError);
      expect((busy as AppError).code).to.equal("UNAVAILABLE");
      expect((busy as AppError).headers).to.deep.equal({ "Retry-After": "2" });
      held.release();
      const wrong = await rejection(broker.call("pgprobe.wrong"));
      expect(wrong).to.not.be.instanceOf(AppError);
    } finally {
      await broker.stop();
      await pool.end();
    }
  });
});
