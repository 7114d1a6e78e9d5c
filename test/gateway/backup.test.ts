/**
 * The backup gateway (`npm run gateway:backup`) through real processes, HTTP, NATS, Postgres and
 * Redis: a worker node hosts the receipts domain; the primary gateway (a child process, API
 * only) serves the public port; the backup (another child process, gateway domain only) idles.
 * `kill -9` of the primary: the backup serves the port within 5 s; the requests in the gap fail
 * cleanly (connection refused, or 503 with Retry-After) and a retry with the same
 * Idempotency-Key makes one receipt. The primary started again gets its port back.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { freshNamespace, nodeEnv } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { testLogDir } from "../support/log-dir";
import { startChild, startInProcess, type ChildNode, type InProcessNode } from "../support/node";
import { call } from "../support/http";
import { makeClient, receiptsEnv, renumbered, startSims, type Sims } from "../receipts/harness";
import { cleanupAll } from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");

/** Starts `npm run gateway:backup`'s entry point as a child process with `env`. */
function startBackupProcess(env: Record<string, string>): ChildProcess {
  const dir = testLogDir();
  mkdirSync(dir, { recursive: true });
  const log = createWriteStream(path.join(dir, `${env["NAMESPACE"]}-backup.log`), { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "gateway-backup.ts")], {
    cwd: ROOT,
    env: nodeEnv(env["NAMESPACE"]!, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** One POST of a receipt to `url`: the answer, or the connection error's code. */
async function postReceipt(
  url: string,
  key: string,
  body: string,
  idem: string,
): Promise<{ status: number; retryAfter: string | null; json: any } | { error: string }> {
  try {
    const r = await call(`${url}/api/v1/receipts`, key, {
      method: "POST",
      body,
      headers: { "Content-Type": "application/xml", "Idempotency-Key": idem },
    });
    return { status: r.status, retryAfter: r.headers.get("retry-after"), json: r.json };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? String(err) };
  }
}

describe("gateway: the backup takes over from a killed primary", function () {
  this.timeout(300_000);
  const ns = freshNamespace("tgb");
  let sims: Sims;
  let worker: InProcessNode;
  let primary: ChildNode | undefined;
  let backup: ChildProcess | undefined;
  let port: number;
  const gw = { GATEWAY_HEARTBEAT_MS: "200", GATEWAY_HEARTBEAT_TIMEOUT_MS: "1500" };

  before(async function () {
    sims = await startSims();
    port = await freePort();
    worker = await startInProcess(receiptsEnv(ns, `${ns}-worker`, await freePort(), sims));
    primary = await startChild(
      receiptsEnv(ns, `${ns}-primary`, port, sims, { ...gw, SERVICES: "gateway", WORKERS: "off" }),
      `${ns}-primary`,
    );
    backup = startBackupProcess({
      ...receiptsEnv(ns, `${ns}-backup`, port, sims, gw),
      NODE_ID: `${ns}-backup`,
    });
    await waitFor(
      "the backup joined the cluster",
      () => worker.node.broker.registry.getNodeList({ onlyAvailable: true }).some((n) => n.id === `${ns}-backup`),
      60_000,
      200,
    );
  });
  after(async function () {
    backup?.kill("SIGKILL");
    await primary?.stop("SIGKILL");
    await worker?.stop();
    await sims?.close();
    await cleanupAll(ns);
  });

  it("serves within 5 s of kill -9, refuses cleanly in the gap, loses no retried request, and hands the port back", async function () {
    const url = `http://127.0.0.1:${port}`;
    const c = await makeClient(worker.node, ["receipts:read", "receipts:write"]);
    const example = RECEIPT_TYPES[2]!.examples.xml;
    const before = await postReceipt(url, c.apiKey, renumbered(example), `pre-${ns}`);
    expect(before).to.have.property("status", 202);
    // the backup idles: the primary answers (its metrics say it is no serving backup)
    expect((await call(`${url}/metrics`, null)).text).to.not.match(/^gateway_backup_serving 1$/m);

    const body = renumbered(example);
    const idem = `gap-${ns}`;
    await primary!.stop("SIGKILL");
    const killedAt = Date.now();
    const gap: string[] = [];
    let first: { status: number; json: any } | undefined;
    while (Date.now() - killedAt < 15_000) {
      const r = await postReceipt(url, c.apiKey, body, idem);
      if ("error" in r) gap.push(r.error);
      else if (r.status === 503) {
        expect(r.retryAfter, "a 503 says when to retry").to.match(/^[0-9]+$/);
        gap.push("503");
      } else {
        first = r;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    const tookMs = Date.now() - killedAt;
    expect(first, `no answer within 15 s; gap: ${gap.slice(-3).join(", ")}`).to.not.equal(undefined);
    expect(tookMs, "the backup serves within 5 s").to.be.below(5000);
    expect(gap.length).to.be.greaterThan(0);
    expect(
      gap.every((g) => g === "ECONNREFUSED" || g === "503" || g === "ECONNRESET"),
      gap.join(","),
    ).to.equal(true);
    expect(first!.status).to.equal(202);
    // the same request again: the same receipt, not a second one
    const again = await postReceipt(url, c.apiKey, body, idem);
    expect(again).to.have.property("status", 202);
    expect((again as { json: any }).json.id).to.equal(first!.json.id);
    const status = await call(`${url}/api/v1/receipts/${first!.json.id}/status`, c.apiKey);
    expect(status.status, status.text).to.equal(200);
    const metrics = await call(`${url}/metrics`, null);
    expect(metrics.text).to.match(/^gateway_backup_serving 1$/m);

    // the primary comes back: the backup lets go of the port and the primary serves it
    primary = await startChild(
      receiptsEnv(ns, `${ns}-primary2`, port, sims, { ...gw, SERVICES: "gateway", WORKERS: "off" }),
      `${ns}-primary2`,
    );
    await waitFor(
      "the primary serving its port again",
      async () => !/^gateway_backup_serving 1$/m.test((await call(`${url}/metrics`, null)).text),
      // a node start takes tens of seconds on a loaded machine (the backup serves meanwhile)
      120_000,
      200,
    );
    const after = await postReceipt(url, c.apiKey, body, idem);
    expect(after).to.have.property("status", 202);
    expect((after as { json: any }).json.id).to.equal(first!.json.id);
    // eslint-disable-next-line no-console
    console.log(`      backup served ${tookMs} ms after kill -9 (${gap.length} refused attempts in the gap)`);
  });
});
