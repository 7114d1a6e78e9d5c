/** Processes and ports of a test's nodes, found from the outside (as an operator would). */
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";

/** True when something accepts connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Pids of live processes (not this one) whose environment holds NAMESPACE=`ns` and every entry
 * of `also` (`NAME=value`): a test's node processes and simulators.
 */
export function processesOf(ns: string, ...also: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, "latin1").split("\0");
      if (env.includes(`NAMESPACE=${ns}`) && also.every((e) => env.includes(e))) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
