/**
 * Issue 11, item 1: forged registration callbacks in production.
 *   - Outside dev mode a node hosting receipts refuses to start without TAX_CALLBACK_SECRET and
 *     WAREHOUSE_CALLBACK_SECRET, or with the well-known development secrets in them (loadConfig,
 *     and bin/start.ts as a child process: non-zero exit, the variables named on stderr).
 *   - A production node (real secrets) refuses a callback signed with the dev secret: 401 in the
 *     one error shape, the REGISTERING receipt unchanged; a callback signed with the real secret
 *     still completes the registration.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { ConfigError, loadConfig } from "../../node/config";
import { DEV_CALLBACK_SECRETS } from "../../services/receipts/config";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { signWebhook } from "../../services/receipts/webhooks";
import { freshNamespace, nodeEnv } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  startInProcess,
  startSims,
  type InProcessNode,
  type Sims,
} from "../receipts/harness";

const ROOT = path.resolve(__dirname, "..", "..");
const newSecret = (): string => `whsec_${randomBytes(24).toString("base64")}`;

/** What loadConfig reports for `env`, one problem a line ("" when it accepts it). */
function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return "";
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.join("\n");
    throw err;
  }
}

/** Runs bin/start.ts with `env` until it exits (or 60 s); its exit code and stderr. */
function runStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bin", "start.ts")], {
      cwd: ROOT,
      env: nodeEnv(env["NAMESPACE"]!, env),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bin/start.ts did not exit within 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A master key for production-mode nodes of this test (secrets at rest are sealed with it). */
const TEST_MASTER_KEY = Buffer.alloc(32, 11).toString("base64");
/** The cluster secret of those nodes (every Moleculer call is signed with it). */
const TEST_CLUSTER_SECRET = "callbacks-test-cluster-secret-0123456789abcdef";
describe("security: registration callback secrets (issue 11, item 1)", function () {
  this.timeout(90_000);

  describe("production start without callback secrets", () => {
    // production with every other secret of these services set, so the callback secrets are what is checked
    const prod = {
      NODE_ENV: "production",
      SERVICES: "runtime,gateway,receipts",
      TAX_CALLBACK_SECRET: "",
      WAREHOUSE_CALLBACK_SECRET: "",
      MASTER_KEYS: TEST_MASTER_KEY,
      CLUSTER_SECRET: TEST_CLUSTER_SECRET,
    };

    it("loadConfig refuses a receipts node without them, naming both variables", () => {
      const problems = problemsOf(prod);
      expect(problems)
        .to.match(/TAX_CALLBACK_SECRET/)
        .and.match(/WAREHOUSE_CALLBACK_SECRET/)
        .and.match(/required outside dev mode/);
      // one of the two is not enough
      expect(problemsOf({ ...prod, TAX_CALLBACK_SECRET: newSecret() })).to.match(/WAREHOUSE_CALLBACK_SECRET/);
    });

    it("loadConfig refuses the well-known development secrets outside dev mode", () => {
      const problems = problemsOf({
        ...prod,
        TAX_CALLBACK_SECRET: DEV_CALLBACK_SECRETS.tax,
        WAREHOUSE_CALLBACK_SECRET: DEV_CALLBACK_SECRETS.warehouse,
      });
      expect(problems).to.match(/TAX_CALLBACK_SECRET is the well-known development secret/);
      expect(problems).to.match(/WAREHOUSE_CALLBACK_SECRET is the well-known development secret/);
      // and the refusal never echoes a secret
      expect(problems).to.not.contain(DEV_CALLBACK_SECRETS.tax.slice(6));
    });

    it("accepts real secrets in production, and dev mode keeps the dev defaults", () => {
      const tax = newSecret();
      const warehouse = newSecret();
      const c = loadConfig({ ...prod, TAX_CALLBACK_SECRET: tax, WAREHOUSE_CALLBACK_SECRET: warehouse });
      expect(c.receipts).to.deep.include({
        taxCallbackSecret: tax,
        warehouseCallbackSecret: warehouse,
        devCallbackSecrets: false,
      });
      const dev = loadConfig({ SERVICES: "runtime,gateway,receipts" });
      expect(dev.receipts).to.deep.include({
        taxCallbackSecret: DEV_CALLBACK_SECRETS.tax,
        warehouseCallbackSecret: DEV_CALLBACK_SECRETS.warehouse,
        devCallbackSecrets: true,
      });
      // a production node that does not host receipts verifies no callbacks and needs no secrets
      expect(
        problemsOf({ NODE_ENV: "production", SERVICES: "runtime,probe", CLUSTER_SECRET: TEST_CLUSTER_SECRET }),
      ).to.equal("");
    });

    it("bin/start.ts exits non-zero with a message naming both variables", async () => {
      const ns = freshNamespace("scs");
      const r = await runStart({ ...prod, NAMESPACE: ns, NODE_ID: `${ns}-start`, PORT: String(await freePort()) });
      expect(r.code, r.stderr).to.not.equal(0);
      expect(r.code, r.stderr).to.not.equal(null);
      expect(r.stderr)
        .to.match(/TAX_CALLBACK_SECRET/)
        .and.match(/WAREHOUSE_CALLBACK_SECRET/);
    });
  });

  describe("a production node", () => {
    const ns = freshNamespace("scb");
    const secrets = { tax: newSecret(), warehouse: newSecret() };
    let sims: Sims;
    let node: InProcessNode;
    let api: string;
    let key: string;

    const statusOf = async (id: string): Promise<any> => (await call(`${api}/receipts/${id}/status`, key)).json;
    const postCallback = (secret: string, webhookId: string, body: string) =>
      call(`${api}/callbacks/tax`, null, {
        method: "POST",
        body,
        headers: { "Content-Type": "application/json", ...signWebhook(secret, webhookId, body, Date.now()) },
      });

    before(async () => {
      sims = await startSims(secrets);
      const port = await freePort();
      node = await startInProcess(
        receiptsEnv(ns, "scb-1", port, sims, {
          NODE_ENV: "production",
          TAX_CALLBACK_SECRET: secrets.tax,
          WAREHOUSE_CALLBACK_SECRET: secrets.warehouse,
          MASTER_KEYS: TEST_MASTER_KEY,
          CLUSTER_SECRET: TEST_CLUSTER_SECRET,
        }),
      );
      expect(node.node.ctx.config.devMode).to.equal(false);
      api = `${node.url}/api/v1`;
      key = (await makeClient(node.node, ["receipts:read", "receipts:write"])).apiKey;
    });

    after(async () => {
      await node?.stop();
      await sims?.close();
      await cleanupReceipts(ns);
    });

    it("refuses a callback signed with the dev secret and leaves the receipt as it was; the real one still works", async () => {
      // the tax service answers 202 and its callback is lost: the receipt waits for it
      sims.tax.setConfig({ mode: "async", dropCallbackRate: 1, callbackDelayMs: { min: 1, max: 5 } });
      const r = await call(`${api}/receipts`, key, {
        method: "POST",
        body: RECEIPT_TYPES[0]!.examples.json,
        headers: { "Content-Type": "application/json" },
      });
      expect(r.status, r.text).to.equal(202);
      const id: string = r.json.id;
      const waiting = await waitFor(
        "receipt awaiting the tax callback",
        async () => {
          const s = await statusOf(id);
          return s?.status === "REGISTERING" &&
            s.steps.tax.state === "awaiting-callback" &&
            s.steps.warehouse.state === "registered"
            ? s
            : undefined;
        },
        20_000,
      );

      const forged = JSON.stringify({ receiptId: id, status: "rejected", reason: "forged by an attacker" });
      const refused = await postCallback(DEV_CALLBACK_SECRETS.tax, "msg_forged_1", forged);
      expect(refused.status, refused.text).to.equal(401);
      expect(refused.json.error.code).to.equal("INVALID_SIGNATURE");
      expect(refused.json.error.message).to.be.a("string");
      expect(refused.json.error.requestId).to.be.a("string");
      const unchanged = await statusOf(id);
      expect(unchanged.status).to.equal("REGISTERING");
      expect(unchanged.steps.tax).to.deep.equal(waiting.steps.tax);

      // the real service's callback: per key, messages are handled in order, so had the forged
      // one reached the actor the receipt would be REJECTED (final) before this is handled
      const registrationId = sims.tax.book.counts(id)?.registrationId;
      expect(registrationId).to.be.a("string");
      const real = JSON.stringify({ receiptId: id, status: "registered", registrationId });
      const ok = await postCallback(secrets.tax, "msg_real_1", real);
      expect(ok.status, ok.text).to.equal(200);
      const done = await waitFor(
        "receipt ACCEPTED",
        async () => {
          const s = await statusOf(id);
          return s?.status === "ACCEPTED" ? s : undefined;
        },
        20_000,
      );
      expect(done.reason).to.equal(null);
      expect(done.steps.tax).to.deep.include({ state: "registered", reference: registrationId, lastError: null });
    });
  });
});
