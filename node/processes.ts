/**
 * Several node processes from one program (NODE_PROCESSES > 1): a small primary process forks
 * the nodes with `node:cluster`, one per core by default (`npm start`), as Moleculer's runner
 * does with `--instances`. Node's event loop is one thread, so this is what puts a machine's
 * second core to work. Each child is a whole node of its own, `<NODE_ID>-<i>`: it takes its
 * share of the partitions through the leases like any other node, and the HTTP port is shared
 * (the primary hands each new connection to one child in turn).
 *
 * The primary runs no node. It starts the simulators (once, for all children), restarts a child
 * that dies (a `kill -9` of one child is a node failure: its partitions move to the others at
 * once and back when it is up again; a child that keeps dying within seconds of its start is
 * given up after a few tries, and the primary exits 1), and on SIGTERM or SIGINT drains every
 * child and exits when they have. A primary that dies takes its children with it: a child whose
 * channel to the primary closes exits at once (Node's cluster does this), and its partitions
 * move to other nodes as after any crash.
 */
import cluster, { type Worker } from "node:cluster";
import type { ChildProcess } from "node:child_process";
import type { Config } from "../config";
import type { Logger } from "../lib/logger";

/** The env variable that tells a child its index (1..n); the first one prints the closing line. */
export const PROCESS_INDEX_ENV = "SWITCHYARD_PROCESS_INDEX";

/** A child that exits this soon after it started counts as failing to start. */
const QUICK_EXIT_MS = 10_000;
/** Quick exits in a row after which the primary gives the child up. */
const MAX_QUICK_EXITS = 5;
/** How long the primary waits for its children to drain before it kills them. */
const DRAIN_LIMIT_MS = 60_000;

/** True in a child forked by {@link superviseProcesses}. */
export function isNodeProcessChild(): boolean {
  return cluster.isWorker;
}

/** The child's index (1..n), or 1 in a process that runs one node. */
export function processIndex(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env[PROCESS_INDEX_ENV] ?? "1") || 1;
}

/**
 * Runs the primary: forks `config.processes` children of this same program (each then starts a
 * node, see bin/start.ts), restarts those that die, drains them all on SIGTERM / SIGINT.
 * `simulators` is the simulators' process the primary started, stopped last.
 */
export function superviseProcesses(config: Config, log: Logger, simulators: ChildProcess | null): void {
  const n = config.processes;
  const children = new Map<number, { worker: Worker; startedAt: number; quickExits: number }>();
  let stopping = false;

  const fork = (index: number, quickExits: number): void => {
    const worker = cluster.fork({ NODE_ID: `${config.nodeId}-${index}`, [PROCESS_INDEX_ENV]: String(index) });
    children.set(index, { worker, startedAt: Date.now(), quickExits });
    worker.on("exit", (code, signal) => {
      const entry = children.get(index);
      if (entry?.worker !== worker) return;
      children.delete(index);
      if (stopping) {
        if (children.size === 0) finish();
        return;
      }
      const tries = Date.now() - entry.startedAt < QUICK_EXIT_MS ? quickExits + 1 : 0;
      if (tries >= MAX_QUICK_EXITS) {
        log.error(
          { node: `${config.nodeId}-${index}`, code, signal, tries },
          "node process keeps failing at start: giving up",
        );
        stopAll(1);
        return;
      }
      const delayMs = Math.min(10_000, 500 * 2 ** tries);
      log.error(
        { node: `${config.nodeId}-${index}`, code, signal, restartInMs: delayMs },
        "node process died: restarting it",
      );
      setTimeout(() => {
        if (!stopping) fork(index, tries);
      }, delayMs).unref();
    });
  };

  let exitCode = 0;
  const finish = (): void => {
    simulators?.kill("SIGTERM");
    log.info({ processes: n }, "every node process stopped");
    process.exit(exitCode);
  };
  const stopAll = (code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    if (children.size === 0) return finish();
    for (const { worker } of children.values()) worker.process.kill("SIGTERM");
    setTimeout(() => {
      for (const { worker } of children.values()) worker.process.kill("SIGKILL");
    }, DRAIN_LIMIT_MS).unref();
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      // a second signal: stop now
      for (const { worker } of children.values()) worker.process.kill("SIGKILL");
      simulators?.kill("SIGKILL");
      process.exit(1);
    }
    log.info({ signal, processes: children.size }, "shutting down every node process");
    stopAll(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  log.info(
    { processes: n, nodes: Array.from({ length: n }, (_, i) => `${config.nodeId}-${i + 1}`) },
    "starting node processes",
  );
  for (let i = 1; i <= n; i++) fork(i, 0);
}
