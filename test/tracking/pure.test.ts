/**
 * The tracking domain's pure parts, with no server: the cell scheme (resolution from the
 * radius, disks that hold every point within the radius), the device actor's filters, and the
 * pair state machine (one nearby and one faraway per meeting, cooldown, speed, time window).
 */
import { expect } from "chai";
import {
  cellToLatLng,
  diskRingsFor,
  edgeLengthM,
  gridDisk,
  gridDistance,
  haversineM,
  latLngToCell,
  parseCell,
  resolutionFor,
} from "../../services/tracking/cells";
import { applyPosition, newDevice, type FilterSettings } from "../../services/tracking/device.actor";
import {
  evaluatePair,
  goneFromPair,
  newPair,
  type Party,
  type ProximityRules,
} from "../../services/tracking/proximity";
import { batchProblems } from "../../services/tracking/model";
import { Limiter } from "../../services/tracking/limiter";
import { ProximityDisks } from "../../services/tracking/disks";
import { getPentagons, cellToLatLng as cellToLatLngPair } from "h3-js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("tracking: cells (pure)", function () {
  it("takes the resolution from the radius: res 9 for 200 m, coarser for larger radii", function () {
    expect(resolutionFor(200)).to.equal(9);
    expect(edgeLengthM(9)).to.be.closeTo(200.8, 0.1);
    expect(resolutionFor(500)).to.equal(8);
    expect(resolutionFor(50)).to.equal(10);
    expect(edgeLengthM(8) / edgeLengthM(9)).to.be.closeTo(Math.sqrt(7), 0.01);
  });

  it("names a point's cell stably, and the cell's centre is in it", function () {
    const c = latLngToCell(52.52, 13.405, 9);
    expect(parseCell(c)?.res).to.equal(9);
    const centre = cellToLatLng(c);
    expect(latLngToCell(centre.lat, centre.lng, 9)).to.equal(c);
    expect(haversineM(52.52, 13.405, centre.lat, centre.lng)).to.be.below(edgeLengthM(9));
    expect(latLngToCell(-0.0000001, -0.0000001, 9)).to.equal(latLngToCell(0.0000001, 0.0000001, 9));
  });

  it("a disk of k rings has 3k(k+1)+1 cells, each within k rings", function () {
    const c = latLngToCell(40.7, -74, 9);
    for (const k of [0, 1, 2, 3]) {
      const d = gridDisk(c, k);
      expect(d).to.have.length(3 * k * (k + 1) + 1);
      expect(new Set(d).size).to.equal(d.length);
      expect(Math.max(...d.map((x) => gridDistance(c, x)))).to.equal(k);
    }
  });

  it("the disk for a radius holds the cell of every point within the radius, at any latitude", function () {
    const r = rng(7);
    for (const lat0 of [0, 35, 52.5, 70]) {
      const k = diskRingsFor(200, lat0, 9);
      for (let i = 0; i < 2000; i++) {
        const lat = lat0 + (r() - 0.5) * 0.2;
        const lng = (r() - 0.5) * 0.2;
        const bearing = r() * 2 * Math.PI;
        const dist = r() * 200;
        const lat2 = lat + (dist * Math.cos(bearing)) / 111_195;
        const lng2 = lng + (dist * Math.sin(bearing)) / (111_195 * Math.cos((lat * Math.PI) / 180));
        if (haversineM(lat, lng, lat2, lng2) > 200) continue;
        const a = latLngToCell(lat, lng, 9);
        const b = latLngToCell(lat2, lng2, 9);
        expect(gridDistance(a, b), `${lat},${lng} -> ${lat2},${lng2}`).to.be.at.most(k);
      }
    }
  });
});

const F: FilterSettings = { minIntervalMs: 1000, minDistanceM: 10, heartbeatMs: 20_000, maxAccuracyM: 50, res: 9 };

describe("tracking: the candidate disk of a point (pure)", function () {
  it("holds the cell of every point within the radius, at any latitude, and is mostly one ring", function () {
    const r = rng(11);
    for (const lat0 of [0, 35, 52.5, 70]) {
      const disks = new ProximityDisks(200, 9);
      const sizes = new Map<number, number>();
      for (let i = 0; i < 4000; i++) {
        const lat = lat0 + (r() - 0.5) * 0.05;
        const lng = (r() - 0.5) * 0.05;
        const a = latLngToCell(lat, lng, 9);
        const disk = disks.diskFor(a, lat, lng);
        sizes.set(disk.length, (sizes.get(disk.length) ?? 0) + 1);
        // the far ones matter most: half of the points are just inside the radius
        const bearing = r() * 2 * Math.PI;
        const dist = r() < 0.5 ? 199 + r() : r() * 200;
        const lat2 = lat + (dist * Math.cos(bearing)) / 111_195;
        const lng2 = lng + (dist * Math.sin(bearing)) / (111_195 * Math.cos((lat * Math.PI) / 180));
        if (haversineM(lat, lng, lat2, lng2) > 200) continue;
        expect(disk, `${lat},${lng} -> ${lat2},${lng2}`).to.include(latLngToCell(lat2, lng2, 9));
      }
      // one ring (7 cells) or two (19) everywhere here; the 61 cells of the worst case never
      expect(
        [...sizes.keys()].every((n) => n === 7 || n === 19),
        `${lat0}: ${[...sizes]}`,
      ).to.equal(true);
      expect(sizes.get(7) ?? 0, `${lat0}: ${[...sizes]}`).to.be.above(2000);
    }
  });

  it("falls back to the worst-case disk at a pentagon, and bounds its memo", function () {
    const pentagon = getPentagons(9)[0]!;
    const [lat, lng] = cellToLatLngPair(pentagon);
    const disks = new ProximityDisks(200, 9, 3);
    expect(disks.diskFor(pentagon, lat, lng)).to.have.length(gridDisk(pentagon, diskRingsFor(200, lat, 9)).length);
    for (const [la, ln] of [
      [10, 10],
      [20, 20],
      [30, 30],
      [40, 40],
    ] as const)
      disks.diskFor(latLngToCell(la, ln, 9), la, ln);
    expect(disks.size).to.be.at.most(3);
  });
});

describe("tracking: the device actor's filters (pure)", function () {
  const pos = (lat: number, at: number, extra: object = {}) => ({
    deviceId: "d",
    lat,
    lng: 13.4,
    accuracy: 5,
    at,
    ...extra,
  });

  it("accepts the first position and sets the cell; drops stale, inaccurate, too early and too close ones", function () {
    let s = newDevice("d", "civilian", "u", 0);
    const first = applyPosition(s, pos(52.5, 10_000), 1, F);
    expect(first.accepted).to.equal(true);
    s = first.state;
    expect(s.cell).to.equal(latLngToCell(52.5, 13.4, 9));
    expect(applyPosition(s, pos(52.6, 9_000), 2, F)).to.deep.include({ accepted: false, reason: "stale" });
    expect(applyPosition(s, pos(52.6, 20_000, { accuracy: 80 }), 2, F)).to.deep.include({
      accepted: false,
      reason: "accuracy",
    });
    expect(applyPosition(s, pos(52.6, 10_500), 2, F)).to.deep.include({ accepted: false, reason: "interval" });
    const close = applyPosition(s, pos(52.50005, 15_000), 3, F);
    expect(close).to.deep.include({ accepted: false, reason: "distance" });
    expect(close.state.seenAt).to.equal(3);
    // a parked device is still accepted once the heartbeat is due
    expect(applyPosition(s, pos(52.50005, 31_000), 4, F).accepted).to.equal(true);
  });

  it("derives the speed when the device gives none, and keeps the one it gives", function () {
    const s = applyPosition(newDevice("d", "officer", "u", 0), pos(52.5, 0), 0, F).state;
    const moved = applyPosition(s, pos(52.5 + 100 / 111_195, 10_000), 0, F);
    expect(moved.accepted && moved.state.speed).to.be.closeTo(10, 0.05);
    const given = applyPosition(s, pos(52.5 + 100 / 111_195, 10_000, { speed: 1.5 }), 0, F);
    expect(given.state.speed).to.equal(1.5);
  });
});

const R: ProximityRules = { radiusM: 200, hysteresis: 1.25, windowMs: 30_000, maxSpeedMps: 4, cooldownMs: 600_000 };

describe("tracking: the pair state machine (pure)", function () {
  const party = (id: string, dx: number, at: number, speed = 1): Party => ({
    id,
    user: `u-${id}`,
    lat: 52.5,
    lng: 13.4 + dx / (111_195 * Math.cos((52.5 * Math.PI) / 180)),
    at,
    speed,
    cell: latLngToCell(52.5, 13.4, 9),
  });

  it("one nearby when they meet, nothing while they stay, one faraway when they part (with hysteresis)", function () {
    let p = newPair("c", "o", 1);
    const o = party("o", 0, 0, 0);
    const types: string[] = [];
    for (const [dx, t] of [
      [500, 1],
      [190, 2],
      [100, 3],
      [220, 4],
      [240, 5],
      [260, 6],
      [600, 7],
    ] as const) {
      const out = evaluatePair(p, party("c", dx, t * 1000), o, t, R);
      p = out.pair;
      if (out.event) types.push(`${out.event.type}@${dx}`);
    }
    expect(types).to.deep.equal(["nearby@190", "faraway@260"]);
    expect(p.meetings).to.equal(1);
    expect(p.outbox.map((e) => e.type)).to.deep.equal(["nearby", "faraway"]);
  });

  it("the events carry the officer's cell and never the officer's position", function () {
    const out = evaluatePair(newPair("c", "o", 1), party("c", 50, 0), party("o", 0, 0), 0, R);
    expect(out.event).to.include({ type: "nearby", civilian: "c", officer: "o", cell: latLngToCell(52.5, 13.4, 9) });
    expect(JSON.stringify(out.event)).not.to.match(/lat|lng|13\.4|52\.5/);
  });

  it("a new approach within the cooldown is silent, after it a new meeting with a new id", function () {
    const o = (t: number) => party("o", 0, t, 0);
    let p = evaluatePair(newPair("c", "o", 1), party("c", 50, 0), o(0), 0, R).pair;
    const first = p.outbox[0]!.meetingId;
    p = evaluatePair(p, party("c", 900, 1000), o(1000), 0, R).pair;
    const again = evaluatePair(p, party("c", 50, 60_000), o(60_000), 0, R);
    expect(again.event).to.equal(undefined);
    expect(again.pair).to.include({ near: true, silent: true });
    const left = evaluatePair(again.pair, party("c", 900, 70_000), o(70_000), 0, R);
    expect(left.event).to.equal(undefined);
    const later = evaluatePair(left.pair, party("c", 50, 700_000), party("o", 0, 700_000, 0), 0, R);
    expect(later.event?.type).to.equal("nearby");
    expect(later.event?.meetingId).not.to.equal(first);
  });

  it("no meeting when either moves too fast or their positions are too far apart in time", function () {
    const p = newPair("c", "o", 1);
    expect(evaluatePair(p, party("c", 50, 0), party("o", 0, 0, 14), 0, R).event).to.equal(undefined);
    expect(evaluatePair(p, party("c", 50, 0, 9), party("o", 0, 0, 0), 0, R).event).to.equal(undefined);
    expect(evaluatePair(p, party("c", 50, 60_000), party("o", 0, 0, 0), 0, R).event).to.equal(undefined);
  });

  it("a party gone ends the meeting with faraway (gone); a pair not near stays as it is", function () {
    const o = party("o", 0, 0, 0);
    const near = evaluatePair(newPair("c", "o", 1), party("c", 50, 0), o, 0, R).pair;
    const gone = goneFromPair(near, party("c", 50, 0), o, 5);
    expect(gone.event).to.include({ type: "faraway", reason: "gone" });
    expect(goneFromPair(gone.pair, party("c", 50, 0), o, 6).event).to.equal(undefined);
  });
});

describe("tracking: position batches (pure)", function () {
  it("lists every problem of a batch, with its JSON pointer", function () {
    const now = 1_000_000;
    const ok = { deviceId: "d1", lat: 1, lng: 2, accuracy: 3, at: now };
    expect(batchProblems({ positions: [ok] }, now)).to.deep.equal({ positions: [ok] });
    const r = batchProblems({ positions: [ok, { ...ok, lng: -181 }, { ...ok, deviceId: "a.b" }] }, now);
    expect("problems" in r && r.problems.map((p) => p.path)).to.deep.equal([
      "/positions/1/lng",
      "/positions/2/deviceId",
    ]);
    expect("problems" in batchProblems({ positions: [] }, now)).to.equal(true);
    expect("problems" in batchProblems({ positions: [ok], extra: 1 }, now)).to.equal(true);
    expect("problems" in batchProblems([ok], now)).to.equal(true);
  });
});

describe("tracking: the JetStream operations limiter", function () {
  it("runs at most max at once, in order, and hands a finished slot to the oldest waiter", async function () {
    const limit = new Limiter(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates: (() => void)[] = [];
    const runs = Array.from({ length: 3000 }, (_, i) =>
      limit.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return i;
      }),
    );
    expect(limit.pending).to.equal(3000);
    // end them one at a time, the oldest first; a new run asked for meanwhile waits its turn too
    let extra: Promise<number> | undefined;
    while (started.length < 3000 || gates.length > 0) {
      await new Promise((r) => setImmediate(r));
      if (started.length === 1500 && !extra) extra = limit.run(() => Promise.resolve(-1));
      gates.shift()?.();
    }
    expect(await Promise.all(runs)).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i));
    expect(await extra).to.equal(-1);
    expect(most).to.equal(3);
    expect(started).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i));
    expect(limit.pending).to.equal(0);
  });

  it("frees the slot of an operation that throws", async function () {
    const limit = new Limiter(1);
    const failed = limit.run(() => Promise.reject(new Error("boom")));
    const next = limit.run(() => Promise.resolve("ran"));
    expect(await failed.catch((e: Error) => e.message)).to.equal("boom");
    expect(await next).to.equal("ran");
    expect(limit.pending).to.equal(0);
  });
});
