/**
 * Multi-node tests: Switchyard nodes as child processes (so `kill -9` is real), a client
 * broker in the test process to call their services, and direct views of leases and state.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { connectNats, type NatsHandles, type KV } from "../../nats";
import { topology, partitionOf, type Topology } from "../../streams/subjects";
import { loadConfig } from "../../node/config";
import { brokerOptions } from "../../moleculer.config";
import { nodeEnv, NATS_URL } from "./namespace";
import { waitFor } from "./wait";
import { testLogDir } from "./log-dir";

const ROOT = path.resolve(__dirname, "..", "..");
/** This run's log directory (test/support/test-logs.ts): one file per node. */
const LOG_DIR = testLogDir();

/** A lease entry as read from the bucket. */
export interface LeaseView {
  readonly owner: string;
  readonly revision: number;
}

/** A cluster of node processes in one namespace. */
export class TestCluster {
  readonly topo: Topology;
  readonly procs = new Map<string, ChildProcess>();
  broker!: ServiceBroker;
  nats!: NatsHandles;
  private leaseKv: KV | null = null;

  constructor(
    readonly ns: string,
    private readonly env: Record<string, string> = {},
  ) {
    this.topo = topology(ns);
  }

  /** Connects the test's own NATS client and Moleculer broker. */
  async connect(): Promise<void> {
    this.nats = await connectNats(NATS_URL, `test-${this.ns}`);
    const config = loadConfig({
      NAMESPACE: this.ns,
      NATS_URL,
      NODE_ID: `test-client-${process.pid}`,
      LOG_LEVEL: "warn",
    });
    this.broker = new ServiceBroker(brokerOptions(config, { logger: false }));
    await this.broker.start();
  }

  /** Starts node `id` (SERVICES default runtime,probe). */
  startNode(id: string, env: Record<string, string> = {}): ChildProcess {
    mkdirSync(LOG_DIR, { recursive: true });
    const log = createWriteStream(path.join(LOG_DIR, `${this.ns}-${id}.log`), { flags: "a" });
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "start.ts")], {
      cwd: ROOT,
      env: nodeEnv(this.ns, { NODE_ID: id, SERVICES: "runtime,probe", PORT: "0", ...this.env, ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.procs.set(id, child);
    return child;
  }

  /** Sends `signal` to node `id` and waits for it to exit. */
  async stopNode(id: string, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.procs.get(id);
    if (!child) return null;
    this.procs.delete(id);
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }

  /** Every partition lease of `kind`, read from the lease bucket. */
  async leases(kind: string, partitions: number): Promise<Map<number, LeaseView>> {
    this.leaseKv ??= await this.nats.kvm.open(this.topo.leases.bucket);
    const out = new Map<number, LeaseView>();
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        const e = await this.leaseKv!.get(this.topo.leases.partitionKey(kind, p));
        if (e && e.operation === "PUT") out.set(p, { owner: e.json<{ owner: string }>().owner, revision: e.revision });
      }),
    );
    return out;
  }

  /** Waits until every partition of `kind` is leased by one of `nodes`, and each of them holds some. */
  async waitOwned(kind: string, partitions: number, nodes: readonly string[], timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `partitions of ${kind} owned by ${nodes.join(",")}`,
      async () => {
        const leases = await this.leases(kind, partitions);
        if (leases.size !== partitions) return false;
        const owners = new Set([...leases.values()].map((l) => l.owner));
        return [...leases.values()].every((l) => nodes.includes(l.owner)) && nodes.every((n) => owners.has(n));
      },
      timeoutMs,
      100,
    );
  }

  /** Publishes `data(n)` for n in [from, to) to each key, interleaved across keys, pipelined. */
  async publish(
    kind: string,
    keys: readonly string[],
    from: number,
    to: number,
    partitions: number,
    data: (key: string, n: number) => unknown,
    window = 2000,
  ): Promise<number> {
    let inflight: Promise<unknown>[] = [];
    let count = 0;
    for (let n = from; n < to; n++) {
      for (const key of keys) {
        const subject = this.topo.actors.subject(kind, partitionOf(key, partitions), key);
        inflight.push(this.nats.js.publish(subject, JSON.stringify(data(key, n)), { msgID: `${key}:${n}` }));
        count++;
        if (inflight.length >= window) {
          await Promise.all(inflight);
          inflight = [];
        }
      }
    }
    await Promise.all(inflight);
    return count;
  }

  /** The stored state of actor `key` of `kind`. */
  async state<S>(kind: string, key: string): Promise<S | undefined> {
    const kv = await this.nats.kvm.open(this.topo.actors.stateBucket(kind));
    const e = await kv.get(key);
    return e && e.operation === "PUT" ? e.json<{ s: S }>().s : undefined;
  }

  /** Kills every node and disconnects. */
  async close(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.stopNode(id, "SIGKILL")));
    await this.broker?.stop().catch(() => undefined);
    await this.nats?.nc.close().catch(() => undefined);
  }
}

export { ROOT };
