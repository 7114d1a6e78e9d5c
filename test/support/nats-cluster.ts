/**
 * A local NATS JetStream cluster for tests and the chaos run: three `nats-server` processes on
 * free loopback ports, joined by cluster routes, each with its own JetStream store directory
 * and an HTTP monitoring port (for `/jsz`, which names the meta leader). Servers can be killed
 * (`kill -9`), stopped and started again on the same ports and store, so a restart keeps its
 * data as a real one would. Everything but the servers' logs (in the run's log directory) is
 * removed by `close()`.
 *
 * With `isolatable`, the last server runs in its own network namespace behind a veth pair (root
 * with CAP_NET_ADMIN; `ip netns`): the others and every client reach it at the pair's address,
 * and {@link NatsCluster.partition} takes its side of the link down (routes and clients cut, TCP
 * connections left hanging as in a real partition) until {@link NatsCluster.heal}. Every server
 * then listens on all addresses and advertises the veth side it is reachable on.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";
import { waitFor } from "./wait";
import { testLogDir } from "./log-dir";

/** One server of the cluster. */
export interface ClusterServer {
  readonly name: string;
  readonly clientPort: number;
  readonly routePort: number;
  readonly httpPort: number;
  readonly storeDir: string;
  /** The address others and clients reach it on. */
  readonly host: string;
  /** Its network namespace, when it is the isolatable one. */
  readonly netns?: string;
  proc: ChildProcess | null;
}

/** The network namespace and veth pair an isolatable server lives behind. */
interface Isolation {
  readonly netns: string;
  readonly hostIf: string;
  readonly innerIf: string;
  /** Host side of the pair (the other servers' advertised address). */
  readonly hostIp: string;
  /** Namespace side (the isolated server's address). */
  readonly innerIp: string;
}

const ip = (...args: string[]): void => void execFileSync("ip", args, { stdio: "pipe" });

/** Creates a network namespace joined to the host by a veth pair (see the module doc). */
function isolation(name: string): Isolation {
  const tag = name.replace(/[^a-z0-9]/gi, "").slice(-8);
  const n = 1 + Math.floor(Math.random() * 250);
  const m = Math.floor(Math.random() * 63) * 4;
  const iso: Isolation = {
    netns: `sy${tag}`,
    hostIf: `syh${tag}`.slice(0, 15),
    innerIf: `syi${tag}`.slice(0, 15),
    hostIp: `10.${200 + (n % 50)}.${n}.${m + 1}`,
    innerIp: `10.${200 + (n % 50)}.${n}.${m + 2}`,
  };
  ip("netns", "add", iso.netns);
  try {
    ip("link", "add", iso.hostIf, "type", "veth", "peer", "name", iso.innerIf);
    ip("link", "set", iso.innerIf, "netns", iso.netns);
    ip("addr", "add", `${iso.hostIp}/30`, "dev", iso.hostIf);
    ip("link", "set", iso.hostIf, "up");
    ip("netns", "exec", iso.netns, "ip", "addr", "add", `${iso.innerIp}/30`, "dev", iso.innerIf);
    ip("netns", "exec", iso.netns, "ip", "link", "set", iso.innerIf, "up");
    ip("netns", "exec", iso.netns, "ip", "link", "set", "lo", "up");
  } catch (err) {
    removeIsolation(iso);
    throw err;
  }
  return iso;
}

function removeIsolation(iso: Isolation): void {
  try {
    ip("netns", "del", iso.netns);
  } catch {
    // already gone
  }
  try {
    ip("link", "del", iso.hostIf);
  } catch {
    // went with the namespace
  }
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
  private iso: Isolation | null = null;
  /** True while the isolatable server is cut off. */
  partitioned = false;

  private constructor(
    readonly name: string,
    private readonly size: number,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `sy-nats-${name}-`));
    // in the run's log directory, so the servers' logs outlive the cluster
    this.logDir = testLogDir(`nats-${name}`);
    mkdirSync(this.logDir, { recursive: true });
  }

  /** Starts the cluster and resolves once every server answers and a meta leader is elected. */
  static async start(
    name = `c${process.pid}`,
    size = 3,
    opts: { readonly isolatable?: boolean } = {},
  ): Promise<NatsCluster> {
    const c = new NatsCluster(name, size);
    if (opts.isolatable) c.iso = isolation(name);
    for (let i = 0; i < size; i++) {
      const [clientPort, routePort, httpPort] = [await freePort(), await freePort(), await freePort()];
      const storeDir = path.join(c.dir, `n${i}`);
      mkdirSync(storeDir, { recursive: true });
      const inside = c.iso !== null && i === size - 1;
      c.servers.push({
        name: `${name}-n${i}`,
        clientPort,
        routePort,
        httpPort,
        storeDir,
        host: c.iso ? (inside ? c.iso.innerIp : c.iso.hostIp) : "127.0.0.1",
        ...(inside ? { netns: c.iso!.netns } : {}),
        proc: null,
      });
    }
    for (let i = 0; i < size; i++) c.spawn(i);
    await c.waitHealthy(60_000);
    return c;
  }

  /** The client URLs, comma-separated (NATS_URL for nodes and producers). */
  get url(): string {
    return this.servers.map((s) => `nats://${s.host}:${s.clientPort}`).join(",");
  }

  /** Index of the server that {@link partition} cuts off, or -1 without `isolatable`. */
  get isolatable(): number {
    return this.iso ? this.servers.length - 1 : -1;
  }

  /** Cuts the isolatable server off from the other servers and every client. */
  partition(): void {
    if (!this.iso) throw new Error("cluster started without an isolatable server");
    ip("netns", "exec", this.iso.netns, "ip", "link", "set", this.iso.innerIf, "down");
    this.partitioned = true;
  }

  /** Joins it again. */
  heal(): void {
    if (!this.iso) return;
    ip("netns", "exec", this.iso.netns, "ip", "link", "set", this.iso.innerIf, "up");
    this.partitioned = false;
  }

  /** Index of the server named `name`. */
  indexOf(name: string): number {
    return this.servers.findIndex((s) => s.name === name);
  }

  private spawn(i: number): void {
    const s = this.servers[i]!;
    const routes = this.servers
      .filter((_, j) => j !== i)
      .map((o) => `nats://${o.host}:${o.routePort}`)
      .join(",");
    const log = createWriteStream(path.join(this.logDir, `${s.name}.log`), { flags: "a" });
    // behind a veth pair: listen everywhere, advertise the address the others reach it on
    const listen = this.iso ? "0.0.0.0" : "127.0.0.1";
    const advertise = this.iso
      ? ["--client_advertise", `${s.host}:${s.clientPort}`, "--cluster_advertise", `${s.host}:${s.routePort}`]
      : [];
    const args = [
      "-a",
      listen,
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
      `nats://${listen}:${s.routePort}`,
      "--routes",
      routes,
      ...advertise,
    ];
    const proc = s.netns
      ? spawn("ip", ["netns", "exec", s.netns, "nats-server", ...args], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
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
   * Starts server `i` again (same ports and store) and waits until it is back in the cluster:
   * JetStream up and the meta group current (`/healthz?js-server-only=true`). Then waits up to
   * `catchUpMs` more for the full `/healthz` (every stream and consumer it holds current again);
   * resolves with how long that took after the start, or null when it did not get there (on
   * nats-server 2.9 a replica can keep resetting after a `kill -9`, "stream store EOF", and idle
   * consumers report not current: the cluster serves from the other replicas meanwhile).
   */
  async restart(i: number, opts: { timeoutMs?: number; catchUpMs?: number } = {}): Promise<number | null> {
    if (this.running(i)) return 0;
    const t0 = Date.now();
    this.spawn(i);
    let exitedEarly = false;
    await waitFor(
      `${this.servers[i]!.name} back in the cluster`,
      async () => {
        if (!this.running(i)) return (exitedEarly = true);
        if (await this.healthz(i, "?js-server-only=true")) return true;
        throw new Error(`last /healthz: ${this.lastHealth}`);
      },
      opts.timeoutMs ?? 120_000,
      250,
    );
    if (exitedEarly) throw new Error(`${this.servers[i]!.name} exited on restart (its log: ${this.logDir})`);
    const caughtUp = await waitFor(
      `${this.servers[i]!.name} current`,
      () => this.healthz(i),
      opts.catchUpMs ?? 60_000,
      250,
    )
      .then(() => Date.now() - t0)
      .catch(() => null);
    return caughtUp;
  }

  /** Waits up to `timeoutMs` for server `i`'s full `/healthz`; how long it took, or null. */
  async current(i: number, timeoutMs: number): Promise<number | null> {
    const t0 = Date.now();
    return waitFor(`${this.servers[i]!.name} current`, () => this.healthz(i), timeoutMs, 250)
      .then(() => Date.now() - t0)
      .catch(() => null);
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

  private async healthz(i: number, query = ""): Promise<boolean> {
    const res = await fetch(`http://${this.servers[i]!.host}:${this.servers[i]!.httpPort}/healthz${query}`, {
      signal: AbortSignal.timeout(2000),
    }).catch(() => undefined);
    this.lastHealth = res ? `${res.status} ${(await res.text().catch(() => "")).slice(0, 200)}` : "no answer";
    return res?.status === 200;
  }

  private async jsz(i: number): Promise<Jsz | undefined> {
    const res = await fetch(`http://${this.servers[i]!.host}:${this.servers[i]!.httpPort}/jsz`, {
      signal: AbortSignal.timeout(1000),
    }).catch(() => undefined);
    if (!res?.ok) return undefined;
    return (await res.json().catch(() => undefined)) as Jsz | undefined;
  }

  /** Kills every server and removes the stores. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((_, i) => this.kill(i)));
    if (this.iso) removeIsolation(this.iso);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Where the servers' logs are (kept after close, in the run's log directory). */
  get logs(): string {
    return this.logDir;
  }

  /** Number of servers. */
  get count(): number {
    return this.size;
  }
}
