/**
 * Disaster-recovery tests' parts: extra nats-server processes on random loopback ports (each
 * with its own store directory, killed by PID and removed afterwards), a scratch Postgres
 * database, and the backup/restore commands run as child processes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { connectNats } from "../../nats";
import { DATABASE_URL } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");

/** A nats-server this test started. */
export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly proc: ChildProcess;
  /** SIGKILL (no clean shutdown) and wait for the exit; the store stays. */
  kill(): Promise<void>;
  /** Kill (if running) and remove the store directory. */
  remove(): Promise<void>;
}

/** How to start a server: its JetStream domain, a fixed client port, config text appended (leaf nodes, ...). */
export interface NatsServerOptions {
  readonly domain?: string;
  readonly port?: number;
  readonly extra?: string;
}

/** Starts a JetStream nats-server on a random loopback port with a store of its own. */
export async function startNatsServer(name: string, opts: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sy-dr-${name}-`));
  const client = opts.port ?? (await freePort());
  const conf = path.join(dir, "server.conf");
  writeFileSync(
    conf,
    [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${client}`,
      `jetstream { store_dir: "${dir}/js", max_mem: 64M, max_file: 16G${opts.domain ? `, domain: ${opts.domain}` : ""} }`,
      opts.extra ?? "",
      "",
    ].join("\n"),
  );
  const proc = spawn("nats-server", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-4000)));
  const url = `nats://127.0.0.1:${client}`;
  const kill = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGKILL");
    await exited;
  };
  try {
    await waitFor(
      `nats-server ${name} up`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`nats-server ${name} exited: ${stderr}`);
        const h = await connectNats(url, "probe", 500).catch(() => undefined);
        if (!h) return false;
        await h.nc.close();
        return true;
      },
      20_000,
      100,
    );
  } catch (err) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port: client,
    dir,
    proc,
    kill,
    remove: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A database of its own on the test Postgres; its URL, and a drop. */
export async function scratchDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(DATABASE_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** What a command printed and how it exited. */
export interface ToolRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `bin/<tool>.ts args` with `env` (on top of this process's) and waits for it; its stderr
 * also goes to var/test-logs/`logName`.log.
 */
export function runTool(
  tool: string,
  args: readonly string[],
  env: Record<string, string>,
  logName = tool,
): Promise<ToolRun> {
  const logs = path.join(ROOT, "var", "test-logs");
  mkdirSync(logs, { recursive: true });
  const log = createWriteStream(path.join(logs, `${logName}.log`), { flags: "a" });
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", `${tool}.ts`), ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    p.stderr.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
      log.write(b);
    });
    p.on("error", reject);
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
