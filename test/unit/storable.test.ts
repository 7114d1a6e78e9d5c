/**
 * The platform's pure storage checks: lib/storable-json.ts (what a store could not hold as sent)
 * and lib/isolate.ts (halving a batch around poisoned items).
 */
import { expect } from "chai";
import { hasLoneSurrogate, hasNul, roundTripProblems } from "../../lib/storable-json";
import { writeIsolating } from "../../lib/isolate";

describe("storable JSON", () => {
  it("finds lone surrogates, and NUL only when asked", () => {
    expect(hasLoneSurrogate("a\ud800b")).to.equal(true);
    expect(hasLoneSurrogate("\udc00")).to.equal(true);
    expect(hasLoneSurrogate("\ud83d\ude00")).to.equal(false);
    expect(hasNul("a\u0000")).to.equal(true);
    const doc = { a: "x\u0000", ["k\u0000"]: 1, list: ["ok", "\ud800"], n: Number.POSITIVE_INFINITY, big: 2 ** 60 };
    expect(roundTripProblems(doc, "", { maxDepth: 8 })).to.deep.equal([
      { path: "/big", message: "integer beyond 2^53 loses precision: send it as a string" },
      { path: "/n", message: "number is out of range (not finite)" },
      { path: "/list/1", message: "string contains a lone UTF-16 surrogate" },
    ]);
    const strict = roundTripProblems(doc, "/data", { maxDepth: 8, refuseNul: true }).map((p) => p.path);
    expect(strict).to.include.members(["/data/a", "/data/k\u0000", "/data/list/1"]);
    expect(
      roundTripProblems({ ok: "Olena", deep: [[{ x: "\u00e9" }]] }, "", { maxDepth: 8, refuseNul: true }),
    ).to.deep.equal([]);
  });

  it("bounds nesting without recursion", () => {
    let v: unknown = "x";
    for (let i = 0; i < 100_000; i++) v = [v];
    expect(roundTripProblems(v, "", { maxDepth: 32 })).to.have.length(1);
  });
});

describe("writeIsolating", () => {
  const poison = (err: unknown): boolean => (err as Error).message === "poison";
  /** Writes `items`; any slice holding a value in `bad` fails with `failure`. */
  async function run(items: number[], bad: Set<number>, failure = "poison") {
    const writes: number[][] = [];
    const committed: number[] = [];
    const poisoned: number[] = [];
    let error: unknown;
    try {
      await writeIsolating(items, {
        write: async (slice) => {
          writes.push([...slice]);
          if (slice.some((x) => bad.has(x))) throw new Error(failure);
          return slice.length;
        },
        isPoison: poison,
        committed: (slice, n) => {
          expect(n).to.equal(slice.length);
          committed.push(...slice);
        },
        poisoned: async (x) => void poisoned.push(x),
      });
    } catch (err) {
      error = err;
    }
    return { writes, committed, poisoned, error };
  }

  it("writes a clean batch at once", async () => {
    const r = await run([1, 2, 3], new Set());
    expect(r.writes).to.deep.equal([[1, 2, 3]]);
    expect(r.committed).to.deep.equal([1, 2, 3]);
  });

  it("isolates poisoned items by halving, and commits the rest in order", async () => {
    const items = Array.from({ length: 16 }, (_, i) => i);
    const r = await run(items, new Set([5, 11]));
    expect(r.poisoned).to.deep.equal([5, 11]);
    expect(r.committed).to.deep.equal(items.filter((x) => x !== 5 && x !== 11));
    expect(r.writes.length).to.be.at.most(1 + 2 * 2 * 4);
  });

  it("throws other failures at once, leaving the rest to the caller", async () => {
    const r = await run([1, 2, 3, 4], new Set([3]), "connection lost");
    expect((r.error as Error).message).to.equal("connection lost");
    expect(r.writes).to.deep.equal([[1, 2, 3, 4]]);
    expect(r.committed).to.deep.equal([]);
    expect(r.poisoned).to.deep.equal([]);
  });
});
