import { expect } from "chai";
import { loadConfig, ConfigError } from "../../node/config";
import { DEV_CLUSTER_SECRET } from "../../config";

describe("config", () => {
  it("has working local defaults", () => {
    const c = loadConfig({});
    expect(c.natsUrl).to.equal("nats://127.0.0.1:4222");
    expect(c.namespace).to.equal("sy");
    expect(c.services).to.include("runtime");
    expect(c.actors.partitions).to.equal(32);
    expect(c.workers).to.equal(true);
  });
  it("reads and validates variables", () => {
    const c = loadConfig({
      NATS_URL: "nats://a:4222,nats://b:4222",
      PORT: "3001",
      SERVICES: "runtime,probe",
      NODE_ID: "n-1",
      WORKERS: "off",
    });
    expect(c.workers).to.equal(false);
    expect(c.natsUrl).to.equal("nats://a:4222,nats://b:4222");
    expect(c.port).to.equal(3001);
    expect(c.services).to.deep.equal(["runtime", "probe"]);
  });
  it("still accepts a renamed domain's former SERVICES name, as the new one", () => {
    const c = loadConfig({ SERVICES: "runtime,events,tenant-events" });
    expect(c.services).to.deep.equal(["runtime", "tenant-events"]);
    // outside dev mode the alias is held to the same secrets as the name it stands for
    expect(() => loadConfig({ NODE_ENV: "production", SERVICES: "events" }))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.satisfies((p: string[]) => p.some((l) => /EVENTS_DATA_KEYS is required/.test(l)));
  });
  it("reports every problem at once, one line each", () => {
    try {
      loadConfig({
        NATS_URL: "http://x",
        PORT: "70000",
        SERVICES: "runtime,nope",
        NAMESPACE: "Bad NS",
        LOG_LEVEL: "loud",
      });
      expect.fail("should throw");
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems.length).to.be.at.least(5);
      expect(problems.join("\n"))
        .to.match(/NATS_URL/)
        .and.match(/PORT/)
        .and.match(/SERVICES contains unknown "nope"/)
        .and.match(/NAMESPACE/)
        .and.match(/LOG_LEVEL/);
    }
  });
  it("uses the dev CLUSTER_SECRET in dev mode only: outside it the secret is required, not the dev one, 32+ characters", () => {
    const dev = loadConfig({});
    expect(dev.cluster).to.deep.equal({ secret: DEV_CLUSTER_SECRET, devSecret: true });
    const own = "a-cluster-secret-of-our-own-0123456789";
    expect(loadConfig({ CLUSTER_SECRET: own }).cluster).to.deep.equal({ secret: own, devSecret: false });
    // SERVICES=runtime: no other domain's secrets are needed, so only the cluster secret is at stake.
    const prod = { NODE_ENV: "production", SERVICES: "runtime" };
    expect(loadConfig({ ...prod, CLUSTER_SECRET: own }).cluster.secret).to.equal(own);
    const problem = (env: Record<string, string>): string => {
      try {
        loadConfig(env);
        return "accepted";
      } catch (err) {
        return (err as ConfigError).problems.join("\n");
      }
    };
    expect(problem(prod)).to.match(/CLUSTER_SECRET is required outside dev mode/);
    expect(problem({ ...prod, CLUSTER_SECRET: DEV_CLUSTER_SECRET })).to.match(
      /CLUSTER_SECRET is the well-known development secret/,
    );
    expect(problem({ ...prod, CLUSTER_SECRET: "short" })).to.match(/CLUSTER_SECRET is invalid/);
    expect(problem({ ...prod, DEV_MODE: "true" })).to.equal("accepted");
  });
});
