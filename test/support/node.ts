/**
 * Real nodes for tests: in this process (for tests that reach into the node's context) or as
 * child processes running bin/start.ts (for `kill -9`, drains and load on both cores). Each
 * resolves once the node's gateway answers /health/ready.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../node/config";
import { startNode, type RunningNode } from "../../node/start";
import { nodeEnv } from "./namespace";
import { waitFor } from "./wait";
import { testLogDir } from "./log-dir";

const ROOT = path.resolve(__dirname, "..", "..");

const isReady = async (url: string): Promise<boolean> =>
  (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200;

/** A node in this process. */
export interface InProcessNode {
  readonly node: RunningNode;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a node in this process from `env` (PORT set) and waits until it is ready. */
export async function startInProcess(env: Record<string, string>): Promise<InProcessNode> {
  const node = await startNode(loadConfig(env));
  const url = `http://127.0.0.1:${env["PORT"]}`;
  await waitFor("node ready", () => isReady(url), 30_000, 100);
  return { node, url, stop: () => node.stop() };
}

/** A node as a child process. */
export interface ChildNode {
  readonly child: ChildProcess;
  readonly url: string;
  readonly id: string;
  /** SIGTERM (drain) or SIGKILL, and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts bin/start.ts as a child process with `env` (NAMESPACE, NODE_ID and PORT set; the test
 * services' URLs are added). Its output goes to `logName`.log in this run's log directory (default
 * `{namespace}-{node id}`). Rejects, killing the child, if it exits or is not ready in 60 s.
 */
export async function startChild(env: Record<string, string>, logName?: string): Promise<ChildNode> {
  const dir = testLogDir();
  mkdirSync(dir, { recursive: true });
  const id = env["NODE_ID"]!;
  const log = createWriteStream(path.join(dir, `${logName ?? `${env["NAMESPACE"]}-${id}`}.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "start.ts")], {
    cwd: ROOT,
    env: nodeEnv(env["NAMESPACE"]!, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${env["PORT"]}`;
  const stop = (signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    return exited;
  };
  try {
    await waitFor(
      `node ${id} ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`node ${id} exited with ${child.exitCode}`);
        return isReady(url);
      },
      60_000,
      200,
    );
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
  return { child, url, id, stop };
}
