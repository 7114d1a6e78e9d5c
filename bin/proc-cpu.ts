/** CPU accounting of benchmark processes from /proc (Linux; zeros elsewhere). */
import { readFileSync, readdirSync } from "node:fs";

/** CPU time (ms, user + system) a process has used so far; 0 when it is gone or not Linux. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** The pid of the local nats-server, if any (to account its CPU). */
export function natsServerPid(): number | undefined {
  try {
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === "nats-server") return Number(d);
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    // not Linux
  }
  return undefined;
}
