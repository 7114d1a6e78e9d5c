/**
 * The receipts domain's client webhook lookup through the gateway domain's `clients.webhook`
 * action (a broker in process with a stand-in `clients` service: the shape of the call and of
 * the answer, and the 30 s cache). The real action and its caller rule are the gateway's, and
 * test/receipts/webhooks.test.ts covers the whole path.
 */
import { expect } from "chai";
import { ServiceBroker, type Context } from "moleculer";
import { cachedClientLookup, gatewayClientLookup } from "../../services/receipts/service";
import { RetryableError } from "../../lib/errors";

describe("receipts: client webhook lookup through clients.webhook", function () {
  let broker: ServiceBroker;
  const calls: string[] = [];
  const answers: Record<string, unknown> = {
    known: { url: "https://client.example/hook", secret: "whsec_x" },
    nourl: { url: null, secret: "whsec_y" },
    odd: { url: 5 },
  };

  before(async function () {
    broker = new ServiceBroker({ logger: false, transporter: null });
    broker.createService({
      name: "clients",
      actions: {
        webhook: (c: Context<{ id: string }>) => {
          calls.push(c.params.id);
          return answers[c.params.id] ?? null;
        },
      },
    });
    await broker.start();
  });
  after(() => broker.stop());

  it("answers the client's URL and secret, undefined for no such client", async function () {
    const lookup = gatewayClientLookup(() => broker);
    expect(await lookup.webhookOf("known")).to.deep.equal({ url: "https://client.example/hook", secret: "whsec_x" });
    expect(await lookup.webhookOf("nourl")).to.deep.equal({ url: null, secret: "whsec_y" });
    expect(await lookup.webhookOf("missing")).to.equal(undefined);
  });

  it("retries (RetryableError) an answer of another shape and a lookup before the service exists", async function () {
    expect(
      await gatewayClientLookup(() => broker)
        .webhookOf("odd")
        .catch((e: unknown) => e),
    ).to.be.instanceOf(RetryableError);
    expect(
      await gatewayClientLookup(() => undefined)
        .webhookOf("known")
        .catch((e: unknown) => e),
    ).to.be.instanceOf(RetryableError);
  });

  it("asks once per client within the cache's time", async function () {
    calls.length = 0;
    const lookup = cachedClientLookup(gatewayClientLookup(() => broker));
    await lookup.webhookOf("known");
    await lookup.webhookOf("known");
    await lookup.webhookOf("missing");
    await lookup.webhookOf("missing");
    expect(calls).to.deep.equal(["known", "missing"]);
  });
});
