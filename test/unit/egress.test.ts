/**
 * The egress check of caller-supplied URLs (issue 11, item 5), without a node: address parsing
 * and classification (lib/ip.ts), the policy and URL check (lib/egress.ts), the config, and the
 * connect-time lookup (lib/egress-http.ts) against a local listener.
 */
import { expect } from "chai";
import http from "node:http";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import {
  classifyIp,
  formatIp,
  inCidr,
  parseCidr,
  parseIp,
  parseIPv4,
  parseIPv6,
  type AddressClass,
} from "../../lib/ip";
import { DEV_EGRESS_ALLOW, STRICT_EGRESS, checkHost, checkUrl, parseEgressAllow } from "../../lib/egress";
import { EgressRefusedError, checkedLookup, createEgress, resolveChecked, type Resolver } from "../../lib/egress-http";
import { ConfigError, loadConfig } from "../../node/config";

const text = (s: string): string | null => {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
};
const cls = (s: string): AddressClass | null | "not an address" => {
  const ip = parseIp(s);
  return ip ? classifyIp(ip) : "not an address";
};

describe("lib/ip: parsing", () => {
  it("reads every IPv4 shorthand form as inet_aton and URL parsers do", () => {
    expect(text("127.0.0.1")).to.equal("127.0.0.1");
    expect(text("2130706433")).to.equal("127.0.0.1");
    expect(text("0x7f000001")).to.equal("127.0.0.1");
    expect(text("0x7f.0.0.1")).to.equal("127.0.0.1");
    expect(text("0X7F.1")).to.equal("127.0.0.1");
    expect(text("0177.0.0.1")).to.equal("127.0.0.1");
    expect(text("017700000001")).to.equal("127.0.0.1");
    expect(text("127.1")).to.equal("127.0.0.1");
    expect(text("127.0.1")).to.equal("127.0.0.1");
    expect(text("10.65535")).to.equal("10.0.255.255");
    expect(text("0")).to.equal("0.0.0.0");
    expect(text("0x")).to.equal("0.0.0.0");
    expect(text("169.254.169.254.")).to.equal("169.254.169.254");
    expect(text("4294967295")).to.equal("255.255.255.255");
  });

  it("refuses what is not an IPv4 address", () => {
    for (const s of [
      "4294967296",
      "256.0.0.1",
      "1.2.3.4.5",
      "1.2.3.256",
      "1.16777216",
      "08.0.0.1",
      "0x1g.0.0.1",
      "1..2",
      "",
      ".",
      "a.b.c.d",
      "example.com",
      "1.2.3.4..",
      "-1.0.0.0",
    ]) {
      expect(parseIPv4(s), s).to.equal(null);
    }
  });

  it("reads IPv6 with ::, a dotted IPv4 tail, brackets and a zone; writes RFC 5952", () => {
    expect(text("::1")).to.equal("::1");
    expect(text("[::1]")).to.equal("::1");
    expect(text("::")).to.equal("::");
    expect(text("0:0:0:0:0:0:0:1")).to.equal("::1");
    expect(text("FD00:EC2:0:0:0:0:0:254")).to.equal("fd00:ec2::254");
    expect(text("::ffff:127.0.0.1")).to.equal("::ffff:127.0.0.1");
    expect(text("::ffff:7f00:1")).to.equal("::ffff:127.0.0.1");
    expect(text("fe80::1%eth0")).to.equal("fe80::1");
    expect(text("2001:db8:0:0:1:0:0:1")).to.equal("2001:db8::1:0:0:1");
    expect(text("1:2:3:4:5:6:7:8")).to.equal("1:2:3:4:5:6:7:8");
    expect(text("64:ff9b::10.0.0.1")).to.equal("64:ff9b::a00:1");
  });

  it("refuses what is not an IPv6 address", () => {
    for (const s of [
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "::g",
      "::1.2.3",
      "::1.2.3.256",
      "1.2.3.4::",
      "::0x7f.0.0.1",
    ]) {
      expect(parseIPv6(s), s).to.equal(null);
    }
  });

  it("CIDR blocks contain exactly their addresses", () => {
    const c = parseCidr("172.16.0.0/12")!;
    expect(inCidr(parseIp("172.16.0.0")!, c)).to.equal(true);
    expect(inCidr(parseIp("172.31.255.255")!, c)).to.equal(true);
    expect(inCidr(parseIp("172.32.0.0")!, c)).to.equal(false);
    expect(inCidr(parseIp("172.15.255.255")!, c)).to.equal(false);
    expect(inCidr(parseIp("::ffff:172.16.0.1")!, c), "other family").to.equal(false);
    expect(inCidr(parseIp("fdff::1")!, parseCidr("fc00::/7")!)).to.equal(true);
    expect(inCidr(parseIp("fe00::1")!, parseCidr("fc00::/7")!)).to.equal(false);
    expect(formatIp({ family: 4, bytes: parseCidr("10.1.2.3/8")!.base })).to.equal("10.0.0.0");
    expect(parseCidr("10.0.0.0/33")).to.equal(null);
    expect(parseCidr("127.1/8"), "no shorthand in configuration").to.equal(null);
    expect(parseCidr("::1/129")).to.equal(null);
  });
});

describe("lib/ip: classification", () => {
  const cases: Record<string, AddressClass | null> = {
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "10.0.0.1": "private",
    "10.255.255.255": "private",
    "100.64.0.1": "shared",
    "100.100.100.200": "shared", // Alibaba's metadata service
    "100.127.255.255": "shared",
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "169.254.169.254": "link-local",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.0.0.8": "reserved",
    "192.0.2.1": "documentation",
    "192.88.99.1": "reserved",
    "192.168.0.1": "private",
    "198.18.0.1": "benchmark",
    "198.19.255.255": "benchmark",
    "198.51.100.1": "documentation",
    "203.0.113.1": "documentation",
    "224.0.0.1": "multicast",
    "239.255.255.255": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "::": "unspecified",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.1.1.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:0:127.0.0.1": "loopback", // IPv4-translated
    "::127.0.0.1": "reserved", // IPv4-compatible (deprecated)
    "64:ff9b::127.0.0.1": "loopback", // NAT64 of a loopback address
    "64:ff9b:1::1": "private",
    "100::1": "reserved",
    "2001::1": "reserved", // Teredo
    "2001:db8::1": "documentation",
    "2001:2::1": "benchmark",
    "2002:7f00:1::1": "reserved", // 6to4
    "3fff::1": "documentation",
    "fc00::1": "private",
    "fd00:ec2::254": "private", // EC2's IPv6 metadata service
    "fe80::1": "link-local",
    "febf::1": "link-local",
    "fec0::1": "private",
    "ff02::1": "multicast",
    "4000::1": "reserved",
    // public
    "8.8.8.8": null,
    "1.1.1.1": null,
    "172.32.0.1": null,
    "100.128.0.1": null,
    "192.169.0.1": null,
    "203.0.114.1": null,
    "223.255.255.255": null,
    "::ffff:8.8.8.8": null,
    "64:ff9b::8.8.8.8": null,
    "2606:4700:4700::1111": null,
    "2a00:1450:4001::200e": null,
  };
  for (const [addr, want] of Object.entries(cases)) {
    it(`${addr} is ${want ?? "public"}`, () => expect(cls(addr)).to.equal(want));
  }
});

describe("lib/egress: hosts, URLs and the allow-list", () => {
  it("refuses local, internal, metadata and single-label names; passes public ones", () => {
    for (const h of [
      "localhost",
      "LOCALHOST.",
      "app.localhost",
      "printer.local",
      "db.internal",
      "metadata.google.internal",
      "metadata.goog",
      "metadata",
      "instance-data",
      "x.home.arpa",
      "1.0.0.127.in-addr.arpa",
      "kubernetes.default.svc",
      "intranet",
      "vm",
      "box.lan",
      "",
    ]) {
      expect(checkHost(h, STRICT_EGRESS), h).to.not.equal(null);
    }
    for (const h of [
      "hooks.example.com",
      "api.acme.io",
      "xn--bcher-kva.example",
      "local.example.com",
      "internal.example.com",
    ]) {
      expect(checkHost(h, STRICT_EGRESS), h).to.equal(null);
    }
  });

  it("checks IP literals as the URL parser normalises them", () => {
    for (const u of [
      "http://127.0.0.1/",
      "http://[::1]/",
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://[::ffff:127.0.0.1]/",
      "http://[fd00:ec2::254]/",
      "http://169.254.169.254/latest/meta-data",
    ]) {
      const c = checkUrl(u, STRICT_EGRESS);
      expect(c.ok, u).to.equal(false);
      if (!c.ok) expect(c.refusal, u).to.not.equal(undefined);
    }
    const r = checkUrl("http://2130706433/", STRICT_EGRESS);
    expect(r.ok === false && r.reason).to.equal("is not an allowed destination: 127.0.0.1 is a loopback address");
  });

  it("checks the form: http(s), length, no credentials", () => {
    const bad = (u: string): string | undefined => {
      const c = checkUrl(u, STRICT_EGRESS);
      return c.ok ? undefined : c.reason;
    };
    expect(bad("ftp://hooks.example.com/")).to.equal("must be an http(s) URL");
    expect(bad("not a url")).to.equal("is not a URL");
    expect(bad("https://user:pw@hooks.example.com/")).to.equal("must not carry credentials");
    expect(bad(`https://hooks.example.com/${"a".repeat(2048)}`)).to.equal("must be at most 2048 characters");
    expect(bad("https://hooks.example.com/x")).to.equal(undefined);
  });

  it("an allow-list lets named hosts and networks through, and nothing else", () => {
    const { policy, problems } = parseEgressAllow(["10.1.0.0/16", "Hooks.Corp.", "::1", "192.168.5.5"]);
    expect(problems).to.deep.equal([]);
    expect(checkHost("10.1.2.3", policy)).to.equal(null);
    expect(checkHost("10.2.0.1", policy)).to.not.equal(null);
    expect(checkHost("hooks.corp", policy)).to.equal(null);
    expect(checkHost("other.corp", policy)).to.not.equal(null);
    expect(checkHost("[::1]", policy)).to.equal(null);
    expect(checkHost("192.168.5.5", policy)).to.equal(null);
    expect(checkHost("192.168.5.6", policy)).to.not.equal(null);
    expect(checkHost("127.0.0.1", policy)).to.not.equal(null);
  });

  it("the development default allows this machine only", () => {
    const { policy } = parseEgressAllow(DEV_EGRESS_ALLOW);
    for (const h of ["localhost", "127.0.0.1", "127.9.9.9", "[::1]", "2130706433"])
      expect(checkHost(h, policy), h).to.equal(null);
    for (const h of ["10.0.0.1", "169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal", "app.localhost"])
      expect(checkHost(h, policy), h).to.not.equal(null);
  });

  it("reports allow-list entries that are neither names nor addresses nor blocks", () => {
    const { problems } = parseEgressAllow(["10.0.0.0/33", "bad host", "127.1", "ok.example"]);
    expect(problems).to.have.length(3);
  });
});

describe("config: EGRESS_ALLOW", () => {
  it("defaults to loopback in dev mode and to nothing in production; set empty or none means nothing", () => {
    expect(loadConfig({}).egress.allow).to.deep.equal([...DEV_EGRESS_ALLOW]);
    const prod = {
      NODE_ENV: "production",
      TAX_CALLBACK_SECRET: "whsec_dGVzdC10YXgtc2VjcmV0LTAwMDE=",
      WAREHOUSE_CALLBACK_SECRET: "whsec_dGVzdC13aC1zZWNyZXQtMDAwMDE=",
      SERVICES: "runtime,gateway",
      MASTER_KEYS: Buffer.alloc(32, 7).toString("base64"),
      CLUSTER_SECRET: "egress-test-cluster-secret-0123456789abcdef",
    };
    expect(loadConfig(prod).egress.allow).to.deep.equal([]);
    expect(loadConfig({ EGRESS_ALLOW: "" }).egress.allow).to.deep.equal([]);
    expect(loadConfig({ EGRESS_ALLOW: "none" }).egress.allow).to.deep.equal([]);
    const some = loadConfig({ ...prod, EGRESS_ALLOW: "10.0.0.0/8, hooks.corp" }).egress;
    expect(some.allow).to.deep.equal(["10.0.0.0/8", "hooks.corp"]);
    expect(checkHost("10.3.3.3", some.policy)).to.equal(null);
    expect(() => loadConfig({ EGRESS_ALLOW: "10.0.0.0/99" })).to.throw(ConfigError, /EGRESS_ALLOW/);
  });
});

describe("lib/egress-http: the connect-time check", () => {
  const fake = (map: Record<string, string[]>): Resolver & { asked: string[] } => {
    const asked: string[] = [];
    const r = async (h: string) => {
      asked.push(h);
      const a = map[h];
      if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: "ENOTFOUND" });
      return a.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };
    return Object.assign(r, { asked });
  };
  const lookupOnce = (lookup: ReturnType<typeof checkedLookup>, host: string, all: boolean): Promise<unknown> =>
    new Promise((resolve, reject) => {
      lookup(host, { all }, (err: NodeJS.ErrnoException | null, address: unknown, family?: number) =>
        err ? reject(err) : resolve(all ? address : { address, family }),
      );
    });

  it("refuses a name when any of its addresses is refused", async () => {
    const r = fake({
      "mixed.example": ["93.184.215.14", "10.0.0.5"],
      "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    });
    const err = await resolveChecked("mixed.example", STRICT_EGRESS, r).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(EgressRefusedError);
    expect((err as EgressRefusedError).message).to.equal(
      "destination refused: mixed.example (10.0.0.5) is a private address",
    );
    expect(await resolveChecked("public.example", STRICT_EGRESS, r)).to.have.length(2);
  });

  it("an allowed name may resolve anywhere; an allowed network admits its addresses", async () => {
    const r = fake({ "hooks.corp": ["10.0.0.5"], "other.example": ["10.9.0.1"] });
    expect(await resolveChecked("hooks.corp", parseEgressAllow(["hooks.corp"]).policy, r)).to.have.length(1);
    expect(await resolveChecked("other.example", parseEgressAllow(["10.9.0.0/16"]).policy, r)).to.have.length(1);
    expect(
      await resolveChecked("other.example", parseEgressAllow(["10.8.0.0/16"]).policy, r).catch((e: unknown) => e),
    ).to.be.instanceOf(EgressRefusedError);
  });

  it("answers both lookup forms net uses, with checked addresses only", async () => {
    const r = fake({ "a.example": ["93.184.215.14", "2606:2800::1"], "b.example": ["127.0.0.1"] });
    const lookup = checkedLookup(STRICT_EGRESS, r);
    expect(await lookupOnce(lookup, "a.example", false)).to.deep.equal({ address: "93.184.215.14", family: 4 });
    expect(await lookupOnce(lookup, "a.example", true)).to.deep.equal([
      { address: "93.184.215.14", family: 4 },
      { address: "2606:2800::1", family: 6 },
    ]);
    expect(await lookupOnce(lookup, "b.example", false).catch((e: unknown) => e)).to.be.instanceOf(EgressRefusedError);
    expect(await lookupOnce(lookup, "b.example", true).catch((e: unknown) => e)).to.be.instanceOf(EgressRefusedError);
    expect(
      ((await lookupOnce(lookup, "c.example", false).catch((e: unknown) => e)) as NodeJS.ErrnoException).code,
    ).to.equal("ENOTFOUND");
  });

  describe("requests", () => {
    let server: http.Server;
    let port: number;
    const got: string[] = [];
    before(async () => {
      server = http.createServer((req, res) => {
        got.push(`${req.headers.host} ${req.url}`);
        res.writeHead(200).end("ok");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));
    beforeEach(() => void (got.length = 0));

    it("connects to the checked address and keeps the name as Host", async () => {
      const r = fake({ "hooks.test.example": ["127.0.0.1"] });
      const egress = createEgress(parseEgressAllow(["127.0.0.0/8"]).policy, r);
      try {
        expect((await egress.request(`http://hooks.test.example:${port}/a`)).status).to.equal(200);
        expect((await egress.request(`http://hooks.test.example:${port}/b`)).status).to.equal(200);
        expect(got).to.deep.equal([`hooks.test.example:${port} /a`, `hooks.test.example:${port} /b`]);
      } finally {
        egress.close();
      }
    });

    it("refuses before any byte is sent: a name resolving to loopback, and IP literals (which skip lookup)", async () => {
      const r = fake({ "rebind.test.example": ["127.0.0.1"] });
      const egress = createEgress(STRICT_EGRESS, r);
      try {
        for (const url of [
          `http://rebind.test.example:${port}/x`,
          `http://127.0.0.1:${port}/x`,
          `http://2130706433:${port}/x`,
          `http://[::ffff:127.0.0.1]:${port}/x`,
          `http://localhost:${port}/x`,
        ]) {
          expect(
            await egress.request(url, { method: "POST", body: "{}" }).catch((e: unknown) => e),
            url,
          ).to.be.instanceOf(EgressRefusedError);
        }
        expect(r.asked).to.deep.equal(["rebind.test.example"]);
        expect(got).to.deep.equal([]);
      } finally {
        egress.close();
      }
    });

    it("https: the TLS socket goes to the checked address with the name as SNI, and a refused name never connects", async () => {
      // a TLS listener with no certificate: it sees the ClientHello's server name, then fails the handshake
      const names: string[] = [];
      const tlsServer = tls.createServer({
        SNICallback: (name, cb) => {
          names.push(name);
          cb(new Error("no certificate here"));
        },
      });
      tlsServer.on("tlsClientError", () => undefined);
      await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
      const tlsPort = (tlsServer.address() as AddressInfo).port;
      const r = fake({ "tls.test.example": ["127.0.0.1"], "rebind.test.example": ["127.0.0.1"] });
      const allowed = createEgress(parseEgressAllow(["127.0.0.0/8"]).policy, r);
      const strict = createEgress(STRICT_EGRESS, r);
      try {
        const err = await allowed.request(`https://tls.test.example:${tlsPort}/a`).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(Error).and.not.instanceOf(EgressRefusedError);
        expect(names).to.deep.equal(["tls.test.example"]);
        expect(
          await strict.request(`https://rebind.test.example:${tlsPort}/a`).catch((e: unknown) => e),
        ).to.be.instanceOf(EgressRefusedError);
        expect(r.asked).to.deep.equal(["tls.test.example", "rebind.test.example"]);
        expect(names).to.have.length(1);
      } finally {
        allowed.close();
        strict.close();
        await new Promise<void>((res) => tlsServer.close(() => res()));
      }
    });
  });
});
