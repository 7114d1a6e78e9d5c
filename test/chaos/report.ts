/** The chaos matrix's verdict per row and its table. */
import type { RowResult } from "./rig";

/** What a row must show: nothing lost or doubled, order kept, partitions back within 10 s. */
export function problems(r: RowResult, needs?: string): string[] {
  if (needs !== undefined) return [];
  const out: string[] = [];
  if (r.lost > 0) out.push(`lost ${r.lost} ${JSON.stringify(r.lostDetail)}`);
  if (r.duplicates > 0) out.push(`duplicates ${r.duplicates} ${JSON.stringify(r.duplicateDetail)}`);
  if (r.orderViolations > 0) out.push(`order violations ${r.orderViolations}`);
  if (r.row === "node-kill" && (r.ownedAgainMs === null || r.ownedAgainMs > 10_000))
    out.push(`partitions owned again after ${r.ownedAgainMs ?? "never"} ms (limit 10000)`);
  if (r.row === "postgres-stop" && (r.notReadyAfterMs === null || r.notReadyAfterMs > 5_000))
    out.push(`readiness false after ${r.notReadyAfterMs ?? "never"} ms (limit 5000)`);
  return out;
}

const s = (ms: number | null): string => (ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`);

/** A Markdown table of the rows. */
export function table(
  rows: readonly RowResult[],
  needs: (row: string) => string | undefined = () => undefined,
): string {
  const head =
    "| row | accepted (receipts / supporter msgs / events) | lost | external duplicates | order violations | owned again | ready again | not ready after | backlog peak | catch-up | verdict |";
  const sep = "|" + " --- |".repeat(11);
  const lines = rows.map((r) => {
    const p = problems(r);
    const known = needs(r.row) !== undefined;
    return `| ${r.row} | ${r.accepted.receipts} / ${r.accepted.supporterMessages} / ${r.accepted.tenantEvents} | ${r.lost} | ${r.duplicates} | ${r.orderViolations} | ${s(r.ownedAgainMs)} | ${s(r.readyAgainMs)} | ${r.notReadyAfterMs === null ? "-" : s(r.notReadyAfterMs)} | ${r.backlogPeak} | ${s(r.catchUpMs)} | ${p.length === 0 ? "ok" : known ? `not on 2.9 (${p.join("; ")}): needs sync_interval: always` : p.join("; ")} |`;
  });
  return [head, sep, ...lines].join("\n");
}
