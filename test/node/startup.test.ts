/** `npm start` against unreachable servers: exit non-zero within 10 s with one clear line. */
import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import { nodeEnv, freshNamespace } from "../support/namespace";

const ROOT = path.resolve(__dirname, "..", "..");

function runNode(env: Record<string, string>): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "start.ts")], {
      cwd: ROOT,
      env: nodeEnv(freshNamespace(), { SERVICES: "runtime,probe", LOG_LEVEL: "silent", ...env }),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

describe("node start-up with a dependency down", function () {
  this.timeout(30_000);

  it("exits non-zero within 10 s naming the NATS URL and how to start it", async () => {
    const r = await runNode({ NATS_URL: "nats://127.0.0.1:4999" });
    expect(r.code).to.not.equal(0);
    expect(r.ms).to.be.below(10_000);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.contain("nats://127.0.0.1:4999").and.contain("nats-server -js");
  });

  it("exits non-zero within 10 s naming the Postgres URL and how to start it", async () => {
    const r = await runNode({ DATABASE_URL: "postgres://postgres:secret@127.0.0.1:5999/postgres" });
    expect(r.code).to.not.equal(0);
    expect(r.ms).to.be.below(10_000);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.contain("127.0.0.1:5999").and.contain("pg_ctlcluster").and.not.contain("secret");
  });

  it("exits with every configuration problem listed", async () => {
    const r = await runNode({ PORT: "nope", ACTOR_PARTITIONS: "0" });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("PORT").and.contain("ACTOR_PARTITIONS");
  });
});
