/**
 * `npm start` with NODE_PROCESSES=2 (node/processes.ts): two node processes, `<NODE_ID>-1` and
 * `<NODE_ID>-2`, under one primary, sharing the HTTP port and splitting the partitions; a
 * `kill -9` of one is restarted by the primary while the other keeps serving and takes its
 * partitions; SIGTERM to npm drains both and leaves nothing running.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { connectNats, type NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import { cleanupNamespace, freshNamespace, nodeEnv, NATS_URL } from "../support/namespace";
import { freePort } from "../support/ports";
import { listening, processesOf } from "../support/procs";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");

describe("npm start with two node processes", function () {
  this.timeout(180_000);
  const ns = freshNamespace("tnp");
  const nodeId = `${ns}-n`;
  let npm: ChildProcess | undefined;
  let output = "";
  let h: NatsHandles;
  let port: number;

  /** How many lease entries (partitions and the node's own) each owner wrote since `since` (ms). */
  async function owners(since = 0): Promise<Map<string, number>> {
    const kv = await h.kvm.open(topology(ns).leases.bucket);
    const out = new Map<string, number>();
    for await (const key of await kv.keys()) {
      const e = await kv.get(key);
      if (!e || e.operation !== "PUT") continue;
      const v = e.json() as { owner: string; at: number };
      if (v.at >= since) out.set(v.owner, (out.get(v.owner) ?? 0) + 1);
    }
    return out;
  }

  const ready = async (): Promise<boolean> =>
    (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200;

  before(async () => {
    h = await connectNats(NATS_URL, `processes-${ns}`);
  });

  after(async () => {
    for (const pid of processesOf(ns)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await h?.nc.close();
    await cleanupNamespace(ns);
  });

  it("runs two nodes on one port, restarts one after kill -9, drains both on SIGTERM", async function () {
    const [p, tax, wh, user, erp] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    port = p;
    const env = nodeEnv(ns, {
      NODE_ID: nodeId,
      NODE_PROCESSES: "2",
      SERVICES: "runtime,gateway,receipts,simulators",
      PORT: String(port),
      LOG_LEVEL: "info",
      SIM_TAX_PORT: String(tax),
      SIM_WAREHOUSE_PORT: String(wh),
      SIM_USER_PORT: String(user),
      SIM_ERP_PORT: String(erp),
      RECEIPT_MAX_LAG_MS: "0",
    });
    npm = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    npm.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    npm.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm!.once("exit", (code) => resolve(code)));

    const both = new Set([`${nodeId}-1`, `${nodeId}-2`]);
    await waitFor(
      "both node processes owning partitions",
      async () => {
        const o = await owners();
        return [...both].every((n) => (o.get(n) ?? 0) >= 2) && (await ready());
      },
      90_000,
      250,
    );
    expect(output.match(/Switchyard is up at/g), "one closing line for the program").to.have.length(1);
    const second = processesOf(ns, `NODE_ID=${nodeId}-2`);
    expect(second, "one process is node 2").to.have.length(1);

    // node 2 dies: the port keeps answering (node 1), and the primary starts node 2 again
    const killedAt = Date.now();
    process.kill(second[0]!, "SIGKILL");
    expect(await ready(), "node 1 answers on the shared port").to.equal(true);
    await waitFor(
      "node 2 restarted",
      () => {
        const now = processesOf(ns, `NODE_ID=${nodeId}-2`);
        return now.length === 1 && now[0] !== second[0];
      },
      30_000,
      100,
    );
    expect(output, output.slice(-3000)).to.contain('"msg":"node process died: restarting it"');
    // the new process writes its node entry and holds partitions: entries of node 2 since the kill
    await waitFor(
      "node 2 owning partitions again",
      async () => ((await owners(killedAt)).get(`${nodeId}-2`) ?? 0) >= 2,
      90_000,
      250,
    );

    npm.kill("SIGTERM");
    expect(await exited, output.slice(-3000)).to.equal(0);
    await waitFor("the port closed", async () => !(await listening(port)), 20_000, 100);
    await waitFor("every process of the program gone", () => processesOf(ns).length === 0, 20_000, 100);
    expect(output.match(/"msg":"stopped"/g)?.length, "both nodes drained").to.equal(2);
    expect(output).to.contain('"msg":"every node process stopped"');
  });
});
