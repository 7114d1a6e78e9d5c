/**
 * Admission control, end to end:
 * - while more than RECEIPT_MAX_BACKLOG messages wait in the receipt actors' mailboxes, POST
 *   /receipts answers 503 with Retry-After and stores nothing; once workers drain the
 *   mailboxes, receipts are accepted again and every accepted one is registered (an API node,
 *   WORKERS=off, with no worker behind it makes the backlog);
 * - while the node's event loop is stalled past RECEIPT_MAX_LAG_MS (two windows in a row), it
 *   answers 503 with Retry-After 1 and stores nothing, and accepts again once it is calm. The
 *   gateway refuses before it authenticates the caller or reads the body (lib/admission.ts):
 *   a request with a wrong key or a broken body sent at the same moment gets the same 503,
 *   not the 401 or 422 that would cost a key lookup or a parse.
 */
import { expect } from "chai";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { connectNats, type NatsHandles } from "../../nats";
import { topology } from "../../streams/subjects";
import { receiptNames } from "../../services/receipts/streams";
import { NATS_URL, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import { isUniformError } from "../gateway/harness";
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
  renumbered,
} from "./harness";

describe("receipts: admission control on the actors' backlog", function () {
  this.timeout(120_000);
  const ns = freshNamespace("ta");
  let sims: Sims;
  let apiNode: InProcessNode;
  let worker: ChildNode | undefined;
  let h: NatsHandles;

  before(async () => {
    sims = await startSims();
    h = await connectNats(NATS_URL, `admission-${ns}`);
    apiNode = await startInProcess(
      receiptsEnv(ns, "api-1", await freePort(), sims, { WORKERS: "off", RECEIPT_MAX_BACKLOG: "3" }),
    );
  });

  after(async () => {
    await worker?.stop();
    await apiNode?.stop();
    await h?.nc.close();
    await sims?.close();
    await cleanupReceipts(ns);
  });

  it("refuses with 503 and Retry-After while the backlog is over the limit, then accepts again once it drains", async () => {
    const c = await makeClient(apiNode.node, ["receipts:read", "receipts:write"]);
    const api = `${apiNode.url}/api/v1`;
    const body = RECEIPT_TYPES[0]!.examples.json;
    const post = () =>
      call(`${api}/receipts`, c.apiKey, {
        method: "POST",
        body: renumbered(body),
        headers: { "Content-Type": "application/json" },
      });
    const accepted: string[] = [];
    // no worker: every accepted receipt stays in the mailboxes (one submit message each)
    for (let i = 0; i < 4; i++) {
      const r = await post();
      expect(r.status, r.text).to.equal(202);
      accepted.push(r.json.id as string);
    }
    const refused = await waitFor(
      "a 503",
      async () => {
        const r = await post();
        if (r.status === 202) accepted.push(r.json.id as string);
        return r.status === 503 ? r : undefined;
      },
      15_000,
      200,
    );
    expect(refused.headers.get("retry-after")).to.equal("5");
    expect(isUniformError(refused.json, "UNAVAILABLE")).to.equal(true);
    expect(refused.json.error.message).to.match(/retry later/);
    // nothing of the refused receipt was stored: the record stream holds the accepted ones only
    const info = await h.jsm.streams.info(receiptNames(ns).stream);
    expect(info.state.messages).to.equal(accepted.length);
    expect((await h.jsm.streams.info(topology(ns).actors.stream("receipt"))).state.messages).to.equal(accepted.length);

    // a worker drains the mailboxes: the gate opens and every accepted receipt is registered
    worker = await startChild(receiptsEnv(ns, "worker-1", await freePort(), sims, { PUBLIC_URL: apiNode.url }));
    const again = await waitFor(
      "a 202 again",
      async () => {
        const r = await post();
        return r.status === 202 ? r : undefined;
      },
      30_000,
      250,
    );
    accepted.push(again.json.id as string);
    for (const id of accepted) {
      await waitFor(
        `receipt ${id} ACCEPTED`,
        async () => (await call(`${api}/receipts/${id}/status`, c.apiKey)).json?.status === "ACCEPTED",
        30_000,
        100,
      );
    }
  });
});

describe("receipts: admission control on the node's event loop delay", function () {
  this.timeout(120_000);
  const ns = freshNamespace("tl");
  let sims: Sims;
  let node: InProcessNode;
  let h: NatsHandles;

  before(async () => {
    sims = await startSims();
    h = await connectNats(NATS_URL, `admission-lag-${ns}`);
    node = await startInProcess(receiptsEnv(ns, "lag-1", await freePort(), sims, { RECEIPT_MAX_LAG_MS: "20" }));
  });

  after(async () => {
    await node?.stop();
    await h?.nc.close();
    await sims?.close();
    await cleanupReceipts(ns);
  });

  it("refuses with 503 and Retry-After 1 right after the loop was stalled twice, stores nothing, then accepts again", async () => {
    const c = await makeClient(node.node, ["receipts:read", "receipts:write"]);
    const api = `${node.url}/api/v1`;
    const body = RECEIPT_TYPES[0]!.examples.json;
    const post = () =>
      call(`${api}/receipts`, c.apiKey, {
        method: "POST",
        body: renumbered(body),
        headers: { "Content-Type": "application/json" },
      });
    const first = await waitFor(
      "a 202 on a calm node",
      async () => {
        const r = await post();
        return r.status === 202 ? r : undefined;
      },
      15_000,
      100,
    );
    const accepted = [first.json.id as string];
    // The node shares this process: stalling it is what a saturated CPU looks like to it. Two
    // stalls, each read as one slow window, make the two windows in a row that close the gate
    // (should a 202 slip in first, stall again).
    const stall = (): void => {
      const until = Date.now() + 400;
      while (Date.now() < until) {
        // busy
      }
    };
    let refused = first;
    let wrongKey = first;
    let brokenBody = first;
    for (let attempt = 0; attempt < 3; attempt++) {
      stall();
      await new Promise((r) => setTimeout(r, 0)); // the gauge reads the first stall's window
      stall();
      [refused, wrongKey, brokenBody] = await Promise.all([
        post(),
        call(`${api}/receipts`, "sk_not_a_key", {
          method: "POST",
          body: renumbered(body),
          headers: { "Content-Type": "application/json" },
        }),
        call(`${api}/receipts`, c.apiKey, {
          method: "POST",
          body: "{not json",
          headers: { "Content-Type": "application/json" },
        }),
      ]);
      if (refused.status !== 202) break;
      accepted.push(refused.json.id as string);
    }
    expect(refused.status, refused.text).to.equal(503);
    // the same moment's other requests were refused by the same gate, before auth and parsing
    expect([wrongKey.status, brokenBody.status], `${wrongKey.text} ${brokenBody.text}`).to.deep.equal([503, 503]);
    expect(refused.headers.get("retry-after")).to.equal("1");
    expect(isUniformError(refused.json, "UNAVAILABLE")).to.equal(true);
    expect(refused.json.error.message).to.match(/overloaded \(event loop delay \d+ ms, limit 20 ms\)/);
    // once a calm window has been read, receipts are accepted and registered again
    const again = await waitFor(
      "a 202 again",
      async () => {
        const r = await post();
        return r.status === 202 ? r : undefined;
      },
      15_000,
      100,
    );
    accepted.push(again.json.id as string);
    for (const id of accepted) {
      await waitFor(
        `receipt ${id} ACCEPTED`,
        async () => (await call(`${api}/receipts/${id}/status`, c.apiKey)).json?.status === "ACCEPTED",
        30_000,
        100,
      );
    }
    // nothing of the refused receipts was stored: the client's list holds the accepted ones only
    // (the stream is no witness here: its worker consumes records and adds status updates)
    const listed = await waitFor(
      "the accepted receipts in the list",
      async () => {
        const r = await call(`${api}/receipts?limit=100`, c.apiKey);
        const ids = ((r.json?.items ?? []) as { id: string }[]).map((i) => i.id);
        return ids.length >= accepted.length ? ids : undefined;
      },
      30_000,
      200,
    );
    expect([...listed].sort()).to.deep.equal([...accepted].sort());
  });
});
