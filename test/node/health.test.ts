/**
 * A node as `npm start` runs it: /health/ready turns 200 once streams are provisioned and every
 * partition has an owner; SIGTERM drains it, exits 0 and releases its leases.
 */
import { expect } from "chai";
import { TestCluster } from "../support/cluster";
import { cleanupNamespace, freshNamespace } from "../support/namespace";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

describe("node health and shutdown", function () {
  this.timeout(60_000);
  let ns: string;
  let cluster: TestCluster;

  beforeEach(async () => {
    ns = freshNamespace();
    cluster = new TestCluster(ns, { ACTOR_PARTITIONS: "8" });
    await cluster.connect();
  });

  afterEach(async () => {
    await cluster.close();
    await cleanupNamespace(ns);
  });

  it("answers /health/ready 200 once partitions are owned, and releases its leases on SIGTERM", async () => {
    const port = await freePort();
    cluster.startNode("h1", { SERVICES: "runtime,probe,gateway", PORT: String(port) });
    const live = await waitFor(
      "/health/live",
      async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).status === 200,
      30_000,
      100,
    );
    expect(live).to.equal(true);
    const ready = await waitFor(
      "/health/ready 200",
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/health/ready`);
        return r.status === 200 ? r : null;
      },
      30_000,
      100,
    );
    expect(ready.status).to.equal(200);
    expect((await cluster.leases("probe", 8)).size).to.equal(8);

    const code = await cluster.stopNode("h1", "SIGTERM");
    expect(code).to.equal(0);
    expect((await cluster.leases("probe", 8)).size, "leases left after drain").to.equal(0);
  });
});
