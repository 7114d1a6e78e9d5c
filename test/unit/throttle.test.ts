/**
 * Pure parts of the gateway's throttling (issue 11, item 7): in-memory token buckets, the
 * caller's IP behind trusted proxies, the per-IP limits, the negative credential cache and the
 * settings. No servers: the end-to-end behaviour is in test/security/throttle.test.ts.
 */
import { expect } from "chai";
import { createTokenBuckets } from "../../lib/token-buckets";
import { clientIp, createProxyList, ipKey, normalizeIp, proxyItemProblem } from "../../gateway/client-ip";
import { createIpThrottle } from "../../gateway/throttle";
import { createCredentialCache, type CacheLayer } from "../../services/gateway/clients/cache";
import type { ClientEntry, KeyEntry } from "../../services/gateway/clients/types";
import { decodeClientChange } from "../../services/gateway/clients/notices";
import { credentialCacheMac } from "../../services/gateway/clients/cache-entry";
import { createKeyring } from "../../lib/sealed";
import { DEV_MASTER_KEY } from "../../config";
import { loadConfig, ConfigError } from "../../node/config";

describe("token buckets (in memory)", () => {
  const limit = { perSec: 2, burst: 3 };

  it("takes up to the burst, then refuses with the time until a token is back, and refills", () => {
    let t = 1000;
    const b = createTokenBuckets({ maxKeys: 10, now: () => t });
    expect([1, 2, 3, 4].map(() => b.take("a", limit).allowed)).to.deep.equal([true, true, true, false]);
    expect(b.take("a", limit).retryAfterMs).to.equal(500);
    expect(b.take("other", limit).allowed).to.equal(true);
    t += 500;
    expect(b.take("a", limit).allowed).to.equal(true);
    expect(b.take("a", limit).allowed).to.equal(false);
  });

  it("peek takes nothing; charge goes into debt (down to -burst) that must be paid back", () => {
    let t = 0;
    const b = createTokenBuckets({ maxKeys: 10, now: () => t });
    for (let i = 0; i < 10; i++) expect(b.peek("a", limit).allowed).to.equal(true);
    for (let i = 0; i < 10; i++) b.charge("a", limit);
    const d = b.peek("a", limit);
    expect(d.allowed).to.equal(false);
    // at -3 (the floor), 4 tokens to one: 2 s at 2/s
    expect(d.retryAfterMs).to.equal(2000);
    t += 1999;
    expect(b.peek("a", limit).allowed).to.equal(false);
    t += 1;
    expect(b.peek("a", limit).allowed).to.equal(true);
  });

  it("holds at most maxKeys buckets, forgetting the least recently used", () => {
    const b = createTokenBuckets({ maxKeys: 2, now: () => 0 });
    for (let i = 0; i < 3; i++) b.take("a", limit);
    b.take("b", limit);
    b.take("a", limit); // a is now the most recent
    b.take("c", limit); // b goes
    expect(b.size()).to.equal(2);
    expect(b.take("a", limit).allowed).to.equal(false);
  });
});

describe("the caller's IP", () => {
  const proxies = createProxyList(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
  const none = createProxyList([]);

  it("is the socket's address unless that is a trusted proxy", () => {
    expect(clientIp("203.0.113.5", "198.51.100.1", proxies)).to.equal("203.0.113.5");
    expect(clientIp("::ffff:127.0.0.1", "198.51.100.1", none)).to.equal("127.0.0.1");
    expect(clientIp("127.0.0.1", undefined, proxies)).to.equal("127.0.0.1");
  });

  it("behind trusted proxies, is the right-most address that is not one", () => {
    expect(clientIp("127.0.0.1", "198.51.100.1", proxies)).to.equal("198.51.100.1");
    // a client-sent (spoofed) left part is not believed
    expect(clientIp("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", proxies)).to.equal("198.51.100.1");
    expect(clientIp("::ffff:10.0.0.9", ["6.6.6.6", "198.51.100.2:4711"], proxies)).to.equal("198.51.100.2");
    expect(clientIp("127.0.0.1", "[2001:db8::1]:443", proxies)).to.equal("2001:db8::1");
    expect(clientIp("127.0.0.1", "10.0.0.1, 10.0.0.2", proxies)).to.equal("10.0.0.1");
  });

  it("stops at the trusted hop that passed on garbage", () => {
    expect(clientIp("127.0.0.1", "198.51.100.1, not-an-ip", proxies)).to.equal("127.0.0.1");
    expect(clientIp("127.0.0.1", "garbage, 10.0.0.7", proxies)).to.equal("10.0.0.7");
  });

  it("counts IPv6 per /64, IPv4 per address", () => {
    expect(ipKey("2001:db8:1:2:aaaa::1")).to.equal(ipKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"));
    expect(ipKey("2001:db8:1:2::1")).to.not.equal(ipKey("2001:db8:1:3::1"));
    expect(ipKey("2001:0db8:0000:0002::1")).to.equal("2001:db8:0:2::/64");
    expect(ipKey("::1")).to.equal("0:0:0:0::/64");
    expect(ipKey("203.0.113.5")).to.equal("203.0.113.5");
    expect(normalizeIp("FE80::1%eth0")).to.equal("fe80::1");
    expect(normalizeIp("nope")).to.equal(undefined);
  });

  it("validates TRUSTED_PROXIES items", () => {
    expect(proxyItemProblem("10.0.0.0/8")).to.equal(undefined);
    expect(proxyItemProblem("::1")).to.equal(undefined);
    expect(proxyItemProblem("10.0.0.0/33")).to.match(/prefix/);
    expect(proxyItemProblem("example.com")).to.match(/not an IP/);
  });
});

describe("per-IP limits", () => {
  it("counts only failed authentications, and every token exchange", () => {
    const t = 0;
    const th = createIpThrottle({ unauthenticated: { perSec: 1, burst: 2 }, token: { perSec: 1, burst: 2 } }, () => t);
    for (let i = 0; i < 5; i++) expect(th.mayAuthenticate("198.51.100.1").allowed).to.equal(true);
    th.failedAuthentication("198.51.100.1");
    th.failedAuthentication("198.51.100.1");
    expect(th.mayAuthenticate("198.51.100.1").allowed).to.equal(false);
    expect(th.mayAuthenticate("198.51.100.2").allowed).to.equal(true);
    expect([1, 2, 3].map(() => th.tokenExchange("198.51.100.1").allowed)).to.deep.equal([true, true, false]);
  });

  it("a perSec of 0 turns a limit off", () => {
    const th = createIpThrottle({ unauthenticated: { perSec: 0, burst: 1 }, token: { perSec: 0, burst: 1 } });
    for (let i = 0; i < 5; i++) th.failedAuthentication("198.51.100.1");
    expect(th.mayAuthenticate("198.51.100.1").allowed).to.equal(true);
    expect([1, 2, 3].every(() => th.tokenExchange("198.51.100.1").allowed)).to.equal(true);
  });
});

describe("negative credential cache", () => {
  function setup(opts: { negativeTtlMs?: number; negativeMax?: number } = {}) {
    const keys = new Map<string, KeyEntry>();
    const queries: string[] = [];
    const layers: CacheLayer[] = [];
    const store = {
      findKey: async (id: string) => {
        queries.push(id);
        return keys.get(id);
      },
      findClient: async (id: string): Promise<ClientEntry | undefined> => {
        queries.push(id);
        return undefined;
      },
    };
    const cache = createCredentialCache({
      store,
      mac: credentialCacheMac(createKeyring([DEV_MASTER_KEY])),
      namespace: "t",
      ttlMs: 1,
      negativeTtlMs: 60_000,
      ...opts,
      onLookup: (l) => layers.push(l),
    });
    return { keys, queries, layers, cache };
  }
  const entry = (keyId: string): KeyEntry => ({
    keyId,
    clientId: "cl_aaaaaaaaaaaaaaaa",
    hash: "00",
    expiresAt: null,
    version: 1,
  });

  it("asks the store once for an unknown id, however often and long after the entries' TTL it comes back", async () => {
    const { queries, layers, cache } = setup();
    for (let i = 0; i < 20; i++) {
      expect(await cache.key("0123456789abcdef")).to.equal(undefined);
      await new Promise((r) => setImmediate(r));
    }
    expect(queries).to.deep.equal(["0123456789abcdef"]);
    expect(layers.filter((l) => l === "negative").length).to.equal(19);
  });

  it("forgets an unknown id when a notice names it (a key just created anywhere)", async () => {
    const { keys, queries, cache } = setup();
    expect(await cache.key("0123456789abcdef")).to.equal(undefined);
    keys.set("0123456789abcdef", entry("0123456789abcdef"));
    cache.apply({ clientId: "cl_aaaaaaaaaaaaaaaa", version: 0, keys: false, keyIds: ["0123456789abcdef"] });
    expect(await cache.key("0123456789abcdef")).to.deep.include({ keyId: "0123456789abcdef" });
    expect(queries.length).to.equal(2);
  });

  it("keeps at most negativeMax unknown ids, apart from real entries", async () => {
    const { keys, queries, cache } = setup({ negativeMax: 3 });
    keys.set("aaaaaaaaaaaaaaaa", entry("aaaaaaaaaaaaaaaa"));
    await cache.key("aaaaaaaaaaaaaaaa");
    for (let i = 0; i < 10; i++) await cache.key(`${i}`.padStart(16, "0"));
    expect(cache.size()).to.equal(1);
    queries.length = 0;
    await cache.key("0000000000000009"); // remembered
    await cache.key("0000000000000000"); // pushed out
    expect(queries).to.deep.equal(["0000000000000000"]);
  });

  it("notices carry only well-formed key ids", () => {
    const c = decodeClientChange(
      Buffer.from(
        JSON.stringify({ clientId: "cl_x", version: 0, keys: false, keyIds: ["0123456789abcdef", "../x", 5] }),
      ),
    );
    expect(c?.keyIds).to.deep.equal(["0123456789abcdef"]);
  });
});

describe("throttle settings", () => {
  it("has defaults and refuses bad values", () => {
    const t = loadConfig({}).gateway.throttle;
    expect(t).to.deep.include({ redisDown: "open", trustedProxies: [], maxConnectionsPerIp: 512 });
    expect(() => loadConfig({ TRUSTED_PROXIES: "10.0.0.0/40,proxy.local", RATE_LIMIT_REDIS_DOWN: "maybe" }))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.satisfies((p: string[]) => p.filter((l) => /TRUSTED_PROXIES|RATE_LIMIT_REDIS_DOWN/.test(l)).length === 3);
  });
});
