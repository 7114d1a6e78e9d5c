/**
 * The operator console end to end, in headless Chromium (playwright-core with the machine's
 * /usr/bin/chromium; no browser is downloaded) against a real two-node cluster (child
 * processes, both hosting runtime, probe, gateway and console): sign in; the cluster page
 * shows both nodes and their partitions; a poison probe message's dead letter is found on the
 * DLQ page, edited (with validation), replayed, and lands in the actor's state; the audit log
 * shows both actions; the streams page's live chart moves while messages flow; alarms arrive
 * live. Every request the browser makes is checked to go to 127.0.0.1. Screenshots of each
 * page at 1280x800 and 390x844 go to var/console-screens/.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { ServiceBroker } from "moleculer";
import { cleanupNamespace, freshNamespace, nodeEnv, NATS_URL } from "../support/namespace";
import { startChild, type ChildNode } from "../support/node";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { connectNats, type NatsHandles } from "../../nats";
import { partitionOf, topology } from "../../streams/subjects";
import { loadConfig } from "../../node/config";
import { brokerOptions } from "../../moleculer.config";

const ROOT = path.resolve(__dirname, "..", "..");
const SHOTS = path.join(ROOT, "var", "console-screens");
const CHROMIUM = "/usr/bin/chromium";
const PARTITIONS = 8;
const SIZES = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;

describe("operator console in Chromium", function () {
  this.timeout(90_000);
  const ns = freshNamespace("tcon");
  const topo = topology(ns);
  const nodes: ChildNode[] = [];
  let nats: NatsHandles;
  let broker: ServiceBroker;
  let browser: Browser;
  let page: Page;
  let admin: { id: string; apiKey: string };
  let reader: { id: string; apiKey: string };
  const requested: string[] = [];
  const offHost: string[] = [];

  const publishProbe = (key: string, data: unknown, id: string) =>
    nats.js.publish(topo.actors.subject("probe", partitionOf(key, PARTITIONS), key), JSON.stringify(data), {
      msgID: id,
    });

  async function shoot(name: string): Promise<void> {
    for (const s of SIZES) {
      await page.setViewportSize({ width: s.width, height: s.height });
      await page.screenshot({ path: path.join(SHOTS, `${name}-${s.name}.png`), fullPage: false });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  /** One API call to node B (fetch, loopback). */
  const call = async (p: string, key: string | null, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${nodes[1]!.url}${p}`, {
      method: init.method ?? "GET",
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as { error?: { code: string; requestId: string } } };
  };

  let origin = "";
  /** Opens `hash` on node `i`'s console, signing in when the page comes from another node (the key lives in the page's memory only). */
  async function open(i: number, hash: string): Promise<void> {
    const url = nodes[i]!.url;
    await page.goto(`${url}/console${hash}`);
    if (origin !== url) {
      await page.fill('input[name="clientId"]', admin.id);
      await page.fill('input[name="secret"]', admin.apiKey);
      await page.click('button[type="submit"]');
      await page.locator("header nav").waitFor();
      origin = url;
    }
  }

  before(async function () {
    mkdirSync(SHOTS, { recursive: true });
    const env = { SERVICES: "runtime,probe,gateway,console", ACTOR_PARTITIONS: String(PARTITIONS), NAMESPACE: ns };
    const [pa, pb] = await Promise.all([freePort(), freePort()]);
    // the first node provisions and migrates; the second joins
    nodes.push(await startChild({ ...env, NODE_ID: "con-a", PORT: String(pa) }));
    const client = (name: string, scopes: string) =>
      promisify(execFile)(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "bin", "clients.ts"), "create", "--name", name, "--scopes", scopes],
        { cwd: ROOT, env: nodeEnv(ns) },
      ).then((r) => JSON.parse(r.stdout.trim().split("\n").pop()!) as { id: string; apiKey: string });
    const [b, nc, created, other] = await Promise.all([
      // node B also hosts a domain with console pages of its own
      startChild({ ...env, SERVICES: `${env.SERVICES},events`, NODE_ID: "con-b", PORT: String(pb) }),
      connectNats(NATS_URL, `test-${ns}`),
      client("console-operator", "admin"),
      client("console-reader", "probe:read"),
    ]);
    nodes.push(b);
    nats = nc;
    admin = created;
    reader = other;
    broker = new ServiceBroker(
      brokerOptions(loadConfig({ NAMESPACE: ns, NATS_URL, NODE_ID: `test-con-${process.pid}`, LOG_LEVEL: "warn" }), {
        logger: false,
      }),
    );
    await broker.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // Every request the page makes must stay on this machine's loopback: anything else is refused and recorded.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      requested.push(url);
      const host = new URL(url).hostname;
      if (host !== "127.0.0.1") {
        offHost.push(url);
        return route.abort();
      }
      return route.continue();
    });
    page = await context.newPage();
  });

  after(async function () {
    await browser?.close().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    await nats?.nc.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await cleanupNamespace(ns);
  });

  it("signs in with an admin client and keeps the key out of storage", async function () {
    await page.goto(`${nodes[0]!.url}/console`);
    await shoot("signin");
    await page.fill('input[name="clientId"]', admin.id);
    await page.fill('input[name="secret"]', "wrong-key");
    await page.click('button[type="submit"]');
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").textContent()).to.match(/INVALID_CLIENT|UNAUTHORIZED/);
    await page.fill('input[name="secret"]', admin.apiKey);
    await page.click('button[type="submit"]');
    await page.locator("header nav").waitFor();
    origin = nodes[0]!.url;
    // (runs in the page; the test's own lib has no DOM types)
    const stored = await page.evaluate(() => {
      const w = globalThis as unknown as {
        localStorage: { length: number };
        sessionStorage: { length: number };
        document: { cookie: string };
      };
      return { local: w.localStorage.length, session: w.sessionStorage.length, cookie: w.document.cookie };
    });
    expect(stored).to.deep.equal({ local: 0, session: 0, cookie: "" });
  });

  it("shows both nodes of the cluster and their partitions", async function () {
    await open(0, "#/cluster");
    await page.locator('[data-node="con-a"]').waitFor();
    await page.locator('[data-node="con-b"]').waitFor();
    // both nodes own partitions of the probe kind once they have balanced
    await waitFor(
      "partitions shared by both nodes",
      async () => {
        const owners = await page
          .locator('[data-kind="probe"] .cell')
          .evaluateAll((els) => els.map((e) => e.getAttribute("data-owner")));
        return owners.length === PARTITIONS && owners.includes("con-a") && owners.includes("con-b");
      },
      30_000,
      250,
    );
    expect(await page.locator('.node[data-node^="con-"]').count()).to.equal(2);
    await shoot("cluster");
  });

  it("finds a poison message's dead letter, edits it with validation, replays it, and the actor's state has it; the audit log shows both", async function () {
    const key = "poisoned1";
    await publishProbe(key, { n: 0 }, `${key}:0`);
    await publishProbe(key, { n: 1, poison: true }, `${key}:1`);
    await open(1, "#/dlq");
    // the group list comes from the DLQ's subjects: the probe's appears once its dead letter is stored
    await waitFor(
      "the probe's group in the filter",
      async () => (await page.locator('select[name="group"] option[value="actor.probe"]').count()) === 1,
      30_000,
      200,
    );
    await page.selectOption('select[name="group"]', "actor.probe");
    await page.fill('input[name="subject"]', key);
    await page.click('form[aria-label="filter dead letters"] button');
    const row = page.locator("tr[data-seq]", { hasText: key });
    await row.first().waitFor({ timeout: 30_000 });
    expect(await row.count()).to.equal(1);
    expect(await row.textContent()).to.contain("poison message n=1");
    await row.getByRole("button", { name: "view" }).click();
    await page.locator("tr.detail pre", { hasText: "Sy-Dlq-Error" }).waitFor();
    await shoot("dlq");
    await row.getByRole("button", { name: "edit" }).click();
    const body = page.locator('textarea[name="body"]');
    // not JSON: refused in the page
    await body.fill("{ n: ");
    expect(await page.getByRole("button", { name: "Save edit" }).isDisabled()).to.equal(true);
    // JSON of another shape: refused by the route (422), nothing changes
    await body.fill("[1]");
    await page.getByRole("button", { name: "Save edit" }).click();
    await page.locator(".editor .error", { hasText: "VALIDATION_ERROR" }).waitFor();
    await body.fill('{"n": 1}');
    await page.fill('input[name="reason"]', "drop the poison flag");
    await shoot("dlq-edit");
    await page.getByRole("button", { name: "Save edit" }).click();
    await page.getByRole("status").filter({ hasText: "edited" }).waitFor();
    const edited = page.locator("tr.edited[data-seq]", { hasText: key });
    await edited.waitFor();
    await edited.getByRole("button", { name: "replay" }).click();
    await page.getByRole("status").filter({ hasText: "replayed 1" }).waitFor();

    await open(0, `#/actor?kind=probe&key=${key}`);
    await waitFor(
      "the replayed message in the actor's state",
      async () => {
        const text =
          (await page
            .locator('[data-testid="actor-state"]')
            .textContent()
            .catch(() => "")) ?? "";
        return /"count": 2/.test(text) && /"last": 1/.test(text);
      },
      30_000,
      250,
    );
    await page.locator("ul.diff li", { hasText: "/s/count" }).first().waitFor();
    await shoot("actor");

    await open(0, "#/audit");
    await page.locator('tr[data-action="dlq.replay"]').first().waitFor();
    const edit = page.locator('tr[data-action="dlq.edit"]').first();
    await edit.waitFor();
    expect(await edit.textContent())
      .to.contain(admin.id)
      .and.to.contain("drop the poison flag");
    await shoot("audit");
  });

  it("updates the live chart while messages flow", async function () {
    await open(0, "#/streams");
    await page.locator('[data-testid="total-rate"]').waitFor({ timeout: 15_000 });
    let n = 0;
    let flowing = true;
    const flow = (async () => {
      // bounded: at most 15 s of 50 messages every 100 ms
      for (let i = 0; flowing && i < 150; i++) {
        await Promise.all(
          Array.from({ length: 50 }, () => publishProbe(`flow${n % 20}`, { n: Math.floor(n++ / 20) }, `flow:${n}`)),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const spark = page.locator('svg[aria-label="messages per second, all streams"]');
      await waitFor(
        "the chart to show messages per second",
        async () =>
          Number(await spark.getAttribute("data-last")) > 0 && Number(await spark.getAttribute("data-points")) >= 3,
        20_000,
        200,
      );
      const before = Number(await spark.getAttribute("data-points"));
      await waitFor(
        "the chart to move on",
        async () => Number(await spark.getAttribute("data-points")) > before,
        10_000,
        200,
      );
      await shoot("streams");
    } finally {
      flowing = false;
      await flow;
    }
  });

  it("lists alarms live", async function () {
    await open(0, "#/alarms");
    await page.getByText("No alarms since this node started.").waitFor();
    // as a domain's alarm monitor does (services broadcast alarm.* events)
    await broker.broadcast("alarm.dlq", {
      domain: "test",
      depth: 3,
      added: 1,
      subject: `${ns}.dlq.test.x`,
      at: new Date().toISOString(),
    });
    await page.locator("ul.alarms li", { hasText: "alarm.dlq" }).waitFor({ timeout: 10_000 });
    await shoot("alarms");
  });

  it("shows the pages each domain contributes, answered by the domain's own routes", async function () {
    await open(0, "#/domains");
    await page.locator("section.card h3", { hasText: "supporters" }).waitFor();
    await page.locator("section.card h3", { hasText: "events" }).waitFor();
    await page.getByRole("link", { name: "Tenant event stats" }).click();
    await page.locator('[data-page="tenant-events.stats"] button[type="submit"]').click();
    // the events domain's own admin route (GET /api/v1/admin/events/stats), served by node B
    await page.locator('[data-testid="domain-answer"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="domain-answer"]').textContent()).to.contain("con-b");
    await shoot("domains");
  });

  it("refuses what the API refuses, in the one error shape, and changes nothing", async function () {
    const url = nodes[1]!.url;
    const expectError = (
      r: { status: number; json: { error?: { code: string; requestId: string } } },
      status: number,
      code: string,
    ) => {
      expect(r.status).to.equal(status);
      expect(r.json.error?.code).to.equal(code);
      expect(r.json.error?.requestId).to.be.a("string");
    };
    expectError(await call("/api/v1/admin/console/cluster", null), 401, "UNAUTHORIZED");
    expectError(await call("/api/v1/admin/console/dlq", reader.apiKey), 403, "FORBIDDEN");
    expectError(
      await call("/api/v1/admin/console/dlq/999999", admin.apiKey, { method: "PUT", body: { data: {} } }),
      404,
      "NOT_FOUND",
    );
    expectError(
      await call("/api/v1/admin/console/dlq/1", admin.apiKey, { method: "PUT", body: { nodata: 1 } }),
      422,
      "VALIDATION_ERROR",
    );
    expectError(
      await call("/api/v1/admin/console/dlq/replay", admin.apiKey, { method: "POST", body: {} }),
      422,
      "VALIDATION_ERROR",
    );
    expectError(await call("/api/v1/admin/console/dlq?group=..", admin.apiKey), 400, "INVALID_PARAMETER");
    expectError(await call("/api/v1/admin/console/actors/nosuchkind/k1", admin.apiKey), 404, "NOT_FOUND");
    expectError(await call("/console/assets/missing.js", null), 404, "NOT_FOUND");
    // nothing of that reached the audit log: only the two actions of the page
    const audit = await call("/api/v1/admin/console/audit", admin.apiKey);
    expect((audit.json as unknown as { items: { action: string }[] }).items.map((i) => i.action)).to.deep.equal([
      "dlq.replay",
      "dlq.edit",
    ]);
    // the streams and alarms pages' live feeds on node A ended when the page left them
    await waitFor(
      "node A's live feeds to close",
      async () => {
        const c = await call("/api/v1/admin/console/cluster", admin.apiKey);
        const a = (c.json as unknown as { nodes: { id: string; info: { liveFeeds: number } | null }[] }).nodes.find(
          (n) => n.id === "con-a",
        );
        return a?.info?.liveFeeds === 0;
      },
      10_000,
      200,
    );
    const page = await fetch(`${url}/console`);
    expect(page.headers.get("content-security-policy"))
      .to.contain("default-src 'none'")
      .and.to.contain("connect-src 'self'");
  });

  it("replays a filtered set in the order the messages were first published, whatever order they were edited in", async function () {
    const key = "ordered1";
    for (let n = 0; n < 5; n++) await publishProbe(key, { n }, `${key}:${n}`);
    await publishProbe(key, { n: 5, poison: true }, `${key}:5`);
    await publishProbe(key, { n: 6, poison: true }, `${key}:6`);
    const q = `/api/v1/admin/console/dlq?group=actor.probe&subject=${key}`;
    type Page = { items: { seq: number; data: { n: number } }[] };
    const listed = await waitFor(
      "both dead letters",
      async () => {
        const r = await call(q, admin.apiKey);
        const items = (r.json as unknown as Page).items;
        return items.length === 2 ? items : undefined;
      },
      30_000,
      200,
    );
    expect(listed.map((e) => e.data.n)).to.deep.equal([5, 6]);
    // edit the later message first: its new DLQ sequence comes before the earlier one's
    const e6 = await call(`/api/v1/admin/console/dlq/${listed[1]!.seq}`, admin.apiKey, {
      method: "PUT",
      body: { data: { n: 6 } },
    });
    const e5 = await call(`/api/v1/admin/console/dlq/${listed[0]!.seq}`, admin.apiKey, {
      method: "PUT",
      body: { data: { n: 5 } },
    });
    const s5 = (e5.json as unknown as { seq: number }).seq;
    const s6 = (e6.json as unknown as { seq: number }).seq;
    expect(s6).to.be.below(s5);
    const r = await call("/api/v1/admin/console/dlq/replay", admin.apiKey, {
      method: "POST",
      body: { filter: { group: "actor.probe", subject: key } },
    });
    expect(r.status).to.equal(200);
    expect((r.json as unknown as { replayed: number[] }).replayed).to.deep.equal([s5, s6]);
    const kv = await nats.kvm.open(topo.actors.stateBucket("probe"));
    const state = await waitFor(
      "both replayed messages handled",
      async () => {
        const e = await kv.get(key);
        const st = e?.json<{ s: { count: number; last: number; violations: number } }>().s;
        return st && st.count === 7 ? st : undefined;
      },
      30_000,
      200,
    );
    expect(state).to.include({ last: 6, violations: 0 });
  });

  it("made no request that left 127.0.0.1", function () {
    expect(requested.length).to.be.above(10);
    expect(offHost).to.deep.equal([]);
  });
});
