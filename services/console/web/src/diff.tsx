/** Differences between two JSON values, as one line per changed path (pure). */
export interface Change {
  readonly path: string;
  readonly kind: "added" | "removed" | "changed";
  readonly before?: unknown;
  readonly after?: unknown;
}

function flatten(v: unknown, path: string, out: Map<string, unknown>): void {
  if (v !== null && typeof v === "object") {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    if (entries.length === 0) out.set(path || "/", v);
    for (const [k, x] of entries) flatten(x, `${path}/${k}`, out);
  } else out.set(path || "/", v);
}

/** The changes from `a` to `b`, by JSON pointer. */
export function diff(a: unknown, b: unknown): Change[] {
  const fa = new Map<string, unknown>();
  const fb = new Map<string, unknown>();
  flatten(a, "", fa);
  flatten(b, "", fb);
  const out: Change[] = [];
  for (const [p, v] of fb) {
    if (!fa.has(p)) out.push({ path: p, kind: "added", after: v });
    else if (JSON.stringify(fa.get(p)) !== JSON.stringify(v))
      out.push({ path: p, kind: "changed", before: fa.get(p), after: v });
  }
  for (const [p, v] of fa) if (!fb.has(p)) out.push({ path: p, kind: "removed", before: v });
  return out.sort((x, y) => x.path.localeCompare(y.path));
}
