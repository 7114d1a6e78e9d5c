/**
 * `npm start` delivers SIGTERM to the node: a SIGTERM to the npm process itself makes the node
 * drain ("draining", then "stopped" in its log) and exit, and nothing keeps serving on its port
 * or the simulators' ports afterwards. (When the node ran under a wrapper that did not pass the
 * signal on, npm exited and the node kept serving, reparented, with no drain.)
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { cleanupNamespace, freshNamespace, nodeEnv } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");

/** True when something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Pids of live processes whose environment holds NAMESPACE=`ns` (this test's node and simulators). */
function processesOf(ns: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, "latin1").split("\0").includes(`NAMESPACE=${ns}`)) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe("npm start and signals", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tsig");
  let npm: ChildProcess | undefined;
  let output = "";

  after(async function () {
    for (const pid of processesOf(ns)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await cleanupNamespace(ns);
  });

  it("drains and exits the node when npm start itself gets SIGTERM", async function () {
    const [port, taxPort, whPort, userPort, erpPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const env = nodeEnv(ns, {
      NODE_ID: `${ns}-n1`,
      PORT: String(port),
      LOG_LEVEL: "info",
      SIM_TAX_PORT: String(taxPort),
      SIM_WAREHOUSE_PORT: String(whPort),
      SIM_USER_PORT: String(userPort),
      SIM_ERP_PORT: String(erpPort),
      RECEIPT_MAX_LAG_MS: "0",
    });
    npm = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    npm.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    npm.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm!.once("exit", (code) => resolve(code)));
    await waitFor(
      "npm start ready",
      async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200,
      60_000,
      200,
    );
    expect(processesOf(ns).length, "the node (and its simulators) run under npm").to.be.greaterThan(1);

    npm.kill("SIGTERM");
    await exited;
    // npm waits for its script; once it is gone, nothing of this namespace may still serve
    await waitFor("the node to stop serving", async () => !(await listening(port)), 20_000, 100);
    await waitFor("every process of the node to exit", () => processesOf(ns).length === 0, 20_000, 100);
    expect(await listening(taxPort), "tax simulator port").to.equal(false);
    expect(output, output.slice(-2000)).to.contain('"msg":"draining"');

    expect(output.match(/"msg":"shutting down"/g)?.length, "one shutdown").to.equal(1);
    expect(output, output.slice(-2000)).to.contain('"msg":"stopped"');
  });
});
