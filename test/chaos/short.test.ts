/**
 * The fault matrix, shortened for the suite (the full matrix is `npm run chaos`): on a real
 * 3-server NATS cluster with streams and buckets at R3, two Switchyard nodes under mixed load
 * (receipts, supporter messages, tenant events), a `kill -9` of a node: nothing accepted is lost,
 * nothing is done twice downstream, per-supporter order holds, every partition is owned again
 * within 10 s, and no request got a 500; then a `kill -9` of one NATS server (not the meta
 * leader), restarted 10 s later: again nothing lost or doubled and order kept (ownership may
 * take longer there: every lease write waits for the bucket's new stream leader).
 */
import { expect } from "chai";
import { ChaosRig } from "./rig";
import { ROWS, runRow } from "./rows";
import { problems } from "./report";

describe("fault matrix, shortened (3-server NATS cluster, R3, two nodes, mixed load)", function () {
  this.timeout(600_000);
  const rig = new ChaosRig({ nodes: 2, receiptRate: 15, supporters: 10, eventRate: 50, partitions: 8 });
  const opts = { scale: 0.5, warmMs: 5_000, afterMs: 8_000, settleMs: 120_000 };

  before(async function () {
    await rig.start();
  });
  after(async function () {
    await rig.close();
  });

  for (const name of ["node-kill", "nats-server-kill"]) {
    it(`${name}: nothing lost or doubled, order kept, partitions owned again`, async function () {
      const row = ROWS.find((r) => r.name === name)!;
      const r = await runRow(rig, row, opts);
      expect(r.accepted.receipts, "receipts accepted").to.be.greaterThan(50);
      expect(r.accepted.supporterMessages, "supporter messages accepted").to.be.greaterThan(50);
      expect(r.accepted.tenantEvents, "tenant events accepted").to.be.greaterThan(200);
      expect(problems(r), JSON.stringify(r)).to.deep.equal([]);
      expect(r.lost).to.equal(0);
      expect(r.duplicates).to.equal(0);
      expect(r.orderViolations).to.equal(0);
      if (name === "node-kill") expect(r.ownedAgainMs).to.be.a("number").and.at.most(10_000);
      // a fault shows as 503 with Retry-After (retried), never as a 500
      expect(Object.keys(r.refused).filter((k) => / 500$/.test(k))).to.deep.equal([]);
    });
  }

  it("judges a row by its counts (the check bites)", function () {
    const ok = {
      row: "node-kill",
      accepted: { receipts: 1, supporterMessages: 1, tenantEvents: 1 },
      lost: 0,
      lostDetail: {},
      duplicates: 0,
      duplicateDetail: {},
      orderViolations: 0,
      ownedAgainMs: 3_000,
      readyAgainMs: 0,
      notReadyAfterMs: null,
      backlogPeak: 0,
      catchUpMs: 0,
      refused: {},
      notes: [],
    };
    expect(problems(ok)).to.deep.equal([]);
    expect(problems({ ...ok, lost: 1, lostDetail: { receipts: 1 } })[0]).to.match(/^lost 1/);
    expect(problems({ ...ok, duplicates: 2 })[0]).to.match(/^duplicates 2/);
    expect(problems({ ...ok, orderViolations: 1 })[0]).to.match(/order violations/);
    expect(problems({ ...ok, ownedAgainMs: 12_000 })[0]).to.match(/owned again after 12000/);
    expect(problems({ ...ok, row: "postgres-stop", notReadyAfterMs: null })[0]).to.match(/readiness false after never/);
  });
});
