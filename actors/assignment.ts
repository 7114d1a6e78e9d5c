/**
 * Which node should own a partition: rendezvous (highest-random-weight) hashing over the live
 * nodes. Every node computes the same answer from the same set of nodes, and when a node joins
 * or leaves only the partitions it wins or held move.
 */

function mix32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3 finaliser: spreads FNV's weak low bits
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The node (from `nodes`) that should own `partition` of `kind`, or undefined if none. */
export function desiredOwner(kind: string, partition: number, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const node of nodes) {
    const score = mix32(`${node}|${kind}|${partition}`);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
