/**
 * Private PostgreSQL and Redis servers for the chaos run: started from the machine's binaries on
 * free loopback ports with their data in a temporary directory, so a fault row can stop and
 * start them without touching the shared servers other tests use. Removed by `close()`.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";
import { waitFor } from "./wait";

/** The directory of the newest installed PostgreSQL's server binaries. */
function pgBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(base, v, "bin", "postgres"))) return path.join(base, v, "bin");
  throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql");
}

/** Runs `cmd` as the postgres user when this process is root (initdb and postgres refuse root). */
function asPostgres(cmd: string, args: readonly string[]): { file: string; args: string[] } {
  if (process.getuid?.() !== 0) return { file: cmd, args: [...args] };
  return { file: "runuser", args: ["-u", "postgres", "--", cmd, ...args] };
}

/** A private PostgreSQL cluster. */
export class PrivatePostgres {
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** initdb (trust auth) and start. */
  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "sy-pg-"));
    chmodSync(dir, 0o777);
    const data = path.join(dir, "data");
    const init = asPostgres(path.join(pgBin(), "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
    execFileSync(init.file, init.args, { stdio: "ignore" });
    const pg = new PrivatePostgres(await freePort(), dir);
    await pg.startServer();
    return pg;
  }

  /** postgres://... for DATABASE_URL. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the server and waits until it accepts connections. */
  async startServer(): Promise<void> {
    if (this.running) return;
    const run = asPostgres(path.join(pgBin(), "postgres"), [
      "-D",
      path.join(this.dir, "data"),
      "-p",
      String(this.port),
      "-h",
      "127.0.0.1",
      "-k",
      this.dir,
      "-c",
      "fsync=off",
      "-c",
      "max_connections=300",
    ]);
    this.proc = spawn(run.file, run.args, { stdio: "ignore" });
    await waitFor(
      `private postgres on ${this.port}`,
      () => {
        try {
          execFileSync(path.join(pgBin(), "pg_isready"), ["-h", "127.0.0.1", "-p", String(this.port)], {
            stdio: "ignore",
          });
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );
  }

  /** The postmaster's pid (the spawned process may be runuser around it). */
  private postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Signals the postmaster and waits until the server is gone. */
  private async signal(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    const pid = this.postmasterPid();
    if (pid !== undefined) process.kill(pid, sig);
    else p.kill(sig);
    await gone;
    this.proc = null;
  }

  /** Stops the server (fast shutdown: connections are cut, as in an outage). */
  stopServer(): Promise<void> {
    return this.signal("SIGINT");
  }

  async close(): Promise<void> {
    await this.signal("SIGINT").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private Redis server (no persistence). */
export class PrivateRedis {
  private proc: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.startServer();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async startServer(): Promise<void> {
    if (this.running) return;
    this.proc = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    await waitFor(
      `private redis on ${this.port}`,
      () => {
        try {
          return (
            execFileSync("redis-cli", ["-p", String(this.port), "ping"], { stdio: ["ignore", "pipe", "ignore"] })
              .toString()
              .trim() === "PONG"
          );
        } catch {
          return false;
        }
      },
      10_000,
      100,
    );
  }

  async stopServer(): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGKILL");
    await gone;
    this.proc = null;
  }

  async close(): Promise<void> {
    await this.stopServer();
  }
}
