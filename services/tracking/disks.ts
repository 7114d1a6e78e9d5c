/**
 * The candidate cells of a point (pure, memoised per cell): the smallest disk of rings around
 * the point's cell whose outer boundary is farther than the radius from the point itself, so
 * that every point within the radius lies in one of its cells. The worst-case ring count of
 * `diskRingsFor` (4 rings, 61 cells, for 200 m at res 9) holds anywhere on the globe for any
 * point of a cell; measured against the point and the local cells' real boundary, 1 ring (7
 * cells) is enough for most points and 2 (19) for the rest. Proximity checks every device in
 * those cells, so this divides the work per position by about six.
 *
 * The distance to the boundary is taken in a local flat projection around the cell's centre
 * (under 0.1% off the great-circle distance over a few hundred metres at city latitudes); the
 * margin below covers that many times over. Where no disk up to `MAX_LOCAL_RINGS` proves enough
 * (pentagons, very high latitudes), the worst-case disk is used.
 */
import * as h3 from "h3-js";
import { diskRingsFor, gridDisk, M_PER_DEG, type Cell } from "./cells";

const MARGIN = 1.01;
const MAX_LOCAL_RINGS = 2;

interface Ring {
  readonly cells: readonly Cell[];
  /** The disk's boundary segments, flat metres from the cell's centre: x1, y1, x2, y2, ... */
  readonly segments: Float64Array;
}

interface CellDisks {
  readonly cell: Cell;
  readonly lat0: number;
  readonly lng0: number;
  readonly mPerDegLng: number;
  /** Disks of 1.. rings, each made when a point first needs it (a disk's outline is costly). */
  readonly rings: Ring[];
  /** How many rings may be tried before the worst case (0 at a pentagon). */
  readonly tries: number;
  fallback: readonly Cell[] | null;
}

/** The disks of many cells, memoised (at most `maxCells`; the memo starts afresh beyond). */
export class ProximityDisks {
  private readonly memo = new Map<Cell, CellDisks>();
  private readonly fallbackRings: number;

  constructor(
    private readonly radiusM: number,
    res: number,
    private readonly maxCells = 50_000,
  ) {
    this.fallbackRings = diskRingsFor(radiusM, 0, res);
  }

  /** Every cell that may hold a point within the radius of (lat, lng), which lies in `cell`. */
  diskFor(cell: Cell, lat: number, lng: number): readonly Cell[] {
    const d = this.disks(cell);
    const x = (lng - d.lng0) * d.mPerDegLng;
    const y = (lat - d.lat0) * M_PER_DEG;
    const need = this.radiusM * MARGIN;
    for (let k = 1; k <= d.tries; k++) {
      const r = (d.rings[k - 1] ??= ring(d, k));
      if (distanceToSegments(x, y, r.segments) >= need) return r.cells;
    }
    return (d.fallback ??= gridDisk(cell, this.fallbackRings));
  }

  /** Cells memoised now. */
  get size(): number {
    return this.memo.size;
  }

  private disks(cell: Cell): CellDisks {
    const known = this.memo.get(cell);
    if (known) return known;
    if (this.memo.size >= this.maxCells) this.memo.clear();
    const [lat0, lng0] = h3.cellToLatLng(cell);
    const d: CellDisks = {
      cell,
      lat0,
      lng0,
      mPerDegLng: M_PER_DEG * Math.cos((lat0 * Math.PI) / 180),
      rings: [],
      tries: h3.isPentagon(cell) ? 0 : Math.min(MAX_LOCAL_RINGS, this.fallbackRings - 1),
      fallback: null,
    };
    this.memo.set(cell, d);
    return d;
  }
}

/** The disk of `k` rings around the cell, with its outline in the cell's flat projection. */
function ring(d: CellDisks, k: number): Ring {
  const cells = gridDisk(d.cell, k);
  const coords: number[] = [];
  // every loop of the disk's outline (outer and any hole): the nearest of them bounds it
  for (const polygon of h3.cellsToMultiPolygon(cells))
    for (const loop of polygon)
      for (let i = 0; i < loop.length; i++) {
        const a = loop[i]!;
        const b = loop[(i + 1) % loop.length]!;
        coords.push(
          (a[1] - d.lng0) * d.mPerDegLng,
          (a[0] - d.lat0) * M_PER_DEG,
          (b[1] - d.lng0) * d.mPerDegLng,
          (b[0] - d.lat0) * M_PER_DEG,
        );
      }
  return { cells, segments: Float64Array.from(coords) };
}

/** The distance (flat) from (x, y) to the nearest of the segments. */
function distanceToSegments(x: number, y: number, s: Float64Array): number {
  let best = Infinity;
  for (let i = 0; i < s.length; i += 4) {
    const ax = s[i]!;
    const ay = s[i + 1]!;
    const dx = s[i + 2]! - ax;
    const dy = s[i + 3]! - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
    const ex = ax + t * dx - x;
    const ey = ay + t * dy - y;
    const d2 = ex * ex + ey * ey;
    if (d2 < best) best = d2;
  }
  return Math.sqrt(best);
}
