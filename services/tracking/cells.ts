/**
 * The cell scheme (pure): a hexagonal grid of 16 resolutions whose edge lengths follow H3's
 * (res 9: 200.8 m, each coarser resolution sqrt(7) times larger), laid on the Web Mercator
 * plane, so that hexagons keep their shape on the ground and a cell's ground edge is its
 * plane edge times cos(latitude). Cells are named `<res>_<q>_<r>` (axial coordinates), a valid
 * KV key token.
 *
 * Why not H3 itself: h3-js is not among the project's dependencies (the lead installs it); the
 * functions here have h3-js's names and shapes (`latLngToCell`, `cellToLatLng`, `gridDisk`,
 * `getResolution`), so moving to it changes this file only. Proximity does not depend on the
 * cells' exact shape: `diskRingsFor` gives the number of rings that is sure to contain every
 * point within a radius, and the distance is then checked exactly (haversine).
 */

const EARTH_RADIUS_M = 6_371_008.8;
/** Web Mercator's sphere (the plane's unit is its metre at the equator). */
const MERC_R = 6_378_137;
const MAX_LAT = 85;
const SQRT3 = Math.sqrt(3);
const SQRT7 = Math.sqrt(7);
/** H3 v4's average hexagon edge at res 9 (km): the anchor of every resolution's edge here. */
const EDGE_RES9_M = 200.786148;

/** A cell id: `<res>_<q>_<r>`. */
export type Cell = string;

/** The plane edge (m, true on the ground at the equator) of cells at `res` (0..15). */
export function edgeLengthM(res: number): number {
  return EDGE_RES9_M * Math.pow(SQRT7, 9 - res);
}

/**
 * The resolution for proximity within `radiusM`: the finest whose edge is at least the radius
 * (200 m gives res 9), so that a meeting spans at most a few rings of cells.
 */
export function resolutionFor(radiusM: number): number {
  for (let res = 15; res >= 0; res--) if (edgeLengthM(res) >= radiusM) return res;
  return 0;
}

function project(lat: number, lng: number): { x: number; y: number } {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return { x: (MERC_R * lng * Math.PI) / 180, y: MERC_R * Math.log(Math.tan(Math.PI / 4 + phi / 2)) };
}

function unproject(x: number, y: number): { lat: number; lng: number } {
  return {
    lat: ((2 * Math.atan(Math.exp(y / MERC_R)) - Math.PI / 2) * 180) / Math.PI,
    lng: ((x / MERC_R) * 180) / Math.PI,
  };
}

/** The axial coordinates of the hexagon (pointy top, circumradius `size`) holding plane point (x, y). */
function hexAt(x: number, y: number, size: number): { q: number; r: number } {
  const fq = ((SQRT3 / 3) * x - y / 3) / size;
  const fr = ((2 / 3) * y) / size;
  const fs = -fq - fr;
  let q = Math.round(fq);
  let r = Math.round(fr);
  const s = Math.round(fs);
  const dq = Math.abs(q - fq);
  const dr = Math.abs(r - fr);
  const ds = Math.abs(s - fs);
  if (dq > dr && dq > ds) q = -r - s;
  else if (dr > ds) r = -q - s;
  // +0 turns -0 into 0, so that a cell has one name
  return { q: q + 0, r: r + 0 };
}

/** The cell holding (lat, lng) at `res`. */
export function latLngToCell(lat: number, lng: number, res: number): Cell {
  const p = project(lat, lng);
  const h = hexAt(p.x, p.y, edgeLengthM(res));
  return `${res}_${h.q}_${h.r}`;
}

/** Parses a cell id; undefined when it is not one. */
export function parseCell(cell: string): { res: number; q: number; r: number } | undefined {
  const m = /^(\d{1,2})_(-?\d{1,9})_(-?\d{1,9})$/.exec(cell);
  if (!m) return undefined;
  const res = Number(m[1]);
  if (res > 15) return undefined;
  return { res, q: Number(m[2]), r: Number(m[3]) };
}

/** The resolution of `cell` (-1 when it is not a cell). */
export function getResolution(cell: Cell): number {
  return parseCell(cell)?.res ?? -1;
}

/** The centre of `cell`. */
export function cellToLatLng(cell: Cell): { lat: number; lng: number } {
  const c = parseCell(cell);
  if (!c) throw new Error(`not a cell: ${cell}`);
  const size = edgeLengthM(c.res);
  return unproject(size * SQRT3 * (c.q + c.r / 2), size * 1.5 * c.r);
}

/** Every cell within `k` rings of `cell` (itself included): 3k(k+1)+1 cells. */
export function gridDisk(cell: Cell, k: number): Cell[] {
  const c = parseCell(cell);
  if (!c) throw new Error(`not a cell: ${cell}`);
  const out: Cell[] = [];
  for (let dq = -k; dq <= k; dq++) {
    const lo = Math.max(-k, -dq - k);
    const hi = Math.min(k, -dq + k);
    for (let dr = lo; dr <= hi; dr++) out.push(`${c.res}_${c.q + dq}_${c.r + dr}`);
  }
  return out;
}

/** The number of rings between two cells of one resolution. */
export function gridDistance(a: Cell, b: Cell): number {
  const x = parseCell(a);
  const y = parseCell(b);
  if (!x || !y || x.res !== y.res) throw new Error("cells of one resolution expected");
  const dq = x.q - y.q;
  const dr = x.r - y.r;
  return Math.max(Math.abs(dq), Math.abs(dr), Math.abs(dq + dr));
}

/**
 * Rings of a disk around the cell of a point at latitude `lat` that hold every point within
 * `radiusM` on the ground. A ground distance d is d/cos(lat) on the plane (taken at the
 * disk's farthest latitude); two points that far apart have centres at most d + 2·edge apart,
 * and a centre k rings away is at least 1.5·k·edge away.
 */
export function diskRingsFor(radiusM: number, lat: number, res: number): number {
  const edge = edgeLengthM(res);
  // the disk's farthest latitude from the equator, with the radius in degrees as margin
  const far = Math.min(MAX_LAT, Math.abs(lat) + (radiusM / EARTH_RADIUS_M) * (180 / Math.PI) + 0.01);
  const planeD = radiusM / Math.cos((far * Math.PI) / 180);
  return Math.max(1, Math.ceil((planeD + 2 * edge) / (1.5 * edge)));
}

/** The great-circle distance between two points (m). */
export function haversineM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const toRad = Math.PI / 180;
  const dLat = (lat2 - lat1) * toRad;
  const dLng = (lng2 - lng1) * toRad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * toRad) * Math.cos(lat2 * toRad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}
