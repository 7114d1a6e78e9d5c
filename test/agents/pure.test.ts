/**
 * The agents' pure cores, with no broker and no server: canary targets and outcomes, health
 * findings, the interaction window, burn rates and budgets, freshness, forecasts, and every
 * security check on a snapshot that has its risky state and one that does not.
 */
import { expect } from "chai";
import type { RouteSpec } from "../../gateway/routes";
import { parseEgressAllow, STRICT_EGRESS } from "../../lib/egress";
import { foldObservations } from "../../services/agents/findings";
import { classifyCanary, healthObservations, healthTargets, isCanaryRoute, isUp } from "../../services/agents/health";
import {
  burnObservations,
  burnRate,
  canaryChangeOf,
  evaluateSlos,
  forecast,
  forecastObservation,
  freshnessObservations,
  interactionOf,
  InteractionWindow,
  modelProblems,
  type Interaction,
  type QualityModel,
} from "../../services/agents/quality";
import {
  devSettingsOf,
  routeMatches,
  securityObservations,
  type SecuritySnapshot,
} from "../../services/agents/security";
import { DEFAULT_PUBLIC_ROUTES } from "../../services/agents/config";
import { findingRows } from "../../services/agents/repl";

const route = (r: Partial<RouteSpec> & Pick<RouteSpec, "method" | "path" | "action">): RouteSpec => ({
  access: "admin",
  summary: "",
  responses: { 200: { description: "ok" } },
  ...r,
});

describe("agents: health (pure)", function () {
  it("sends canaries to GET routes without path parameters, required query or streams, a few per service", function () {
    const routes = [
      route({ method: "GET", path: "/a", action: "svc.list" }),
      route({ method: "GET", path: "/a/{id}", action: "svc.get", params: { properties: { id: {} } } }),
      route({ method: "POST", path: "/a", action: "svc.create" }),
      route({ method: "GET", path: "/q", action: "svc.search", query: { required: ["q"] } }),
      route({
        method: "GET",
        path: "/live",
        action: "svc.live",
        responses: { 200: { description: "", contentType: "text/event-stream" } },
      }),
      route({ method: "GET", path: "/health/live", action: "gateway.live", nodeLocal: true }),
      route({ method: "GET", path: "/b", action: "svc.b" }),
      route({ method: "GET", path: "/c", action: "svc.c" }),
      route({ method: "GET", path: "/d", action: "svc.d" }),
    ];
    expect(routes.filter(isCanaryRoute).map((r) => r.action)).to.deep.equal(["svc.list", "svc.b", "svc.c", "svc.d"]);
    const t = healthTargets(
      [
        { name: "svc", nodeID: "n2" },
        { name: "svc", nodeID: "n1" },
        { name: "$node", nodeID: "n1" },
        { name: "runtime", nodeID: "n1" },
        { name: "skipped", nodeID: "n1" },
      ],
      ["gone", "svc"],
      routes,
      3,
      ["skipped"],
    );
    expect(t).to.deep.equal([
      { service: "gone", nodes: [], actions: [] },
      { service: "runtime", nodes: ["n1"], actions: [] },
      { service: "svc", nodes: ["n1", "n2"], actions: ["svc.list", "svc.b", "svc.c"] },
    ]);
  });

  it("counts any answer as up, a 5xx as error, no endpoint or a timeout as down", function () {
    expect(classifyCanary(undefined)).to.equal("up");
    expect(classifyCanary({ name: "AppError", code: "UNAUTHORIZED" })).to.equal("up");
    expect(classifyCanary({ name: "ValidationError", code: 422 })).to.equal("up");
    expect(classifyCanary({ name: "AppError", code: "INTERNAL" })).to.equal("error");
    expect(classifyCanary({ name: "TypeError" })).to.equal("error");
    expect(classifyCanary({ name: "ServiceNotFoundError", code: 404, type: "SERVICE_NOT_FOUND" })).to.equal("down");
    expect(classifyCanary({ name: "RequestTimeoutError", code: 504 })).to.equal("down");
    expect(classifyCanary({ name: "ServiceNotAvailableError", code: 404 })).to.equal("down");
  });

  it("raises service-down, service-errors and service-slow from a round", function () {
    const ok = { service: "s", target: "s.a", outcome: "up" as const, latencyMs: 5 };
    const down = { ...ok, outcome: "down" as const, error: "timed out" };
    expect(isUp([], [])).to.equal(false);
    expect(isUp(["n1"], [])).to.equal(true);
    expect(isUp(["n1"], [down])).to.equal(false);
    expect(isUp(["n1"], [down, ok])).to.equal(true);
    const obs = healthObservations(
      [
        { service: "gone", up: false, nodes: [], latencyMs: 0, availability: 0.5, results: [] },
        { service: "dead", up: false, nodes: ["n1"], latencyMs: 1000, availability: 0, results: [down] },
        { service: "half", up: true, nodes: ["n1"], latencyMs: 5, availability: 1, results: [ok, down] },
        {
          service: "slow",
          up: true,
          nodes: ["n1"],
          latencyMs: 900,
          availability: 1,
          results: [{ ...ok, latencyMs: 900 }],
        },
        { service: "fine", up: true, nodes: ["n1"], latencyMs: 5, availability: 1, results: [ok] },
      ],
      500,
    );
    expect(obs.map((o) => [o.kind, o.subject, o.severity])).to.deep.equal([
      ["service-down", "gone", "critical"],
      ["service-down", "dead", "critical"],
      ["service-errors", "half", "high"],
      ["service-slow", "slow", "medium"],
    ]);
    expect(obs[0]!.detail.message).to.equal("gone: no node hosts it any more");
  });

  it("folds the same observation twice into its most severe, and shows findings as REPL rows", function () {
    const o = { kind: "k", subject: "s", detail: { message: "m" } };
    expect(
      foldObservations([
        { ...o, severity: "low" },
        { ...o, severity: "high" },
        { ...o, severity: "medium" },
      ]),
    ).to.deep.equal([{ ...o, severity: "high" }]);
    const rows = findingRows([
      {
        ...o,
        severity: "high",
        id: "af_0000000000000000001",
        agent: "health",
        firstSeen: "2026-01-01T00:00:00.000Z",
        lastSeen: "2026-01-01T00:00:01.000Z",
      },
    ]);
    expect(rows).to.have.length(2);
    expect(rows[1]).to.deep.equal([
      "af_0000000000000000001",
      "health",
      "high",
      "k",
      "s",
      "2026-01-01T00:00:01.000Z",
      "open",
      "m",
    ]);
  });
});

describe("agents: quality (pure)", function () {
  const now = Date.parse("2026-06-01T12:00:00Z");
  const model: QualityModel = {
    slos: [
      { id: "svc", service: "*", availability: 0.99, p99Ms: 100 },
      { id: "pay", service: "orders", route: "POST /api/v1/orders", availability: 0.999, p99Ms: 50 },
    ],
    freshness: [
      { stream: "JOBS", maxAgeMs: 1000, maxPending: 10 },
      { stream: "*", maxAgeMs: 60_000, maxPending: 1000 },
    ],
    windows: { shortMs: 60_000, longMs: 600_000 },
    minRequests: 20,
  };
  const rec = (over: Partial<Interaction>, agoMs = 0): Interaction => ({
    at: new Date(now - agoMs).toISOString(),
    route: "/api/v1/orders",
    method: "POST",
    service: "orders",
    version: "v1",
    client: "c",
    status: 201,
    latencyMs: 10,
    requestId: "r",
    ...over,
  });
  const windowOf = (recs: Interaction[]) => {
    const w = new InteractionWindow(model.windows.longMs);
    w.setThresholds(
      model.slos.map((s) => s.p99Ms),
      model.windows.longMs,
    );
    for (const r of recs) w.record(r, now);
    return w;
  };

  it("reads interaction records and refuses what is not one", function () {
    expect(interactionOf(rec({}))).to.deep.equal(rec({}));
    expect(interactionOf({ ...rec({}), batch: true })?.batch).to.equal(true);
    expect(interactionOf({ ...rec({}), status: 99 })).to.equal(undefined);
    expect(interactionOf({ ...rec({}), latencyMs: -1 })).to.equal(undefined);
    expect(interactionOf({ ...rec({}), at: "yesterday" })).to.equal(undefined);
    expect(interactionOf("x")).to.equal(undefined);
  });

  it("computes burn rates in both windows and the budget left", function () {
    expect(burnRate(0, 0, 0.99)).to.equal(0);
    expect(burnRate(1, 100, 0.99)).to.be.closeTo(1, 1e-9);
    // long window: 1000 good earlier; short window: 100 with 20 bad and 5 slow
    const recs = [
      ...Array.from({ length: 1000 }, (_, i) => rec({ requestId: `o${i}` }, 300_000)),
      ...Array.from({ length: 100 }, (_, i) =>
        rec({ status: i < 20 ? 503 : 201, latencyMs: i >= 95 ? 500 : 10, requestId: `n${i}` }),
      ),
      // outside the long window: ignored
      rec({ status: 500 }, 700_000),
    ];
    const st = evaluateSlos(model, windowOf(recs), now);
    const svc = st.find((s) => s.slo === "svc")!;
    expect(svc.short).to.include({ total: 100, bad: 20, slow: 5, availabilityBurn: 20, latencyBurn: 5 });
    expect(svc.long.total).to.equal(1100);
    expect(svc.long.availabilityBurn).to.be.closeTo(20 / 1100 / 0.01, 0.001);
    expect(svc.budgetRemaining).to.be.closeTo(1 - svc.long.availabilityBurn, 0.001);
    const obs = burnObservations(model, st);
    const burn = obs.find((o) => o.kind === "slo-burn" && o.subject === "svc:orders")!;
    // min(20, 1.818...) > 1: medium
    expect(burn.severity).to.equal("medium");
    const pay = obs.find((o) => o.kind === "slo-burn" && o.subject === "pay:orders POST /api/v1/orders")!;
    expect(pay.severity).to.equal("critical");
    // latency burns 5x in the short window but 0.45x over the long one: a blip, not a finding
    expect(svc.long.latencyBurn).to.be.closeTo(5 / 1100 / 0.01, 0.001);
    expect(obs.filter((o) => o.kind === "slo-latency")).to.deep.equal([]);
  });

  it("says nothing below minRequests, and nothing for 4xx answers", function () {
    const few = Array.from({ length: 10 }, () => rec({ status: 500 }));
    expect(burnObservations(model, evaluateSlos(model, windowOf(few), now))).to.deep.equal([]);
    const clientErrors = Array.from({ length: 100 }, () => rec({ status: 404 }));
    expect(burnObservations(model, evaluateSlos(model, windowOf(clientErrors), now))).to.deep.equal([]);
  });

  it("finds stale queues by age and length with the first matching freshness entry", function () {
    const obs = freshnessObservations(model, "SY", [
      { stream: "SY_JOBS", consumer: "job-a", pending: 5, oldestAgeMs: 5000 },
      { stream: "SY_JOBS", consumer: "job-b", pending: 50, oldestAgeMs: 5000 },
      { stream: "SY_ACTOR_X", consumer: "p0", pending: 5, oldestAgeMs: 5000 },
      { stream: "SY_ACTOR_X", consumer: "p1", pending: 0, oldestAgeMs: null },
    ]);
    expect(obs.map((o) => [o.subject, o.severity])).to.deep.equal([
      ["SY_JOBS/job-a", "medium"],
      ["SY_JOBS/job-b", "high"],
    ]);
  });

  it("forecasts a canary at any share from its observed rates and the baseline's", function () {
    const canary = { total: 100, bad: 30, slow: 0, p99Ms: 10 };
    const base = { total: 900, bad: 0, slow: 9, p99Ms: 10 };
    const c = { service: "orders", version: "v2", baseline: "v1" };
    const at1 = forecast(c, canary, base, 1, { availability: 0.99, p99Ms: 100 }, 20);
    expect(at1).to.include({ observedShare: 0.1, errorRate: 0.3, availabilityBurn: 30, slowRate: 0, confident: true });
    const at10 = forecast(c, canary, base, 0.1, { availability: 0.99, p99Ms: 100 }, 20);
    expect(at10.errorRate).to.be.closeTo(0.03, 1e-9);
    expect(at10.slowRate).to.be.closeTo(0.009, 1e-9);
    expect(forecastObservation(at1)).to.include({ kind: "forecast", subject: "orders@v2", severity: "high" });
    const healthy = forecast(c, { ...canary, bad: 0 }, base, 1, { availability: 0.99, p99Ms: 100 }, 20);
    expect(forecastObservation(healthy)).to.equal(undefined);
    const unsure = forecast(c, { ...canary, total: 5, bad: 5 }, base, 1, { availability: 0.99, p99Ms: 100 }, 20);
    expect(unsure.confident).to.equal(false);
    expect(forecastObservation(unsure)).to.equal(undefined);
  });

  it("reads canary changes and checks what the model schema cannot", function () {
    const c = {
      service: "s",
      version: "v2",
      share: 0.1,
      state: "running",
      baseline: "v1",
      thresholds: {},
      reason: "x",
    };
    expect(canaryChangeOf(c)).to.deep.include({ service: "s", state: "running", share: 0.1 });
    expect(canaryChangeOf({ ...c, state: "paused" })).to.equal(undefined);
    expect(canaryChangeOf({ ...c, share: 2 })).to.equal(undefined);
    expect(modelProblems(model)).to.deep.equal([]);
    expect(
      modelProblems({ ...model, slos: [model.slos[0]!, model.slos[0]!], windows: { shortMs: 10, longMs: 5 } }),
    ).to.deep.equal([
      { path: "/slos/1/id", message: "id svc is used twice" },
      { path: "/windows/shortMs", message: "must not be longer than longMs" },
    ]);
  });
});

describe("agents: security (pure)", function () {
  const now = Date.parse("2026-06-01T12:00:00Z");
  const day = 86_400_000;
  const iso = (ms: number) => new Date(ms).toISOString();
  const risky: SecuritySnapshot = {
    now,
    clients: [
      {
        id: "cl_admin",
        name: "ops",
        scopes: ["admin"],
        status: "active",
        webhookUrl: null,
        createdAt: iso(now - day),
        keys: [{ keyId: "k1", createdAt: iso(now - day), expiresAt: null }],
      },
      {
        id: "cl_old",
        name: "old",
        scopes: ["receipts:read"],
        status: "active",
        webhookUrl: "http://192.168.1.10/hook",
        createdAt: iso(now - 200 * day),
        keys: [
          { keyId: "k2", createdAt: iso(now - 200 * day), expiresAt: null },
          { keyId: "k3", createdAt: iso(now - 200 * day), expiresAt: iso(now - day) },
        ],
      },
      {
        id: "cl_susp",
        name: "gone",
        scopes: ["receipts:read"],
        status: "suspended",
        webhookUrl: "http://localhost:9000/x",
        createdAt: iso(now - day),
        keys: [{ keyId: "k4", createdAt: iso(now - day), expiresAt: null }],
      },
    ],
    nodes: [
      { node: "n1", devMode: false, devSettings: ["cluster.devSecret"] },
      { node: "n2", devMode: true, devSettings: ["master.devKey"] },
    ],
    routes: [
      { method: "GET", path: "/health/live", access: "public" },
      { method: "GET", path: "/api/v1/secret-things", access: "public" },
      { method: "GET", path: "/api/v1/admin/live", access: "admin", rateLimited: false },
      { method: "GET", path: "/api/v1/things", access: "things:read" },
    ],
    publicRoutes: DEFAULT_PUBLIC_ROUTES,
    throttle: { unauthPerSec: 0, tokenPerSec: 10 },
    jetstream: { readable: true, server: "n1", version: "2.10.4", syncInterval: "2m0s" },
    egress: parseEgressAllow(["localhost"]).policy,
    keyMaxAgeDays: 90,
  };

  it("finds every risky state of a snapshot, each once", function () {
    const obs = securityObservations(risky);
    expect(obs.map((o) => [o.kind, o.subject, o.severity])).to.deep.equal([
      ["admin-client", "cl_admin", "medium"],
      ["key-age", "cl_old/k2", "medium"],
      ["dev-secret", "n1/cluster.devSecret", "critical"],
      ["public-route", "GET /api/v1/secret-things", "high"],
      ["rate-limit-off", "GET /api/v1/admin/live", "low"],
      ["rate-limit-off", "GATEWAY_UNAUTH_PER_SEC", "medium"],
      ["jetstream-sync", "jetstream/n1", "medium"],
      ["webhook-private", "cl_old", "high"],
      ["webhook-private", "cl_susp", "low"],
      ["suspended-credentials", "cl_susp", "medium"],
    ]);
  });

  it("finds nothing in a snapshot without risky state (and says when JetStream cannot be read)", function () {
    const safe: SecuritySnapshot = {
      ...risky,
      clients: [{ ...risky.clients[1]!, webhookUrl: "https://hooks.example.com/x", keys: [] }],
      nodes: [{ node: "n1", devMode: false, devSettings: [] }],
      routes: risky.routes.filter((r) => r.path !== "/api/v1/secret-things" && r.rateLimited !== false),
      throttle: { unauthPerSec: 10, tokenPerSec: 10 },
      jetstream: { readable: true, server: "n1", version: "2.10.4", syncInterval: "always" },
      egress: STRICT_EGRESS,
    };
    expect(securityObservations(safe)).to.deep.equal([]);
    const unread = securityObservations({ ...safe, jetstream: { readable: false, reason: "no endpoint" } });
    expect(unread.map((o) => [o.kind, o.severity])).to.deep.equal([["jetstream-sync", "info"]]);
  });

  it("matches route patterns segment by segment", function () {
    expect(routeMatches("POST /api/v1/callbacks/*", "POST", "/api/v1/callbacks/tax")).to.equal(true);
    expect(routeMatches("POST /api/v1/callbacks/*", "GET", "/api/v1/callbacks/tax")).to.equal(false);
    expect(routeMatches("GET /api/v1/*/downloads/*", "GET", "/api/v1/x/downloads/{id}")).to.equal(true);
    expect(routeMatches("GET /console", "GET", "/console/other")).to.equal(false);
    expect(routeMatches("GET /console/assets/*", "GET", "/console/assets")).to.equal(false);
  });

  it("names the development settings of a configuration, never their values", function () {
    const found = devSettingsOf(
      {
        cluster: { secret: "switchyard-dev-cluster-secret", devSecret: true },
        master: { keys: ["KNOWN"], devKey: false },
        shop: { cardSecret: "dev-card-webhook-secret", url: "http://dev.example.com", token: "s3cr3t-real-value" },
        other: { nested: { pepper: "change-me" } },
      },
      ["KNOWN"],
    );
    expect(found).to.deep.equal([
      "cluster.devSecret",
      "cluster.secret",
      "master.keys",
      "other.nested.pepper",
      "shop.cardSecret",
    ]);
  });
});
