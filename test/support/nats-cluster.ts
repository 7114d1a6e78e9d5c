/**
 * A local NATS JetStream cluster for tests and the chaos run: three `nats-server` processes on
 * free loopback ports, joined by cluster routes, each with its own JetStream store directory
 * and an HTTP monitoring port (for `/jsz`, which names the meta leader). Servers can be killed
 * (`kill -9`), stopped and started again on the same ports and store, so a restart keeps its
 * data as a real one would. Everything is removed by `close()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";
import { waitFor } from "./wait";

/** One server of the cluster. */
export interface ClusterServer {
  readonly name: string;
  readonly clientPort: number;
  readonly routePort: number;
  readonly httpPort: number;
  readonly storeDir: string;
  proc: ChildProcess | null;
}

/** What `/jsz` says of the meta group. */
interface Jsz {
  readonly meta_cluster?: { readonly leader?: string; readonly replicas?: readonly { readonly current?: boolean }[] };
}

const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

/** A three-server (by default) JetStream cluster on loopback. */
export class NatsCluster {
  readonly servers: ClusterServer[] = [];
  private readonly dir: string;
  private readonly logDir: string;

  private constructor(
    readonly name: string,
    private readonly size: number,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `sy-nats-${name}-`));
    this.logDir = path.join(this.dir, "logs");
    mkdirSync(this.logDir, { recursive: true });
  }

  /** Starts the cluster and resolves once every server answers and a meta leader is elected. */
  static async start(name = `c${process.pid}`, size = 3): Promise<NatsCluster> {
    const c = new NatsCluster(name, size);
    for (let i = 0; i < size; i++) {
      const [clientPort, routePort, httpPort] = [await freePort(), await freePort(), await freePort()];
      const storeDir = path.join(c.dir, `n${i}`);
      mkdirSync(storeDir, { recursive: true });
      c.servers.push({ name: `${name}-n${i}`, clientPort, routePort, httpPort, storeDir, proc: null });
    }
    for (let i = 0; i < size; i++) c.spawn(i);
    await c.waitHealthy(60_000);
    return c;
  }

  /** The client URLs, comma-separated (NATS_URL for nodes and producers). */
  get url(): string {
    return this.servers.map((s) => `nats://127.0.0.1:${s.clientPort}`).join(",");
  }

  /** Index of the server named `name`. */
  indexOf(name: string): number {
    return this.servers.findIndex((s) => s.name === name);
  }

  private spawn(i: number): void {
    const s = this.servers[i]!;
    const routes = this.servers
      .filter((_, j) => j !== i)
      .map((o) => `nats://127.0.0.1:${o.routePort}`)
      .join(",");
    const log = createWriteStream(path.join(this.logDir, `${s.name}.log`), { flags: "a" });
    const proc = spawn(
      "nats-server",
      [
        "-a",
        "127.0.0.1",
        "-p",
        String(s.clientPort),
        "-m",
        String(s.httpPort),
        "-js",
        "-sd",
        s.storeDir,
        "--server_name",
        s.name,
        "--cluster_name",
        this.name,
        "--cluster",
        `nats://127.0.0.1:${s.routePort}`,
        "--routes",
        routes,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    s.proc = proc;
  }

  /** Is server `i` running? */
  running(i: number): boolean {
    const p = this.servers[i]!.proc;
    return p !== null && !exited(p);
  }

  /** `kill -9` (or `signal`) of server `i`; resolves once it exited. */
  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.servers[i]!.proc;
    if (!p || exited(p)) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    await gone;
  }

  /**
   * Starts server `i` again (same ports and store) and waits until its /healthz says ok: it
   * rejoined and every stream and consumer it holds is current again (catching up hundreds of
   * replicated streams takes a while on a busy machine).
   */
  async restart(i: number, timeoutMs = 180_000): Promise<void> {
    if (this.running(i)) return;
    this.spawn(i);
    await waitFor(
      `${this.servers[i]!.name} healthy`,
      async () => {
        if (await this.healthz(i)) return true;
        throw new Error(`last /healthz: ${this.lastHealth}`);
      },
      timeoutMs,
      250,
    );
  }

  /** The last /healthz answer read (for error messages). */
  private lastHealth = "";

  /** The meta leader's server name, once a running server reports a running leader. */
  async metaLeader(): Promise<string | undefined> {
    for (let i = 0; i < this.servers.length; i++) {
      if (!this.running(i)) continue;
      const leader = (await this.jsz(i))?.meta_cluster?.leader;
      if (leader !== undefined && this.running(this.indexOf(leader))) return leader;
    }
    return undefined;
  }

  /** Waits until every running server is healthy and one meta leader is known. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `NATS cluster ${this.name} healthy`,
      async () => {
        for (let i = 0; i < this.servers.length; i++) if (this.running(i) && !(await this.healthz(i))) return false;
        return (await this.metaLeader()) !== undefined;
      },
      timeoutMs,
      200,
    );
  }

  private async healthz(i: number): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${this.servers[i]!.httpPort}/healthz`, {
      signal: AbortSignal.timeout(2000),
    }).catch(() => undefined);
    this.lastHealth = res ? `${res.status} ${(await res.text().catch(() => "")).slice(0, 200)}` : "no answer";
    return res?.status === 200;
  }

  private async jsz(i: number): Promise<Jsz | undefined> {
    const res = await fetch(`http://127.0.0.1:${this.servers[i]!.httpPort}/jsz`, {
      signal: AbortSignal.timeout(1000),
    }).catch(() => undefined);
    if (!res?.ok) return undefined;
    return (await res.json().catch(() => undefined)) as Jsz | undefined;
  }

  /** Kills every server and removes the stores. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((_, i) => this.kill(i)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Where the servers' logs are (kept until close). */
  get logs(): string {
    return this.logDir;
  }

  /** Number of servers. */
  get count(): number {
    return this.size;
  }
}
