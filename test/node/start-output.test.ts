/**
 * What `npm start` prints on a fresh namespace: a short start (no line per partition or per
 * stream), one "partitions owned" summary, and as its last line one line for a human naming
 * the URL, the docs and the first command. `GET /` leads to the docs; dev mode has seeded the
 * README's example event type, so the README's first event is accepted; the clients CLI says
 * which namespace it used.
 */
import { expect } from "chai";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { cleanupNamespace, freshNamespace, nodeEnv } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

const ROOT = path.resolve(__dirname, "..", "..");

describe("npm start output", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tso");
  let npm: ChildProcess | undefined;
  let stdout = "";
  let env: NodeJS.ProcessEnv;
  let port: number;

  before(async () => {
    const [p, tax, wh, user, erp] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    port = p;
    env = nodeEnv(ns, {
      NODE_ID: `${ns}-n1`,
      PORT: String(port),
      LOG_LEVEL: "info",
      SIM_TAX_PORT: String(tax),
      SIM_WAREHOUSE_PORT: String(wh),
      SIM_USER_PORT: String(user),
      SIM_ERP_PORT: String(erp),
    });
    delete env["EVENTS_EXAMPLE_TYPES"];
    npm = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    npm.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    npm.stderr?.on("data", (d: Buffer) => (stdout += d.toString()));
    await waitFor("the closing line", () => stdout.includes("Switchyard is up at"), 90_000, 100);
  });

  after(async () => {
    if (npm && npm.exitCode === null) {
      const exited = new Promise((resolve) => npm!.once("exit", resolve));
      npm.kill("SIGTERM");
      await exited;
    }
    await cleanupNamespace(ns);
  });

  it("ends with one line naming the URL, the docs and the first command, after a short start", async () => {
    // give anything that would still log a moment to do it
    await new Promise((r) => setTimeout(r, 1500));
    const lines = stdout.split("\n").filter((l) => l.trim().length > 0);
    const last = lines.at(-1)!;
    const url = `http://127.0.0.1:${port}`;
    expect(last, stdout.slice(-3000)).to.match(/^Switchyard is up at /);
    expect(last).to.contain(url).and.contain(`${url}/api/docs`).and.contain(`NAMESPACE=${ns}`);
    expect(last).to.contain("npm run -s clients -- create --name me --scopes");
    expect(
      lines.slice(0, -1).every((l) => l.startsWith("{")),
      "every other line is a JSON log line",
    ).to.equal(true);
    expect(lines.length, stdout).to.be.below(40);
    expect(stdout).to.not.contain("partition acquired").and.not.contain("provisioned stream");
    expect(stdout.match(/"msg":"partitions owned"/g), "one ownership summary").to.have.length(1);
    expect(stdout).to.contain('"msg":"streams provisioned"');
  });

  it("redirects GET / to the docs", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/`, { redirect: "manual" });
    expect(r.status).to.equal(302);
    expect(r.headers.get("location")).to.equal("/api/docs");
    const docs = await fetch(`http://127.0.0.1:${port}/`);
    expect(docs.status).to.equal(200);
    expect(docs.headers.get("content-type")).to.contain("text/html");
  });

  it("has seeded the README's example event types: the README's first event is accepted", async () => {
    const created = await new Promise<{ out: string; err: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(ROOT, "bin", "clients.ts"),
          "create",
          "--name",
          "me",
          "--scopes",
          "events:read,events:write",
        ],
        { cwd: ROOT, env },
        (e, out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve({ out, err })),
      ),
    );
    expect(created.err, "the CLI names its namespace").to.contain(`clients: namespace ${ns}`);
    const client = JSON.parse(created.out) as { id: string; apiKey: string };
    const auth = { Authorization: `Bearer ${client.apiKey}`, "Content-Type": "application/json" };
    const types = (await (await fetch(`http://127.0.0.1:${port}/api/v1/event-types`, { headers: auth })).json()) as {
      items: Array<{ name: string; latest: number }>;
    };
    expect(types.items.map((t) => `${t.name}@${t.latest}`)).to.include.members(["order.created@1", "order.shipped@1"]);
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        clientId: client.id,
        eventId: "e-1",
        type: "order.created",
        timestamp: new Date().toISOString(),
        data: { amount: 12.5 },
      }),
    });
    expect(r.status, await r.clone().text()).to.equal(202);
    expect(await r.json()).to.deep.equal({ accepted: 1, duplicates: 0 });
  });
});
