/**
 * Tracking end to end on the real servers (NATS, Postgres, the push simulator): walking tracks
 * sent over HTTP, proximity decided by the device actors, durable nearby / faraway events, the
 * push through the notifications domain and the encounter scored by the rewards domain.
 * Each scenario walks in its own part of the city, so they never meet each other's devices.
 */
import { expect } from "chai";
import { offset, startWorld, waitFor, type SeenEvent, type World } from "./harness";

const CITY = { lat: 52.52, lng: 13.405 };
let area = 0;
/** A fresh part of the city (5 km from every other). */
function place(): { lat: number; lng: number } {
  area++;
  return offset(CITY.lat, CITY.lng, (area % 6) * 5000, Math.floor(area / 6) * 5000);
}

interface Dev {
  readonly id: string;
  readonly user: string;
  readonly role: "civilian" | "officer";
}

describe("tracking: proximity from walking tracks (real servers)", function () {
  this.timeout(120_000);
  let w: World;
  let n = 0;

  before(async function () {
    w = await startWorld();
  });
  after(async function () {
    await w?.close();
  });

  async function device(role: "civilian" | "officer", token?: string): Promise<Dev> {
    n++;
    const user = role === "civilian" ? await w.civilianUser(token ?? `tok-${n}`) : `off${n}`;
    const acct = await w.http(w.admin, "POST", "/api/v1/rewards/accounts", { id: user, kind: role });
    expect(acct.status, acct.text).to.be.oneOf([200, 201]);
    const id = `${role === "civilian" ? "c" : "o"}dev${n}`;
    const r = await w.http(w.producer, "PUT", "/api/v1/tracking/devices", { devices: [{ id, userId: user, role }] });
    expect(r.status, r.text).to.equal(200);
    return { id, user, role };
  }

  type At = { readonly dev: Dev; readonly lat: number; readonly lng: number; readonly speed?: number };
  async function send(list: readonly At[]): Promise<void> {
    const at = Date.now();
    const r = await w.http(w.producer, "POST", "/api/v1/tracking/positions", {
      positions: list.map((x) => ({
        deviceId: x.dev.id,
        lat: x.lat,
        lng: x.lng,
        accuracy: 5,
        speed: x.speed ?? 1.4,
        at,
      })),
    });
    expect(r.status, r.text).to.equal(202);
    await new Promise((res) => setTimeout(res, 15));
  }

  /** Walks `mover` from `dx0` to `dx1` metres east of `base` in `steps`, with `still` reporting where they are. */
  async function walk(
    mover: Dev,
    base: { lat: number; lng: number },
    dx0: number,
    dx1: number,
    steps: number,
    still: readonly At[] = [],
    speed = 1.4,
  ): Promise<void> {
    for (let i = 0; i <= steps; i++) {
      const p = offset(base.lat, base.lng, dx0 + ((dx1 - dx0) * i) / steps, 0);
      await send([{ dev: mover, ...p, speed }, ...still]);
    }
  }

  const of = (c: Dev, o: Dev, type?: string): SeenEvent[] =>
    w.events.filter((x) => x.e.civilian === c.id && x.e.officer === o.id && (!type || x.e.type === type));

  async function settle(): Promise<void> {
    // a moment for anything late to show (there must be nothing more)
    await new Promise((r) => setTimeout(r, 500));
  }

  it("a civilian walking up to a parked officer: one nearby, pushed once and scored once; one faraway when leaving", async function () {
    const base = place();
    const civ = await device("civilian", "tok-approach");
    const off = await device("officer");
    const parked: At = { dev: off, ...base, speed: 0 };
    await walk(civ, base, -1000, -50, 20, [parked]);
    await waitFor("nearby", () => of(civ, off, "nearby").length === 1);
    await walk(civ, base, -50, -1000, 20, [parked]);
    await waitFor("faraway", () => of(civ, off, "faraway").length === 1);
    await settle();
    const events = of(civ, off);
    expect(events.map((e) => e.e.type)).to.deep.equal(["nearby", "faraway"]);
    expect(events[1]!.e.reason).to.equal("parted");
    expect(events[0]!.e.meetingId).to.equal(events[1]!.e.meetingId);
    const pushed = await waitFor("the push", () => {
      const l = w.push.delivered.filter((m) => m.to === "tok-approach");
      return l.length > 0 ? l : undefined;
    });
    expect(pushed).to.have.length(1);
    expect(pushed[0]!.subject).to.equal("An officer is nearby");
    const tx = `trk-${events[0]!.e.meetingId}`;
    const outcome = await waitFor("the encounter scored", async () => {
      const r = await w.http(w.admin, "GET", `/api/v1/rewards/accounts/${civ.user}/transactions/${tx}`);
      return r.status === 200 && r.json.status !== "accepted" ? r.json : undefined;
    });
    expect(outcome.id).to.equal(tx);
  });

  it("two walking past each other: one nearby and one faraway", async function () {
    const base = place();
    const civ = await device("civilian");
    const off = await device("officer");
    for (let i = 0; i <= 40; i++) {
      const d = -800 + 40 * i;
      await send([
        { dev: civ, ...offset(base.lat, base.lng, d, 10) },
        { dev: off, ...offset(base.lat, base.lng, -d, -10) },
      ]);
    }
    await waitFor("faraway", () => of(civ, off, "faraway").length === 1);
    await settle();
    expect(of(civ, off).map((e) => e.e.type)).to.deep.equal(["nearby", "faraway"]);
  });

  it("one goes silent: faraway once the officer's silence passes the expiry", async function () {
    const base = place();
    const civ = await device("civilian");
    const off = await device("officer");
    await walk(civ, base, -600, -30, 12, [{ dev: off, ...base, speed: 0 }]);
    await waitFor("nearby", () => of(civ, off, "nearby").length === 1);
    // the civilian stays, the officer says nothing more
    const until = Date.now() + 6000;
    while (Date.now() < until && of(civ, off, "faraway").length === 0)
      await send([{ dev: civ, ...offset(base.lat, base.lng, -30 + (Date.now() % 2), 0), speed: 0 }]);
    await waitFor("faraway", () => of(civ, off, "faraway").length === 1, 10_000);
    await settle();
    const events = of(civ, off);
    expect(events.map((e) => [e.e.type, e.e.reason ?? null])).to.deep.equal([
      ["nearby", null],
      ["faraway", "gone"],
    ]);
  });

  it("the cooldown: staying near sends nothing more, and a new approach within the cooldown is silent", async function () {
    const base = place();
    const civ = await device("civilian", "tok-cool");
    const off = await device("officer");
    const parked: At = { dev: off, ...base, speed: 0 };
    await walk(civ, base, -500, -20, 10, [parked]);
    // lingering near the officer
    for (let i = 0; i < 10; i++) await send([{ dev: civ, ...offset(base.lat, base.lng, -20 - i * 3, 0) }, parked]);
    await walk(civ, base, -50, -600, 10, [parked]);
    await waitFor("faraway", () => of(civ, off, "faraway").length === 1);
    // and back again, within the cooldown
    await walk(civ, base, -600, -10, 12, [parked]);
    await walk(civ, base, -10, -700, 12, [parked]);
    await settle();
    expect(of(civ, off).map((e) => e.e.type)).to.deep.equal(["nearby", "faraway"]);
    await waitFor("the push", () => w.push.delivered.some((m) => m.to === "tok-cool"));
    await settle();
    expect(w.push.delivered.filter((m) => m.to === "tok-cool")).to.have.length(1);
  });

  it("no alert for an officer driving past", async function () {
    const base = place();
    const civ = await device("civilian");
    const off = await device("officer");
    for (let i = 0; i <= 20; i++)
      await send([
        { dev: civ, ...base, speed: 0 },
        { dev: off, ...offset(base.lat, base.lng, -1000 + 100 * i, 15), speed: 14 },
      ]);
    await settle();
    expect(of(civ, off)).to.deep.equal([]);
  });

  it("an officer who pauses sharing: the meeting ends, nobody is told of them while paused, and again after resuming", async function () {
    const base = place();
    const civ = await device("civilian");
    const late = await device("civilian");
    const off = await device("officer");
    const parked: At = { dev: off, ...base, speed: 0 };
    await walk(civ, base, -500, -20, 10, [parked]);
    await waitFor("nearby", () => of(civ, off, "nearby").length === 1);
    const p = await w.http(w.producer, "POST", `/api/v1/tracking/devices/${off.id}/pause`);
    expect(p.status, p.text).to.equal(200);
    expect(p.json).to.deep.equal({ id: off.id, paused: true });
    await waitFor("faraway", () => of(civ, off, "faraway").length === 1);
    expect(of(civ, off, "faraway")[0]!.e.reason).to.equal("gone");
    // while paused, the officer's positions are dropped: a civilian walking up learns nothing
    await walk(late, base, 500, 20, 10, [parked]);
    await settle();
    expect(of(late, off)).to.deep.equal([]);
    const r = await w.http(w.producer, "POST", `/api/v1/tracking/devices/${off.id}/resume`);
    expect(r.json).to.deep.equal({ id: off.id, paused: false });
    for (let i = 0; i < 20 && of(late, off, "nearby").length === 0; i++)
      await send([parked, { dev: late, ...offset(base.lat, base.lng, 20 + (i % 2), 0), speed: 0 }]);
    await waitFor("nearby after resuming", () => of(late, off, "nearby").length === 1);
  });

  it("privacy: no civilian-facing payload carries the officer's coordinates", async function () {
    const base = place();
    const civ = await device("civilian", "tok-private");
    const off = await device("officer");
    const spot = offset(base.lat, base.lng, 37, 23);
    const parked: At = { dev: off, ...spot, speed: 0 };
    await walk(civ, base, -500, 0, 10, [parked]);
    await waitFor("nearby", () => of(civ, off, "nearby").length === 1);
    const view = await w.http(w.producer, "GET", `/api/v1/tracking/devices/${civ.id}/nearby`);
    expect(view.status, view.text).to.equal(200);
    expect(view.json.nearby).to.have.length(1);
    expect(view.json.nearby[0].cell).to.equal(of(civ, off, "nearby")[0]!.e.cell);
    const pushed = await waitFor("the push", () => w.push.delivered.find((m) => m.to === "tok-private"));
    const ntf = await w.http(w.admin, "GET", `/api/v1/notifications/trk-${of(civ, off, "nearby")[0]!.e.meetingId}`);
    expect(ntf.status, ntf.text).to.equal(200);
    const payloads = [view.text, JSON.stringify(pushed), ntf.text, ...of(civ, off).map((e) => e.text)];
    // the officer's coordinates in any precision down to ~100 m
    const needles = [spot.lat, spot.lng].map((x) => x.toFixed(3));
    for (const text of payloads) {
      for (const needle of needles) expect(text, `a payload holds ${needle}`).not.to.contain(needle);
      expect(text).not.to.match(/"(lat|lng|latitude|longitude)"/);
    }
  });

  it("a push provider outage: the notifications are delivered after it, none lost, none doubled", async function () {
    const base = place();
    w.push.setConfig({ outage: true });
    const pairs: { civ: Dev; off: Dev; token: string }[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const token = `tok-outage-${i}`;
        pairs.push({ civ: await device("civilian", token), off: await device("officer"), token });
      }
      for (let s = 0; s <= 10; s++)
        await send(
          pairs.flatMap((p, i) => {
            const b = offset(base.lat, base.lng, 0, i * 2000);
            return [
              { dev: p.off, ...b, speed: 0 },
              { dev: p.civ, ...offset(b.lat, b.lng, -500 + 48 * s, 0) },
            ];
          }),
        );
      await waitFor("every nearby", () => pairs.every((p) => of(p.civ, p.off, "nearby").length === 1));
      await waitFor("the provider refused during the outage", () => w.push.counters.outageRefusals >= 3, 20_000);
      expect(w.push.delivered.filter((m) => m.to.startsWith("tok-outage"))).to.deep.equal([]);
    } finally {
      w.push.setConfig({ outage: false });
    }
    await waitFor(
      "every push after the outage",
      () => pairs.every((p) => w.push.delivered.some((m) => m.to === p.token)),
      40_000,
    );
    await settle();
    for (const p of pairs) expect(w.push.delivered.filter((m) => m.to === p.token)).to.have.length(1);
  });

  it("bad input is refused whole with every problem, and changes nothing", async function () {
    const civ = await device("civilian");
    const now = Date.now();
    const good = { deviceId: civ.id, lat: 1, lng: 1, accuracy: 5, at: now };
    const bad = await w.http(w.producer, "POST", "/api/v1/tracking/positions", {
      positions: [
        good,
        { ...good, lat: 200 },
        { deviceId: civ.id, lat: 1, lng: 1, accuracy: 5 },
        { ...good, at: now + 3_600_000 },
      ],
    });
    expect(bad.status, bad.text).to.equal(422);
    expect(bad.json.error.details.map((d: { path: string }) => d.path)).to.deep.equal([
      "/positions/1/lat",
      "/positions/2",
      "/positions/3/at",
    ]);
    const many = await w.http(w.producer, "POST", "/api/v1/tracking/positions", {
      positions: Array.from({ length: 1001 }, () => good),
    });
    expect(many.status).to.equal(422);
    const unknown = await w.http(w.producer, "POST", "/api/v1/tracking/positions", {
      positions: [{ ...good, deviceId: "nobody" }],
    });
    expect(unknown.status).to.equal(422);
    expect(unknown.json.error.details[0].path).to.equal("/positions/0/deviceId");
    expect((await w.http(w.producer, "POST", `/api/v1/tracking/devices/${civ.id}/pause`)).status).to.equal(409);
    expect((await w.http(w.producer, "POST", "/api/v1/tracking/devices/nobody/pause")).status).to.equal(404);
    const badDev = await w.http(w.producer, "PUT", "/api/v1/tracking/devices", {
      devices: [{ id: "x.y", userId: "u", role: "mayor" }],
    });
    expect(badDev.status).to.equal(422);
    expect((await w.http(w.admin, "GET", `/api/v1/tracking/devices/${civ.id}/nearby`)).status).to.equal(403);
  });
});
