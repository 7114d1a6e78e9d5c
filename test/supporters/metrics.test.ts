/**
 * The supporters' delivery metrics at /metrics: deliveries by downstream (user, erp) and
 * outcome (delivered, refused), and the time of each attempt.
 */
import { expect } from "chai";
import { cleanupNamespace, freshNamespace } from "../support/namespace";
import { waitFor } from "../support/wait";
import {
  call,
  freePort,
  makeClient,
  payloadOf,
  startInProcess,
  startSims,
  supportersEnv,
  type InProcessNode,
  type Sims,
} from "./harness";
import { deliveredCount } from "./checks";

/** The value of one sample of the Prometheus text `text`, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2]!.split(",").sort();
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

describe("supporters: delivery metrics", function () {
  this.timeout(60_000);
  const ns = freshNamespace("tsm");
  let sims: Sims;
  let node: InProcessNode;

  before(async () => {
    sims = await startSims();
    node = await startInProcess(
      supportersEnv(ns, "m1", await freePort(), sims, { SERVICES: "runtime,gateway,supporters" }),
    );
  });

  after(async () => {
    await node?.stop();
    await sims?.close();
    await cleanupNamespace(ns);
  });

  it("counts deliveries by downstream and outcome, and times them", async () => {
    const writer = await makeClient(node.node, ["supporters:write"]);
    const post = (body: unknown) =>
      call(`${node.url}/api/v1/supporter-events`, writer.apiKey, { method: "POST", body: JSON.stringify(body) });
    expect((await post(payloadOf(1, 0, "giftaid"))).status).to.equal(202);
    const refused = {
      ...payloadOf(2, 0, "giftaid"),
      events: [{ type: "test.event", occurredAt: "2025-01-01T00:00:00Z", data: { note: "SIM-REJECT" } }],
    };
    expect((await post(refused)).status).to.equal(202);
    const metrics = async (): Promise<string> => (await fetch(`${node.url}/metrics`)).text();
    const name = "switchyard_supporters_deliveries_total";
    const text = await waitFor(
      "deliveries counted",
      async () => {
        const t = await metrics();
        return sample(t, name, { downstream: "erp", outcome: "refused" }) >= 1 &&
          sample(t, name, { downstream: "erp", outcome: "delivered" }) >= 1
          ? t
          : null;
      },
      30_000,
      200,
    );
    // both identities reached the user service; one ERP call refused (the marker), one delivered
    expect(sample(text, name, { downstream: "user", outcome: "delivered" })).to.equal(2);
    expect(sample(text, name, { downstream: "erp", outcome: "delivered" })).to.equal(1);
    expect(sample(text, name, { downstream: "erp", outcome: "refused" })).to.equal(1);
    expect(sample(text, name, { downstream: "user", outcome: "refused" })).to.equal(0);
    expect(deliveredCount(sims)).to.deep.equal({ user: 2, erp: 1 });
    expect(sample(text, "switchyard_supporters_delivery_seconds_count", { downstream: "erp" })).to.equal(2);
    expect(text).to.contain("# TYPE switchyard_supporters_deliveries_total counter");
  });
});
