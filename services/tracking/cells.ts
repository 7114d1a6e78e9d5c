/**
 * The cell scheme: H3 (h3-js), the hexagonal hierarchical grid of 16 resolutions (res 9: an
 * average edge of 200.8 m, each coarser resolution about sqrt(7) times larger). Cells are H3
 * indexes as 15 hex digits, a valid KV key token. Proximity does not depend on the cells'
 * exact shape: `diskRingsFor` gives the number of rings that is sure to contain every point
 * within a radius, and the distance is then checked exactly (haversine).
 */
import * as h3 from "h3-js";

const EARTH_RADIUS_M = 6_371_008.8;
/** Metres per degree of latitude (of a great circle) on that sphere. */
export const M_PER_DEG = (EARTH_RADIUS_M * Math.PI) / 180;
/**
 * H3 hexagon edges vary around the globe: sampled over the sphere (pentagons aside) they run
 * from 0.71 to 1.10 times the average of their resolution. The bounds below keep a margin.
 */
const EDGE_MIN_FACTOR = 0.65;
const EDGE_MAX_FACTOR = 1.15;

/** A cell id: an H3 index (15 hex digits). */
export type Cell = string;

/** The average hexagon edge (m) of cells at `res` (0..15). */
export function edgeLengthM(res: number): number {
  return h3.getHexagonEdgeLengthAvg(res, h3.UNITS.m);
}

/**
 * The resolution for proximity within `radiusM`: the finest whose average edge is at least the
 * radius (200 m gives res 9), so that a meeting spans at most a few rings of cells.
 */
export function resolutionFor(radiusM: number): number {
  for (let res = 15; res >= 0; res--) if (edgeLengthM(res) >= radiusM) return res;
  return 0;
}

/** The cell holding (lat, lng) at `res`. */
export function latLngToCell(lat: number, lng: number, res: number): Cell {
  return h3.latLngToCell(lat, lng, res);
}

/** The resolution of a cell id, or undefined when it is not an H3 cell. */
export function parseCell(cell: string): { res: number } | undefined {
  return h3.isValidCell(cell) ? { res: h3.getResolution(cell) } : undefined;
}

/** The resolution of `cell` (-1 when it is not a cell). */
export function getResolution(cell: Cell): number {
  return parseCell(cell)?.res ?? -1;
}

/** The centre of `cell`. */
export function cellToLatLng(cell: Cell): { lat: number; lng: number } {
  if (!h3.isValidCell(cell)) throw new Error(`not a cell: ${cell}`);
  const [lat, lng] = h3.cellToLatLng(cell);
  return { lat, lng };
}

/** Every cell within `k` rings of `cell` (itself included): 3k(k+1)+1 cells away from pentagons. */
export function gridDisk(cell: Cell, k: number): Cell[] {
  if (!h3.isValidCell(cell)) throw new Error(`not a cell: ${cell}`);
  return h3.gridDisk(cell, k);
}

/** The number of rings between two cells of one resolution. */
export function gridDistance(a: Cell, b: Cell): number {
  if (!h3.isValidCell(a) || !h3.isValidCell(b) || h3.getResolution(a) !== h3.getResolution(b))
    throw new Error("cells of one resolution expected");
  return h3.gridDistance(a, b);
}

/**
 * Rings of a disk around the cell of a point that hold every point within `radiusM`. Two points
 * that far apart have cell centres at most radius + 2 x (longest edge) apart, and a centre k
 * rings away is at least 1.5 x k x (shortest edge) away. `lat` is kept for callers that take the
 * disk per position: H3's distortion is bounded the same everywhere, so it does not change the
 * answer.
 */
export function diskRingsFor(radiusM: number, _lat: number, res: number): number {
  const avg = edgeLengthM(res);
  return Math.max(1, Math.ceil((radiusM + 2 * EDGE_MAX_FACTOR * avg) / (1.5 * EDGE_MIN_FACTOR * avg)));
}

/** The great-circle distance between two points (m). */
export function haversineM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const toRad = Math.PI / 180;
  const dLat = (lat2 - lat1) * toRad;
  const dLng = (lng2 - lng1) * toRad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * toRad) * Math.cos(lat2 * toRad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}
