/**
 * lib/http-client.ts against a local server: what its callers rely on (any status resolves,
 * bounded bodies, abort by signal, Node's error codes, keep-alive reuse), now that its body is
 * undici's `request`.
 */
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { httpRequest, jsonOf, retryAfterMs } from "../../lib/http-client";

describe("lib/http-client", () => {
  let server: http.Server;
  let base: string;
  const sockets = new Set<unknown>();
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  before(async () => {
    server = http.createServer((req, res) => {
      sockets.add(req.socket);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        if (req.url === "/big") return void res.writeHead(200).end("x".repeat(5000));
        if (req.url === "/hang") return; // never answers
        if (req.url === "/redirect") return void res.writeHead(302, { Location: "/json" }).end();
        if (req.url === "/busy") return void res.writeHead(429, { "Retry-After": "3" }).end("slow down");
        res
          .writeHead(201, { "Content-Type": "application/json", "X-Twice": ["a", "b"] })
          .end(JSON.stringify({ ok: true, echo: body, snow: "☃" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => void (seen.length = 0));

  it("sends method, headers and body; resolves status, lower-case headers and the text", async () => {
    const res = await httpRequest(`${base}/json?q=1`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", "Idempotency-Key": "k-1" },
      body: '{"a":"é"}',
    });
    expect(res.status).to.equal(201);
    expect(res.headers["content-type"]).to.equal("application/json");
    expect(res.headers["x-twice"]).to.deep.equal(["a", "b"]);
    expect(jsonOf(res)).to.deep.equal({ ok: true, echo: '{"a":"é"}', snow: "☃" });
    expect(seen[0]).to.deep.include({ method: "PUT", url: "/json?q=1", body: '{"a":"é"}' });
    expect(seen[0]!.headers["idempotency-key"]).to.equal("k-1");
    expect(seen[0]!.headers["content-length"]).to.equal(String(Buffer.byteLength('{"a":"é"}')));
  });

  it("any status resolves, and redirects are not followed", async () => {
    const busy = await httpRequest(`${base}/busy`);
    expect(busy.status).to.equal(429);
    expect(busy.text).to.equal("slow down");
    expect(retryAfterMs(busy)).to.equal(3000);
    expect((await httpRequest(`${base}/redirect`)).status).to.equal(302);
    expect(seen.map((s) => s.url)).to.deep.equal(["/busy", "/redirect"]);
  });

  it("keeps connections alive between calls", async () => {
    sockets.clear();
    for (let i = 0; i < 10; i++) await httpRequest(`${base}/json`, { method: "POST", body: "{}" });
    // undici's pool may alternate between two sockets for back-to-back calls; it opens no more
    expect(sockets.size).to.be.at.most(2);
  });

  it("bounds the response: larger than maxResponseBytes rejects", async () => {
    expect((await httpRequest(`${base}/big`, { maxResponseBytes: 5000 })).text).to.have.length(5000);
    const err = await httpRequest(`${base}/big`, { maxResponseBytes: 4999 }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal("response larger than 4999 bytes");
  });

  it("aborts by signal, before and during the call, with Error('aborted')", async () => {
    const pre = await httpRequest(`${base}/json`, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((pre as Error).message).to.equal("aborted");
    expect(seen).to.have.length(0);
    const t0 = Date.now();
    const during = await httpRequest(`${base}/hang`, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect((during as Error).message).to.equal("aborted");
    expect(Date.now() - t0).to.be.lessThan(2000);
  });

  it("network errors keep Node's codes; bad URLs and protocols reject before any I/O", async () => {
    const closed = await new Promise<number>((r) => {
      const s = http.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const err = await httpRequest(`http://127.0.0.1:${closed}/`).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).to.equal("ECONNREFUSED");
    expect((err as Error).message).to.match(/ECONNREFUSED/);
    expect(((await httpRequest("not a url").catch((e: unknown) => e)) as Error).message).to.equal(
      'invalid URL "not a url"',
    );
    expect(((await httpRequest("ftp://127.0.0.1/").catch((e: unknown) => e)) as Error).message).to.equal(
      "unsupported protocol ftp:",
    );
  });
});
