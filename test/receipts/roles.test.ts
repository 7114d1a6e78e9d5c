/**
 * An API node (WORKERS=off) in front of a worker node: the API node takes receipts, callbacks
 * and reads but hosts no actors, jobs or writers; the worker node does all of that. A receipt
 * submitted to the API node reaches ACCEPTED and Postgres, and the API node owns no partition.
 */
import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  cleanupReceipts,
  freePort,
  makeClient,
  receiptsEnv,
  startChild,
  startInProcess,
  startSims,
  type ChildNode,
  type InProcessNode,
  type Sims,
} from "./harness";

describe("receipts: an API node in front of a worker node", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tr");
  let sims: Sims;
  let apiNode: InProcessNode;
  let worker: ChildNode;

  before(async () => {
    sims = await startSims();
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    apiNode = await startInProcess(receiptsEnv(ns, "api-1", apiPort, sims, { WORKERS: "off" }));
    // the worker's callback links point at the API node, where the services' callbacks arrive
    worker = await startChild(receiptsEnv(ns, "worker-1", await freePort(), sims, { PUBLIC_URL: apiUrl }));
  });

  after(async () => {
    await worker?.stop();
    await apiNode?.stop();
    await sims?.close();
    await cleanupReceipts(ns);
  });

  it("hosts nothing on the API node and still serves the whole receipt flow through it", async () => {
    expect(apiNode.node.runtime.ownedPartitions()).to.equal(0);
    expect(apiNode.node.runtime.isReady()).to.equal(true);
    sims.tax.setConfig({ mode: "async", callbackDelayMs: { min: 20, max: 50 } });
    const c = await makeClient(apiNode.node, ["receipts:read", "receipts:write"]);
    const api = `${apiNode.url}/api/v1`;
    const ids: string[] = [];
    for (const t of RECEIPT_TYPES) {
      const r = await call(`${api}/receipts`, c.apiKey, {
        method: "POST",
        body: t.examples.xml,
        headers: { "Content-Type": "application/xml" },
      });
      expect(r.status, r.text).to.equal(202);
      ids.push(r.json.id as string);
    }
    for (const id of ids) {
      const s = await waitFor(
        `receipt ${id} ACCEPTED`,
        async () => {
          const a = await call(`${api}/receipts/${id}/status`, c.apiKey);
          return a.json?.status === "ACCEPTED" ? a.json : undefined;
        },
        30_000,
        100,
      );
      expect(s.steps.tax.reference).to.match(/^TAX-/);
      expect(s.steps.warehouse.reference).to.match(/^WAR-/);
    }
    // the worker's Postgres writer stored them; the API node lists them
    const listed = await waitFor(
      "receipts listed",
      async () => {
        const l = await call(`${api}/receipts?status=ACCEPTED`, c.apiKey);
        return l.json?.items?.length === ids.length ? l.json.items : undefined;
      },
      30_000,
      200,
    );
    expect(listed.map((i: { id: string }) => i.id).sort()).to.deep.equal([...ids].sort());
    expect(apiNode.node.runtime.ownedPartitions()).to.equal(0);
  });
});
