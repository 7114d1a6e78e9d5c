/**
 * Pure pieces of the gateway, no broker and no server: route table checks, matching, media
 * types and body decoding, error mapping, request ids, keys and access helpers.
 */
import { expect } from "chai";
import { Errors } from "moleculer";
import { checkRouteTable, toColonPath, toOpenApiPath, type RouteSpec } from "../../gateway/routes";
import { createRouter } from "../../gateway/router";
import { decodeBody, jsonDepth, negotiateMediaType, parseQuery, MAX_JSON_DEPTH } from "../../gateway/body";
import { toHttpError, errorBody } from "../../gateway/errors";
import { requestIdFrom } from "../../gateway/request-id";
import { assertOwner, clientOf, requireCaller, requireOperator, requireScope } from "../../gateway/access";
import { bindCaller, createCallerTokens, type Caller } from "../../gateway/caller";
import { signHs256, verifyHs256 } from "../../gateway/hs256";
import { SignJWT, jwtVerify } from "jose";
import {
  newApiKey,
  parseApiKey,
  hashApiKey,
  sameHash,
  newClientId,
  newWebhookSecret,
  CLIENT_ID_PATTERN,
} from "../../services/gateway/clients/keys";
import { checkNewClient } from "../../services/gateway/clients/types";
import { AppError } from "../../lib/errors";

const r = (method: RouteSpec["method"], path: string, extra: Partial<RouteSpec> = {}): RouteSpec => ({
  method,
  path,
  action: "svc.act",
  access: "public",
  summary: "s",
  responses: { 200: { description: "ok" } },
  ...extra,
});

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
  return undefined;
}

describe("gateway pure pieces", function () {
  describe("route table", function () {
    it("accepts a sound table and reports every problem of a bad one", function () {
      expect(
        checkRouteTable([
          r("GET", "/a/{id}", { params: { type: "object", properties: { id: { type: "string" } } } }),
          r("POST", "/a"),
        ]),
      ).to.deep.equal([]);
      const problems = checkRouteTable([
        r("GET", "/a"),
        r("GET", "/a"),
        r("GET", "/b/{id}"),
        r("GET", "/c/"),
        r("GET", "/d/:id"),
        r("GET", "/e", { access: "receipts:admin" as RouteSpec["access"] }),
        r("GET", "/f", { action: "noservice" }),
        r("GET", "/g", { body: { contentTypes: ["application/json"] } }),
      ]);
      expect(problems.join("\n")).to.match(/GET \/a: declared twice/);
      expect(problems.join("\n")).to.match(/\/b\/\{id\}: path parameter id has no schema/);
      expect(problems.join("\n")).to.match(/\/c\/: a path starts/);
      expect(problems.join("\n")).to.match(/\/d\/:id: bad segment/);
      expect(problems.join("\n")).to.match(/bad scope/);
      expect(problems.join("\n")).to.match(/bad action name/);
      expect(problems.join("\n")).to.match(/GET with a body/);
    });

    it("converts between OpenAPI and moleculer-web path forms", function () {
      expect(toColonPath("/a/{id}/b/{x2}")).to.equal("/a/:id/b/:x2");
      expect(toOpenApiPath("/a/:id/b/:x2")).to.equal("/a/{id}/b/{x2}");
    });
  });

  describe("router", function () {
    const router = createRouter([
      r("GET", "/api/v1/items/{id}"),
      r("DELETE", "/api/v1/items/{id}"),
      r("GET", "/api/v1/items/search"),
      r("POST", "/api/v1/items"),
    ]);

    it("matches literals before parameters, decodes parameters, ignores the query and a trailing slash", function () {
      const s = router.match("GET", "/api/v1/items/search?q=1");
      expect(s.kind === "found" && s.spec.path).to.equal("/api/v1/items/search");
      const p = router.match("GET", "/api/v1/items/a%20b/");
      expect(p.kind === "found" && p.params).to.deep.equal({ id: "a b" });
    });

    it("405 with the allowed methods, 404 for unknown or traversing paths, bad for broken encoding", function () {
      const m = router.match("PUT", "/api/v1/items/x");
      expect(m).to.deep.equal({ kind: "method", allow: ["GET", "DELETE"] });
      for (const u of [
        "/api/v1/items/x/y",
        "/api/v1/../v1/items",
        "/API/v1/items",
        "//api/v1/items",
        "/api/v1/items//",
      ])
        expect(router.match("GET", u).kind, u).to.equal("none");
      expect(router.match("GET", "/api/v1/items/%E0%A4%A").kind).to.equal("bad");
      expect(router.match("GET", "*").kind).to.equal("bad");
      expect(router.match("GET", "http://x/api").kind).to.equal("bad");
    });
  });

  describe("bodies", function () {
    const json = ["application/json"] as const;
    it("negotiates media types, charsets and suffixes; refuses the rest with 415", function () {
      expect(negotiateMediaType("application/json; charset=UTF-8", json)).to.equal("application/json");
      expect(negotiateMediaType("application/vnd.acme+json", json)).to.equal("application/json");
      expect(negotiateMediaType("text/xml", ["application/xml"])).to.equal("application/xml");
      for (const ct of [undefined, "", "text/plain", "application/json; charset=latin1", "application/xml"]) {
        expect(
          code(() => negotiateMediaType(ct, json)),
          String(ct),
        ).to.equal("UNSUPPORTED_MEDIA_TYPE");
      }
    });

    it("decodes JSON (keeping the exact text when asked), refuses bad UTF-8, bad JSON, deep nesting, bad XML", function () {
      const text = '\uFEFF{ "a" : 1 }';
      const d = decodeBody(Buffer.from(text), "application/json", true);
      expect(d.body).to.deep.equal({ a: 1 });
      expect(d.raw!.text).to.equal(text);
      expect(d.raw!.bytes).to.equal(Buffer.byteLength(text));
      expect(decodeBody(Buffer.from("{}"), "application/json", false).raw).to.equal(undefined);
      expect(code(() => decodeBody(Buffer.from([0x22, 0xff, 0x22]), "application/json", false))).to.equal(
        "INVALID_ENCODING",
      );
      expect(code(() => decodeBody(Buffer.from("{"), "application/json", false))).to.equal("INVALID_JSON");
      const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
      expect(code(() => decodeBody(Buffer.from(deep), "application/json", false))).to.equal("INVALID_JSON");
      expect(jsonDepth(JSON.parse("[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH)))).to.equal(MAX_JSON_DEPTH);
      expect(code(() => decodeBody(Buffer.from("<a><b></a>"), "application/xml", false))).to.equal("INVALID_XML");
      const xml = decodeBody(Buffer.from("<a>1</a>"), "application/xml", false);
      expect(xml.body).to.equal(undefined);
      expect(xml.raw!.text).to.equal("<a>1</a>");
    });

    it("parses forms and queries with repeated names as arrays", function () {
      expect(decodeBody(Buffer.from("a=1&b=2&a=3"), "application/x-www-form-urlencoded", false).body).to.deep.equal({
        a: ["1", "3"],
        b: "2",
      });
      expect(parseQuery("/x?limit=5&tag=a&tag=b")).to.deep.equal({ limit: "5", tag: ["a", "b"] });
      expect(parseQuery("/x")).to.deep.equal({});
    });
  });

  describe("errors", function () {
    it("gives every 503 a Retry-After, locally and from another node, keeping one that is set", function () {
      expect(toHttpError(new AppError("UNAVAILABLE", "later")).headers).to.deep.equal({ "Retry-After": "1" });
      // an AppError thrown on another node arrives as a plain object with its code
      expect(toHttpError({ code: "UNAVAILABLE", message: "later" }).headers).to.deep.equal({ "Retry-After": "1" });
      expect(
        toHttpError(new AppError("UNAVAILABLE", "later", undefined, { "Retry-After": "5" })).headers,
      ).to.deep.equal({ "Retry-After": "5" });
      expect(toHttpError(new AppError("NOT_FOUND", "nope")).headers).to.equal(undefined);
    });
    it("maps AppErrors, AppErrors restored from another node, Moleculer errors and anything else", function () {
      const local = toHttpError(
        new AppError("VALIDATION_ERROR", "bad", [{ path: "/a", message: "m" }], { "X-A": "1" }),
      );
      expect(local).to.include({ status: 422, code: "VALIDATION_ERROR", message: "bad" });
      expect(local.headers).to.deep.equal({ "X-A": "1" });
      // What Moleculer's Regenerator makes of a remote AppError: a plain Error with the string code.
      const remote = Object.assign(new Error("nope"), {
        name: "AppError",
        code: "NOT_FOUND",
        type: undefined,
        data: undefined,
      });
      expect(toHttpError(remote)).to.include({ status: 404, code: "NOT_FOUND", message: "nope" });
      expect(toHttpError(new Errors.MoleculerClientError("gone", 404, "NOT_FOUND"))).to.include({
        status: 404,
        code: "NOT_FOUND",
      });
      expect(
        toHttpError(new Errors.ValidationError("invalid", "VALIDATION_ERROR", [{ field: "x", message: "req" }])),
      ).to.deep.include({ status: 422, code: "VALIDATION_ERROR", details: [{ path: "x", message: "req" }] });
      expect(toHttpError(new Errors.RequestTimeoutError({ action: "a.b", nodeID: "n" }))).to.include({
        status: 504,
        code: "GATEWAY_TIMEOUT",
      });
      expect(toHttpError(new Errors.ServiceNotFoundError({ action: "a.b" }))).to.include({
        status: 503,
        code: "UNAVAILABLE",
      });
      expect(toHttpError(new Errors.MoleculerClientError("conflict", 409, "SOME_TYPE"))).to.include({
        status: 409,
        code: "CONFLICT",
      });
      const internal = toHttpError(new TypeError("secret detail at /srv/x.js"));
      expect(internal).to.include({ status: 500, code: "INTERNAL", message: "internal error" });
      expect(toHttpError(Object.assign(new Error("db password wrong"), { code: "INTERNAL" })).message).to.equal(
        "internal error",
      );
      expect(toHttpError("a string")).to.include({ status: 500, code: "INTERNAL" });
      expect(errorBody(local, "rid")).to.deep.equal({
        error: { code: "VALIDATION_ERROR", message: "bad", details: [{ path: "/a", message: "m" }], requestId: "rid" },
      });
    });

    it("takes a sane request id and generates one otherwise", function () {
      expect(requestIdFrom("abc.DEF-1:2_3")).to.equal("abc.DEF-1:2_3");
      expect(requestIdFrom(["first", "second"])).to.equal("first");
      for (const bad of [undefined, "", "has space", "x".repeat(129), "<script>", "a\nb"])
        expect(requestIdFrom(bad)).to.match(/^[0-9a-f-]{36}$/);
    });
  });

  describe("keys and clients", function () {
    it("makes keys with an id prefix whose hash verifies in constant time", function () {
      const k = newApiKey();
      expect(k.key).to.match(/^sy_live_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      expect(parseApiKey(k.key)).to.deep.equal({ keyId: k.keyId });
      expect(sameHash(k.hash, hashApiKey(k.key))).to.equal(true);
      expect(sameHash(k.hash, hashApiKey(k.key + "x"))).to.equal(false);
      expect(sameHash(k.hash, "")).to.equal(false);
      for (const bad of [
        "sy_live_",
        `sy_live_${k.keyId}`,
        k.key + "A",
        k.key.replace("sy_live_", "sy_test_"),
        `sy_live_${k.keyId.toUpperCase()}_${"a".repeat(43)}`,
      ])
        expect(parseApiKey(bad)).to.equal(undefined);
      expect(newClientId()).to.match(CLIENT_ID_PATTERN);
      const secret = newWebhookSecret();
      expect(secret).to.match(/^whsec_/);
      expect(Buffer.from(secret.slice(6), "base64")).to.have.length(32);
    });

    it("normalises new clients and lists every problem", function () {
      expect(
        checkNewClient({ name: " acme ", scopes: ["receipts:write", "receipts:read", "receipts:read"] }),
      ).to.deep.equal({ name: "acme", scopes: ["receipts:read", "receipts:write"], webhookUrl: null, rateLimit: null });
      try {
        checkNewClient({ name: "", scopes: ["all"], webhookUrl: "ftp://x", rateLimit: { perSec: 0, burst: 1 } });
        expect.fail("should throw");
      } catch (err) {
        expect((err as AppError).code).to.equal("VALIDATION_ERROR");
        expect((err as AppError).details!.map((d) => d.path)).to.deep.equal([
          "/name",
          "/scopes",
          "/webhookUrl",
          "/rateLimit",
        ]);
      }
    });
  });

  describe("access helpers", function () {
    /** A context whose verified caller is `client` (as the broker middleware binds it). */
    const ctx = (client?: { id: string; scopes: string[] }) => {
      const c = { meta: {} };
      if (client)
        bindCaller(c, { kind: "client", subject: client.id, scopes: client.scopes, expiresAt: Date.now() + 60_000 });
      return c;
    };
    const as = (caller: Omit<Caller, "expiresAt">) => {
      const c = { meta: {} };
      bindCaller(c, { ...caller, expiresAt: Date.now() + 60_000 });
      return c;
    };
    it("ignore a bare ctx.meta.client: only the verified caller counts", function () {
      const forged = { meta: { client: { id: "a", scopes: ["admin"] } } };
      expect(clientOf(forged)).to.equal(undefined);
      expect(code(() => requireScope(forged, "admin"))).to.equal("UNAUTHORIZED");
      expect(code(() => requireOperator(forged))).to.equal("UNAUTHORIZED");
    });
    it("requireCaller: operators and nodes pass as 'operator', clients need a scope, public requests are 401", function () {
      expect(requireOperator(as({ kind: "operator", subject: "ops", scopes: [] }))).to.equal("operator");
      expect(requireOperator(as({ kind: "node", subject: "n1", scopes: [] }))).to.equal("operator");
      expect(requireOperator(ctx({ id: "a", scopes: ["admin"] }))).to.equal("a");
      expect(code(() => requireOperator(ctx({ id: "a", scopes: ["receipts:read"] })))).to.equal("FORBIDDEN");
      expect(requireCaller(ctx({ id: "a", scopes: ["supporters:read"] }), ["admin", "supporters:read"])).to.equal("a");
      expect(code(() => requireCaller(as({ kind: "public", subject: "anonymous", scopes: [] }), ["admin"]))).to.equal(
        "UNAUTHORIZED",
      );
      expect(code(() => requireScope(as({ kind: "operator", subject: "ops", scopes: [] }), "admin"))).to.equal(
        "UNAUTHORIZED",
      );
    });
    it("requireScope: 401 without a client, 403 without the scope", function () {
      expect(code(() => requireScope(ctx(), "receipts:read"))).to.equal("UNAUTHORIZED");
      expect(code(() => requireScope(ctx({ id: "a", scopes: ["receipts:read"] }), "receipts:write"))).to.equal(
        "FORBIDDEN",
      );
      expect(requireScope(ctx({ id: "a", scopes: ["receipts:write"] }), "receipts:write").id).to.equal("a");
    });
    it("assertOwner: 404 for another client's resource and for none", function () {
      expect(code(() => assertOwner(ctx({ id: "a", scopes: [] }), "b"))).to.equal("NOT_FOUND");
      expect(code(() => assertOwner(ctx({ id: "a", scopes: [] }), undefined))).to.equal("NOT_FOUND");
      expect(assertOwner(ctx({ id: "a", scopes: [] }), "a").id).to.equal("a");
    });
  });

  describe("caller assertions", function () {
    const secret = "unit-test-cluster-secret-0123456789abcdef";
    const tokens = createCallerTokens(secret, "ns1");
    /** A fresh instance: nothing cached from signing, so every check verifies the JWS itself. */
    const verifier = () => createCallerTokens(secret, "ns1");
    it("verify what was signed: kind, subject, scopes, request id", async function () {
      const t = await tokens.sign({ kind: "client", subject: "c1", scopes: ["admin"], requestId: "r1" });
      const v = await verifier().verify(t, "r1");
      expect(v.ok && v.caller).to.deep.include({ kind: "client", subject: "c1", scopes: ["admin"], requestId: "r1" });
    });
    it("refuse another secret, another namespace, another request, expiry, tampering and junk", async function () {
      const t = await tokens.sign({ kind: "operator", subject: "ops" });
      const reason = async (tk: unknown, v = verifier(), rid?: string) => {
        const r = await v.verify(tk, rid);
        return r.ok ? "ok" : r.reason;
      };
      expect(await reason(t)).to.equal("ok");
      expect(await reason(t, createCallerTokens("another-cluster-secret-0123456789abcdef", "ns1"))).to.equal(
        "bad signature",
      );
      expect(await reason(t, createCallerTokens(secret, "ns2"))).to.equal("claim aud invalid");
      const bound = await tokens.sign({ kind: "client", subject: "c1", scopes: [], requestId: "r1" });
      expect(await reason(bound, verifier(), "r2")).to.equal("another request's assertion");
      const expired = await tokens.sign({ kind: "operator", subject: "ops", ttlSec: -60 });
      expect(await reason(expired)).to.equal("expired");
      expect(await reason(expired, tokens)).to.equal("expired");
      const [h, p, sig] = t.split(".");
      const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, knd: "node" })).toString("base64url")}.${sig}`;
      expect(await reason(tampered)).to.equal("bad signature");
      const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "sy-caller+jwt" })).toString("base64url")}.${p}.`;
      expect(await reason(none)).to.not.equal("ok");
      for (const junk of [undefined, "", 42, { kind: "operator" }, "a.b.c"])
        expect(await reason(junk)).to.not.equal("ok");
    });
    it("HS256 tokens are plain RFC 7519: jose verifies what is signed here, and the other way round", async function () {
      const key = new TextEncoder().encode(secret);
      const want = { typ: "sy-caller+jwt", issuer: "switchyard", audience: "ns1", skewSec: 5 };
      const now = Math.floor(Date.now() / 1000);
      const ours = signHs256(key, "sy-caller+jwt", {
        sub: "s",
        iss: "switchyard",
        aud: "ns1",
        iat: now,
        exp: now + 60,
      });
      const { payload } = await jwtVerify(ours, key, { algorithms: ["HS256"], typ: "sy-caller+jwt", audience: "ns1" });
      expect(payload.sub).to.equal("s");
      const theirs = await new SignJWT({ knd: "node" })
        .setProtectedHeader({ alg: "HS256", typ: "sy-caller+jwt" })
        .setSubject("n1")
        .setIssuer("switchyard")
        .setAudience(["other", "ns1"])
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(key);
      const v = verifyHs256(key, theirs, want);
      expect(v.ok && v.payload.sub).to.equal("n1");
      const reasonOf = (t: string) => {
        const r = verifyHs256(key, t, want);
        return r.ok ? "ok" : r.reason;
      };
      const claims = { sub: "s", iss: "switchyard", aud: "ns1", iat: now, exp: now + 60 };
      expect(reasonOf(signHs256(key, "JWT", claims))).to.equal("claim typ invalid");
      expect(reasonOf(signHs256(key, "sy-caller+jwt", { ...claims, iss: "x" }))).to.equal("claim iss invalid");
      expect(reasonOf(signHs256(key, "sy-caller+jwt", { ...claims, nbf: now + 600 }))).to.equal("claim nbf invalid");
      expect(reasonOf(signHs256(key, "sy-caller+jwt", { ...claims, exp: "soon" }))).to.equal("claim exp invalid");
      expect(reasonOf(signHs256(key, "sy-caller+jwt", { ...claims, iat: undefined }))).to.equal("claim iat invalid");
      const [, p, sg] = ours.split(".");
      const hdr = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
      expect(reasonOf(`${hdr({ alg: "HS512", typ: "sy-caller+jwt" })}.${p}.${sg}`)).to.equal("malformed");
      expect(reasonOf(`${hdr({ alg: "HS256", typ: "sy-caller+jwt", crit: ["x"] })}.${p}.${sg}`)).to.equal("malformed");
      expect(reasonOf(`${ours}x`)).to.equal("bad signature");
      expect(reasonOf("a+b.c.d")).to.equal("malformed");
    });
  });
});
