/**
 * The gateway through real HTTP on one node: authentication, scopes, tenant isolation, body
 * limits, content types, rate limits, request ids, OAuth tokens, key rotation, admin routes,
 * health, metrics and docs. Every error is checked for the uniform shape.
 */
import { expect } from "chai";
import { createHash } from "node:crypto";
import { SignJWT, generateKeyPair, decodeJwt, decodeProtectedHeader, type JWTPayload } from "jose";
import { freshNamespace } from "../support/namespace";
import { startGatewayNode, makeClient, request, cleanupAll, isUniformError, type GatewayNode } from "./harness";
import type { CreatedClient } from "../../services/gateway/clients";

const b64u = (s: string) => Buffer.from(s).toString("base64url");

describe("gateway over HTTP (one node)", function () {
  const ns = freshNamespace("tgh");
  let gw: GatewayNode;
  let rw: CreatedClient; // notes:read + notes:write
  let ro: CreatedClient; // notes:read only
  let other: CreatedClient; // another tenant with read + write
  let adminClient: CreatedClient;

  const auth = (c: CreatedClient | string) => ({ authorization: `Bearer ${typeof c === "string" ? c : c.apiKey}` });

  before(async function () {
    gw = await startGatewayNode({
      ns,
      nodeId: "h1",
      notes: true,
      env: { GATEWAY_BODY_LIMIT_BYTES: "4096", GATEWAY_BODY_TIMEOUT_MS: "500" },
    });
    rw = await makeClient(gw.admin, { name: "rw", scopes: ["notes:read", "notes:write"] });
    ro = await makeClient(gw.admin, { name: "ro", scopes: ["notes:read"] });
    other = await makeClient(gw.admin, { name: "other", scopes: ["notes:read", "notes:write"] });
    adminClient = await makeClient(gw.admin, { name: "ops", scopes: ["admin"] });
  });

  after(async function () {
    await gw?.stop();
    await cleanupAll(ns);
  });

  describe("401 without or with bad credentials", function () {
    const cases: [string, Record<string, string>][] = [
      ["no header", {}],
      ["empty bearer", { authorization: "Bearer " }],
      ["basic scheme", { authorization: "Basic dXNlcjpwYXNz" }],
      ["unknown key id", { authorization: "Bearer sy_live_0123456789abcdef_" + "A".repeat(43) }],
      ["malformed key", { authorization: "Bearer sy_live_nothex" }],
      ["garbage token", { authorization: "Bearer not-a-token" }],
      ["jwt-shaped garbage", { authorization: "Bearer aaa.bbb.ccc" }],
    ];
    for (const [name, headers] of cases) {
      it(`refuses ${name}`, async function () {
        const r = await request(`${gw.url}/api/v1/notes`, { headers });
        expect(r.status).to.equal(401);
        expect(isUniformError(r.json, "UNAUTHORIZED"), r.text).to.equal(true);
        expect(r.headers.get("www-authenticate")).to.match(/^Bearer/);
      });
    }

    it("refuses a real key id with the wrong secret", async function () {
      const wrong = rw.apiKey.slice(0, -4) + (rw.apiKey.endsWith("AAAA") ? "BBBB" : "AAAA");
      const r = await request(`${gw.url}/api/v1/notes`, { headers: auth(wrong) });
      expect(r.status).to.equal(401);
      expect(isUniformError(r.json, "UNAUTHORIZED")).to.equal(true);
    });
  });

  describe("403 without the scope", function () {
    it("refuses a read-only client on a write route", async function () {
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(ro), "content-type": "application/json" },
        body: '{"text":"x"}',
      });
      expect(r.status).to.equal(403);
      expect(isUniformError(r.json, "FORBIDDEN"), r.text).to.equal(true);
    });

    it("refuses a non-admin on admin routes", async function () {
      const r = await request(`${gw.url}/api/v1/admin/clients`, { headers: auth(rw) });
      expect(r.status).to.equal(403);
      expect(isUniformError(r.json, "FORBIDDEN")).to.equal(true);
    });

    it("refuses a suspended client with CLIENT_SUSPENDED, and lets it in again after activation", async function () {
      const c = await makeClient(gw.admin, { scopes: ["notes:read"] });
      expect((await request(`${gw.url}/api/v1/notes`, { headers: auth(c) })).status).to.equal(200);
      const s = await request(`${gw.url}/api/v1/admin/clients/${c.client.id}/suspend`, {
        method: "POST",
        headers: auth(adminClient),
      });
      expect(s.status).to.equal(200);
      expect((s.json as { status: string }).status).to.equal("suspended");
      const r = await request(`${gw.url}/api/v1/notes`, { headers: auth(c) });
      expect(r.status).to.equal(403);
      expect(isUniformError(r.json, "CLIENT_SUSPENDED")).to.equal(true);
      await request(`${gw.url}/api/v1/admin/clients/${c.client.id}/activate`, {
        method: "POST",
        headers: auth(adminClient),
      });
      expect((await request(`${gw.url}/api/v1/notes`, { headers: auth(c) })).status).to.equal(200);
    });
  });

  describe("tenant isolation", function () {
    it("answers 404 for another client's resource, 200 for one's own, and lists only one's own", async function () {
      const created = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(rw), "content-type": "application/json" },
        body: '{"text":"mine"}',
      });
      expect(created.status).to.equal(201);
      const id = (created.json as { id: string }).id;
      expect(created.headers.get("location")).to.equal(`/api/v1/notes/${id}`);
      const mine = await request(`${gw.url}/api/v1/notes/${id}`, { headers: auth(rw) });
      expect(mine.status).to.equal(200);
      const theirs = await request(`${gw.url}/api/v1/notes/${id}`, { headers: auth(other) });
      expect(theirs.status).to.equal(404);
      expect(isUniformError(theirs.json, "NOT_FOUND")).to.equal(true);
      const missing = await request(`${gw.url}/api/v1/notes/n999999`, { headers: auth(other) });
      expect(missing.status).to.equal(404);
      // Same answer for "someone else's" and "does not exist": nothing to learn.
      expect((theirs.json as { error: { message: string } }).error.message).to.equal(
        (missing.json as { error: { message: string } }).error.message,
      );
      const list = await request(`${gw.url}/api/v1/notes`, { headers: auth(other) });
      expect((list.json as { owner: string }[]).every((n) => n.owner === other.client.id)).to.equal(true);
    });

    it("tells the action its caller ({id, scopes}) through the signed caller assertion", async function () {
      const me = await request(`${gw.url}/api/v1/me`, { headers: auth(ro) });
      expect(me.status).to.equal(200);
      expect((me.json as { id: string }).id).to.equal(ro.client.id);
    });
  });

  describe("bodies", function () {
    it("413 when Content-Length exceeds the limit", async function () {
      const body = JSON.stringify({ text: "x".repeat(5000) });
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(rw), "content-type": "application/json" },
        body,
      });
      expect(r.status).to.equal(413);
      expect(isUniformError(r.json, "PAYLOAD_TOO_LARGE"), r.text).to.equal(true);
    });

    it("413 for a chunked body that grows past the limit", async function () {
      const chunks = [Buffer.from('{"text":"'), Buffer.alloc(6000, 0x61), Buffer.from('"}')];
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const c of chunks) controller.enqueue(c);
          controller.close();
        },
      });
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(rw), "content-type": "application/json" },
        body: stream,
        duplex: "half",
      } as RequestInit & { duplex: string; headers: Record<string, string> });
      expect(r.status).to.equal(413);
      expect(isUniformError(r.json, "PAYLOAD_TOO_LARGE")).to.equal(true);
    });

    for (const ct of [
      "text/plain",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "application/json; charset=latin1",
    ]) {
      it(`415 for ${ct}`, async function () {
        const r = await request(`${gw.url}/api/v1/notes`, {
          method: "POST",
          headers: { ...auth(rw), "content-type": ct },
          body: '{"text":"x"}',
        });
        expect(r.status).to.equal(415);
        expect(isUniformError(r.json, "UNSUPPORTED_MEDIA_TYPE"), r.text).to.equal(true);
      });
    }

    it("415 when Content-Type is missing", async function () {
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: auth(rw),
        body: new Uint8Array(Buffer.from('{"text":"x"}')),
      });
      expect(r.status).to.equal(415);
      expect(isUniformError(r.json, "UNSUPPORTED_MEDIA_TYPE")).to.equal(true);
    });

    it("400 INVALID_JSON, 422 VALIDATION_ERROR with details, 400 INVALID_XML, 400 INVALID_ENCODING", async function () {
      const post = (ct: string, body: string | Uint8Array) =>
        request(`${gw.url}/api/v1/notes`, { method: "POST", headers: { ...auth(rw), "content-type": ct }, body });
      const bad = await post("application/json", '{"text": ');
      expect(bad.status).to.equal(400);
      expect(isUniformError(bad.json, "INVALID_JSON")).to.equal(true);
      const invalid = await post("application/json", '{"txt": 1}');
      expect(invalid.status).to.equal(422);
      expect(isUniformError(invalid.json, "VALIDATION_ERROR")).to.equal(true);
      const paths = (invalid.json as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
      expect(paths).to.include("/body/text");
      expect(paths).to.include("/body/txt");
      const xml = await post("application/xml", "<note><text>unclosed</note>");
      expect(xml.status).to.equal(400);
      expect(isUniformError(xml.json, "INVALID_XML")).to.equal(true);
      const enc = await post(
        "application/json",
        new Uint8Array([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      );
      expect(enc.status).to.equal(400);
      expect(isUniformError(enc.json, "INVALID_ENCODING")).to.equal(true);
    });

    it("hands the action the exact bytes of an XML body with its content type", async function () {
      const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<note a="1">  <text>Grüße &amp; €</text>\r\n</note>';
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(rw), "content-type": "text/xml; charset=utf-8" },
        body: xml,
      });
      expect(r.status, r.text).to.equal(201);
      const j = r.json as { contentType: string; bytes: number; sha256: string; parsed: unknown };
      expect(j.contentType).to.equal("application/xml");
      expect(j.bytes).to.equal(Buffer.byteLength(xml));
      expect(j.sha256).to.equal(createHash("sha256").update(xml).digest("hex"));
      expect(j.parsed).to.equal(null);
    });

    it("hands the action the exact JSON text as well as the parsed body when the route asks", async function () {
      const text = '{ "text" :   "spaced\\u00e9" }';
      const r = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { ...auth(rw), "content-type": "application/json" },
        body: text,
      });
      expect(r.status).to.equal(201);
      const j = r.json as { sha256: string; parsed: { text: string } };
      expect(j.sha256).to.equal(createHash("sha256").update(text).digest("hex"));
      expect(j.parsed.text).to.equal("spacedé");
    });

    it("400 INVALID_PARAMETER for a path parameter or query that fails its schema", async function () {
      const p = await request(`${gw.url}/api/v1/notes/..%2F..%2Fetc%2Fpasswd`, { headers: auth(rw) });
      expect(p.status).to.equal(400);
      expect(isUniformError(p.json, "INVALID_PARAMETER")).to.equal(true);
      const q = await request(`${gw.url}/api/v1/notes?limit=abc`, { headers: auth(rw) });
      expect(q.status).to.equal(400);
      expect(isUniformError(q.json, "INVALID_PARAMETER")).to.equal(true);
      const ok = await request(`${gw.url}/api/v1/notes?limit=5`, { headers: auth(rw) });
      expect(ok.status).to.equal(200);
    });
  });

  describe("routes", function () {
    it("404 for an unknown route, 405 with Allow for a wrong method, both uniform", async function () {
      for (const path of ["/nope", "/api/v1/../../etc/passwd", "/API/V1/ME", "/api/v1/notes/n1/extra"]) {
        const r = await request(`${gw.url}${path}`, { headers: auth(rw) });
        expect(r.status, path).to.equal(404);
        expect(isUniformError(r.json, "NOT_FOUND")).to.equal(true);
      }
      const m = await request(`${gw.url}/api/v1/notes`, { method: "DELETE", headers: auth(rw) });
      expect(m.status).to.equal(405);
      expect(m.headers.get("allow")).to.equal("POST, GET");
      expect(isUniformError(m.json, "METHOD_NOT_ALLOWED")).to.equal(true);
    });
  });

  describe("request ids", function () {
    it("echoes a sane X-Request-Id, in errors too, and replaces an insane one", async function () {
      const ok = await request(`${gw.url}/api/v1/me`, { headers: { ...auth(rw), "x-request-id": "abc-123.x:y_z" } });
      expect(ok.headers.get("x-request-id")).to.equal("abc-123.x:y_z");
      const err = await request(`${gw.url}/api/v1/me`, { headers: { "x-request-id": "trace-42" } });
      expect(err.headers.get("x-request-id")).to.equal("trace-42");
      expect((err.json as { error: { requestId: string } }).error.requestId).to.equal("trace-42");
      const insane = await request(`${gw.url}/health/live`, {
        headers: { "x-request-id": "<script>" + "x".repeat(200) },
      });
      expect(insane.headers.get("x-request-id")).to.match(/^[0-9a-f-]{36}$/);
      const none = await request(`${gw.url}/health/live`);
      expect(none.headers.get("x-request-id")).to.match(/^[0-9a-f-]{36}$/);
    });
  });

  describe("rate limits", function () {
    it("429 with Retry-After once the client's bucket is empty; other clients unaffected", async function () {
      const c = await makeClient(gw.admin, { scopes: ["notes:read"], rateLimit: { perSec: 1, burst: 5 } });
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => request(`${gw.url}/api/v1/notes`, { headers: auth(c) })),
      );
      const limited = answers.filter((a) => a.status === 429);
      expect(answers.filter((a) => a.status === 200).length).to.be.at.most(6);
      expect(limited.length).to.be.at.least(6);
      for (const a of limited) {
        expect(isUniformError(a.json, "RATE_LIMITED")).to.equal(true);
        expect(Number(a.headers.get("retry-after"))).to.be.at.least(1);
      }
      expect((await request(`${gw.url}/api/v1/notes`, { headers: auth(rw) })).status).to.equal(200);
    });
  });

  describe("OAuth2 client credentials and JWTs", function () {
    const token = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      request(`${gw.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(body).toString(),
      });

    it("issues a token (form or Basic) that works as a bearer token, with the JWKS published", async function () {
      const r = await token({ grant_type: "client_credentials", client_id: rw.client.id, client_secret: rw.apiKey });
      expect(r.status, r.text).to.equal(200);
      expect(r.headers.get("cache-control")).to.equal("no-store");
      const t = r.json as { access_token: string; token_type: string; expires_in: number; scope: string };
      expect(t.token_type).to.equal("Bearer");
      expect(t.scope).to.equal("notes:read notes:write");
      const claims = decodeJwt(t.access_token);
      expect(claims.sub).to.equal(rw.client.id);
      const kid = decodeProtectedHeader(t.access_token).kid;
      const jwks = (await request(`${gw.url}/.well-known/jwks.json`)).json as { keys: { kid: string; d?: string }[] };
      expect(jwks.keys.map((k) => k.kid)).to.include(kid);
      expect(jwks.keys.every((k) => k.d === undefined)).to.equal(true);
      const me = await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${t.access_token}` } });
      expect(me.status).to.equal(200);
      const basic = await token(
        { grant_type: "client_credentials" },
        { authorization: `Basic ${Buffer.from(`${rw.client.id}:${rw.apiKey}`).toString("base64")}` },
      );
      expect(basic.status).to.equal(200);
    });

    it("narrows a token to the requested scope, and enforces it", async function () {
      const r = await token({
        grant_type: "client_credentials",
        client_id: rw.client.id,
        client_secret: rw.apiKey,
        scope: "notes:read",
      });
      const t = (r.json as { access_token: string }).access_token;
      const w = await request(`${gw.url}/api/v1/notes`, {
        method: "POST",
        headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
        body: '{"text":"x"}',
      });
      expect(w.status).to.equal(403);
      const bad = await token({
        grant_type: "client_credentials",
        client_id: rw.client.id,
        client_secret: rw.apiKey,
        scope: "admin",
      });
      expect(bad.status).to.equal(400);
      expect(isUniformError(bad.json, "INVALID_SCOPE")).to.equal(true);
    });

    it("refuses bad client credentials and grants in the uniform shape", async function () {
      const wrongSecret = await token({
        grant_type: "client_credentials",
        client_id: rw.client.id,
        client_secret: ro.apiKey,
      });
      expect(wrongSecret.status).to.equal(401);
      expect(isUniformError(wrongSecret.json, "INVALID_CLIENT")).to.equal(true);
      const grant = await token({ grant_type: "password", client_id: rw.client.id, client_secret: rw.apiKey });
      expect(grant.status).to.equal(400);
      expect(isUniformError(grant.json, "UNSUPPORTED_GRANT_TYPE")).to.equal(true);
    });

    it("refuses forged tokens: alg none, another key, tampered payload, expired", async function () {
      const good = (
        (await token({ grant_type: "client_credentials", client_id: ro.client.id, client_secret: ro.apiKey })).json as {
          access_token: string;
        }
      ).access_token;
      const [h, p, s] = good.split(".") as [string, string, string];
      const payload = decodeJwt(good);
      const header = decodeProtectedHeader(good);
      const none = `${b64u(JSON.stringify({ alg: "none", typ: "at+jwt" }))}.${p}.`;
      const tampered = `${h}.${b64u(JSON.stringify({ ...payload, scope: "notes:read notes:write admin" }))}.${s}`;
      const { privateKey } = await generateKeyPair("ES256");
      const sign = (claims: JWTPayload, exp: number) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: "ES256", kid: header.kid!, typ: "at+jwt" })
          .setExpirationTime(exp)
          .sign(privateKey);
      const { exp: _exp, ...withoutExp } = payload;
      const otherKey = await sign(withoutExp, Math.floor(Date.now() / 1000) + 600);
      for (const [name, t] of [
        ["none", none],
        ["tampered", tampered],
        ["other key", otherKey],
      ] as const) {
        const r = await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${t}` } });
        expect(r.status, name).to.equal(401);
        expect(isUniformError(r.json, "UNAUTHORIZED")).to.equal(true);
      }
    });

    it("stops tokens of a suspended client", async function () {
      const c = await makeClient(gw.admin, { scopes: ["notes:read"] });
      const t = (
        (await token({ grant_type: "client_credentials", client_id: c.client.id, client_secret: c.apiKey })).json as {
          access_token: string;
        }
      ).access_token;
      expect((await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${t}` } })).status).to.equal(
        200,
      );
      await request(`${gw.url}/api/v1/admin/clients/${c.client.id}/suspend`, {
        method: "POST",
        headers: auth(adminClient),
      });
      const r = await request(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${t}` } });
      expect(r.status).to.equal(403);
      expect(isUniformError(r.json, "CLIENT_SUSPENDED")).to.equal(true);
    });
  });

  describe("admin routes", function () {
    it("creates, gets, lists, rotates with overlap and revokes with overlap 0", async function () {
      const created = await request(`${gw.url}/api/v1/admin/clients`, {
        method: "POST",
        headers: { ...auth(adminClient), "content-type": "application/json" },
        body: JSON.stringify({ name: "acme", scopes: ["notes:read"], webhookUrl: "https://acme.example/hooks" }),
      });
      expect(created.status, created.text).to.equal(201);
      const c = created.json as { id: string; apiKey: string; webhookSecret: string };
      expect(c.apiKey).to.match(/^sy_live_[0-9a-f]{16}_/);
      expect(c.webhookSecret).to.match(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(c.webhookSecret.slice(6), "base64").length).to.equal(32);
      const got = await request(`${gw.url}/api/v1/admin/clients/${c.id}`, { headers: auth(adminClient) });
      expect(got.status).to.equal(200);
      expect(got.text).not.to.include("whsec_");
      const list = await request(`${gw.url}/api/v1/admin/clients?limit=2`, { headers: auth(adminClient) });
      expect((list.json as { items: unknown[]; next: string | null }).items).to.have.length(2);
      expect((list.json as { next: string | null }).next).to.be.a("string");

      const rot = await request(`${gw.url}/api/v1/admin/clients/${c.id}/rotate`, {
        method: "POST",
        headers: { ...auth(adminClient), "content-type": "application/json" },
        body: '{"overlapSeconds":3600}',
      });
      expect(rot.status, rot.text).to.equal(200);
      const k2 = (rot.json as { apiKey: string }).apiKey;
      expect((await request(`${gw.url}/api/v1/me`, { headers: auth(c.apiKey) })).status).to.equal(200);
      expect((await request(`${gw.url}/api/v1/me`, { headers: auth(k2) })).status).to.equal(200);

      const rot2 = await request(`${gw.url}/api/v1/admin/clients/${c.id}/rotate`, {
        method: "POST",
        headers: { ...auth(adminClient), "content-type": "application/json" },
        body: '{"overlapSeconds":0}',
      });
      const k3 = (rot2.json as { apiKey: string }).apiKey;
      for (const old of [c.apiKey, k2]) {
        const r = await request(`${gw.url}/api/v1/me`, { headers: auth(old) });
        expect(r.status).to.equal(401);
        expect(isUniformError(r.json, "UNAUTHORIZED")).to.equal(true);
      }
      expect((await request(`${gw.url}/api/v1/me`, { headers: auth(k3) })).status).to.equal(200);
    });

    it("422 for an invalid new client, 404 for an unknown one", async function () {
      const bad = await request(`${gw.url}/api/v1/admin/clients`, {
        method: "POST",
        headers: { ...auth(adminClient), "content-type": "application/json" },
        body: '{"name":"x","scopes":["everything"]}',
      });
      expect(bad.status).to.equal(422);
      expect(isUniformError(bad.json, "VALIDATION_ERROR")).to.equal(true);
      const nf = await request(`${gw.url}/api/v1/admin/clients/cl_aaaaaaaaaaaaaaaa`, { headers: auth(adminClient) });
      expect(nf.status).to.equal(404);
      expect(isUniformError(nf.json, "NOT_FOUND")).to.equal(true);
    });
  });

  describe("operations", function () {
    it("health/live 200; health/ready 200 then 503 with the report when a check fails", async function () {
      expect((await request(`${gw.url}/health/live`)).status).to.equal(200);
      expect((await request(`${gw.url}/health/ready`)).status).to.equal(200);
      gw.ctx.health.register("test-check", () => ({ ok: false, detail: "broken on purpose" }));
      try {
        const r = await request(`${gw.url}/health/ready`);
        expect(r.status).to.equal(503);
        const j = r.json as {
          error: { code: string; requestId: string };
          report: { ready: boolean; checks: Record<string, { ok: boolean }> };
        };
        expect(j.error.code).to.equal("NOT_READY");
        expect(j.error.requestId).to.equal(r.headers.get("x-request-id"));
        expect(j.report.ready).to.equal(false);
        expect(j.report.checks["test-check"]!.ok).to.equal(false);
      } finally {
        gw.ctx.health.register("test-check", () => true);
      }
    });

    it("/metrics counts requests by route template and status, with a latency histogram", async function () {
      await request(`${gw.url}/api/v1/notes/n1`, { headers: auth(rw) });
      const r = await request(`${gw.url}/metrics`);
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.match(/^text\/plain/);
      expect(r.text).to.match(
        /http_requests_total\{route="\/api\/v1\/notes\/\{id\}",method="GET",status="(200|404)"\} \d+/,
      );
      expect(r.text).to.include("http_request_duration_seconds_bucket");
      expect(r.text).to.include('route="unmatched"');
    });

    it("/api/docs is a self-contained page (no external URLs)", async function () {
      const r = await request(`${gw.url}/api/docs`);
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.match(/^text\/html/);
      expect(r.text).to.include("/api/openapi.json");
      expect(r.text).not.to.match(/(src|href)=["']?https?:/i);
      expect(r.headers.get("content-security-policy")).to.include("default-src 'none'");
    });
  });
});
