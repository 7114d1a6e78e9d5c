/**
 * bin/clients.ts as an operator runs it (a child process with its own connections): create
 * prints one JSON object whose key works at the gateway; suspend reaches the running gateway
 * within 5 s; rotate, list and usage errors behave.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { freshNamespace, nodeEnv } from "../support/namespace";
import { waitFor } from "../support/wait";
import { startGatewayNode, request, cleanupAll, type GatewayNode } from "./harness";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..", "..");

describe("clients CLI", function () {
  const ns = freshNamespace("tgc");
  let gw: GatewayNode;

  async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const r = await run(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "clients.ts"), ...args], {
        cwd: ROOT,
        env: nodeEnv(ns),
        timeout: 60_000,
      });
      return { ...r, code: 0 };
    } catch (err) {
      const e = err as { stdout: string; stderr: string; code: number };
      return { stdout: e.stdout, stderr: e.stderr, code: e.code };
    }
  }

  before(async function () {
    gw = await startGatewayNode({ ns, nodeId: "c1", notes: true });
  });

  after(async function () {
    await gw?.stop();
    await cleanupAll(ns);
  });

  it("create prints exactly one JSON object with id, name, scopes, apiKey, webhookSecret; the key works", async function () {
    const r = await cli(
      "create",
      "--name",
      "acme",
      "--scopes",
      "notes:read,notes:write",
      "--webhook-url",
      "https://acme.example/hooks",
    );
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).to.have.length(1);
    const c = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(c).sort()).to.deep.equal(["apiKey", "id", "name", "scopes", "webhookSecret"]);
    expect(c["scopes"]).to.deep.equal(["notes:read", "notes:write"]);
    const me = await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${String(c["apiKey"])}` } });
    expect(me.status).to.equal(200);
    expect((me.json as { webhookUrl: string }).webhookUrl).to.equal("https://acme.example/hooks");
  });

  it("suspend (from outside the cluster) reaches the running gateway within 5 s; activate and rotate work", async function () {
    const created = JSON.parse((await cli("create", "--name", "beta", "--scopes", "notes:read")).stdout) as {
      id: string;
      apiKey: string;
    };
    const auth = { authorization: `Bearer ${created.apiKey}` };
    expect((await request(`${gw.url}/api/v1/me`, { headers: auth })).status).to.equal(200);
    const s = await cli("suspend", "--id", created.id);
    expect(s.code, s.stderr).to.equal(0);
    const t0 = Date.now();
    expect((JSON.parse(s.stdout) as { status: string }).status).to.equal("suspended");
    await waitFor(
      "gateway to refuse",
      async () => (await request(`${gw.url}/api/v1/me`, { headers: auth })).status === 403,
      5000,
      25,
    );
    expect(Date.now() - t0).to.be.below(5000);
    expect((await cli("activate", "--id", created.id)).code).to.equal(0);
    await waitFor(
      "gateway to accept again",
      async () => (await request(`${gw.url}/api/v1/me`, { headers: auth })).status === 200,
      5000,
      25,
    );
    const rot = await cli("rotate", "--id", created.id, "--overlap-seconds", "0");
    expect(rot.code, rot.stderr).to.equal(0);
    const k2 = (JSON.parse(rot.stdout) as { apiKey: string }).apiKey;
    await waitFor(
      "old key refused",
      async () => (await request(`${gw.url}/api/v1/me`, { headers: auth })).status === 401,
      5000,
      25,
    );
    expect((await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${k2}` } })).status).to.equal(200);
  });

  it("list prints a page; bad usage exits 2; an unknown id exits 1 with a JSON error on stderr", async function () {
    const l = await cli("list", "--limit", "1");
    expect(l.code).to.equal(0);
    const page = JSON.parse(l.stdout) as { items: unknown[]; next: string | null };
    expect(page.items).to.have.length(1);
    expect(page.next).to.be.a("string");
    const all = JSON.parse((await cli("list", "--all")).stdout) as { items: unknown[] };
    expect(all.items.length).to.be.at.least(2);
    expect((await cli("create", "--name", "x")).code).to.equal(2);
    expect((await cli("frobnicate")).code).to.equal(2);
    const nf = await cli("suspend", "--id", "cl_aaaaaaaaaaaaaaaa");
    expect(nf.code).to.equal(1);
    expect(nf.stdout).to.equal("");
    expect(nf.stderr).to.include('"NOT_FOUND"');
    const bad = await cli("create", "--name", "x", "--scopes", "everything");
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include("VALIDATION_ERROR");
  });
});
