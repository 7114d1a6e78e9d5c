/**
 * The agents' REPL commands: `findings [agent]` lists open findings (`--all` with resolved ones),
 * `finding <id>` shows one whole, `agents-run <agent>` makes an agent look now, `agents-health` the
 * services as the health agent saw them, `agents-slos` the burn rates and budgets.
 */
import type { ServiceBroker } from "moleculer";
import type { ReplCommand, ReplHelpers } from "../../node/domain";
import type { Finding } from "./findings";

/** The rows of a findings table: a header and one row per finding. */
export function findingRows(items: readonly Finding[]): unknown[][] {
  return [
    ["id", "agent", "severity", "kind", "subject", "last seen", "state", "message"],
    ...items.map((f) => [
      f.id,
      f.agent,
      f.severity,
      f.kind,
      f.subject,
      f.lastSeen,
      f.resolvedAt ? `resolved ${f.resolvedAt}` : "open",
      f.detail.message.length > 100 ? `${f.detail.message.slice(0, 99)}…` : f.detail.message,
    ]),
  ];
}

/** The findings the `findings` command shows (every page, up to `max`). */
export async function findingsCommand(
  broker: ServiceBroker,
  agent: string | undefined,
  state: "open" | "all",
  max = 1000,
): Promise<Finding[]> {
  const out: Finding[] = [];
  let cursor: string | null = null;
  do {
    const page = (await broker.call("agents.findings", {
      params: {},
      query: { ...(agent ? { agent } : {}), state, limit: 200, ...(cursor ? { cursor } : {}) },
    })) as { items: Finding[]; nextCursor: string | null };
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : v === undefined ? undefined : String(v));
const print = (text: string) => process.stdout.write(`${text}\n`);

function table(helpers: ReplHelpers, rows: unknown[][]): void {
  print(rows.length > 1 ? helpers.table(rows) : "none");
}

/** REPL commands of the agents domain. */
export const agentsRepl: readonly ReplCommand[] = [
  {
    command: "findings [agent]",
    description: "Open findings of the agents (health, quality, security; all three without an agent)",
    options: [{ option: "--all", description: "also resolved findings" }],
    async action(broker, args, helpers) {
      const agent = str(args["agent"]);
      const items = await findingsCommand(broker, agent, args.options["all"] ? "all" : "open");
      table(helpers, findingRows(items));
    },
  },
  {
    command: "finding <id>",
    description: "One finding, whole (its detail's figures)",
    async action(broker, args) {
      const f = await broker.call("agents.finding", { params: { id: str(args["id"]) ?? "" }, query: {} });
      print(JSON.stringify(f, null, 2));
    },
  },
  {
    command: "agents-run <agent>",
    description: "Makes an agent (health, quality, security) look now; shows what it raised and resolved",
    async action(broker, args, helpers) {
      const r = (await broker.call("agents.run", { params: { agent: str(args["agent"]) ?? "" }, query: {} })) as {
        node: string;
        raised: Finding[];
        updated: number;
        resolved: Finding[];
      };
      print(`on ${r.node}: ${r.raised.length} raised, ${r.updated} still open, ${r.resolved.length} resolved`);
      if (r.raised.length + r.resolved.length > 0) table(helpers, findingRows([...r.raised, ...r.resolved]));
    },
  },
  {
    command: "agents-health",
    description: "Every service's availability and canary latency, as the health agent saw them last",
    async action(broker, _args, helpers) {
      const r = (await broker.call("healthAgent.services", { params: {}, query: {} })) as {
        node: string;
        lastRunAt: string | null;
        items: Array<{ service: string; up: boolean; nodes: string[]; latencyMs: number; availability: number }>;
      };
      print(`health agent on ${r.node}, last round ${r.lastRunAt ?? "not yet"}`);
      table(helpers, [
        ["service", "up", "nodes", "slowest canary ms", "availability"],
        ...r.items.map((s) => [
          s.service,
          s.up ? "yes" : "DOWN",
          s.nodes.length,
          Math.round(s.latencyMs),
          s.availability,
        ]),
      ]);
    },
  },
  {
    command: "agents-slos",
    description: "Every SLO's burn rates (short, long window) and the error budget left",
    async action(broker, _args, helpers) {
      const r = (await broker.call("qualityAgent.slos", { params: {}, query: {} })) as {
        reading: boolean;
        recorded: number;
        items: Array<{
          slo: string;
          service: string;
          route: string | null;
          short: { total: number; availabilityBurn: number; latencyBurn: number; p99Ms: number };
          long: { availabilityBurn: number };
          budgetRemaining: number;
        }>;
      };
      print(`interactions stream ${r.reading ? "read" : "not readable yet"}; ${r.recorded} records taken in`);
      table(helpers, [
        ["slo", "service", "route", "requests", "burn short", "burn long", "latency burn", "p99 ms", "budget left"],
        ...r.items.map((s) => [
          s.slo,
          s.service,
          s.route ?? "",
          s.short.total,
          s.short.availabilityBurn,
          s.long.availabilityBurn,
          s.short.latencyBurn,
          s.short.p99Ms,
          s.budgetRemaining,
        ]),
      ]);
    },
  },
];
