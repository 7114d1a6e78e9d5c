/**
 * The rewards domain's REPL commands (`npm run repl`): a user's balance and ledger, the rules in
 * force, and the ledger check. Each goes through the `rewards` service, the same code as the
 * routes; {@link rewardCommands} are the plain functions the commands run.
 */
import type { ServiceBroker } from "moleculer";
import type { ReplCommand } from "../../node/domain";
import type { AccountView, CheckReport } from "./api";
import type { PostingRow } from "./store";
import type { Rule } from "./rules";

const NO_HTTP = { params: {}, query: {} };

/** Rewards operations through the `rewards` service. */
export const rewardCommands = {
  /** A user's balance, held points, pending transfers and last postings. */
  account: (broker: ServiceBroker, id: string, limit = 20) =>
    broker.call<{ account: AccountView; ledger: { items: PostingRow[]; sum: number } }, { id: string; limit: number }>(
      "rewards.inspect",
      { id, limit },
    ),
  /** The rules in force on the answering node. */
  rules: (broker: ServiceBroker) => broker.call<{ items: Rule[] }, typeof NO_HTTP>("rewards.rules", NO_HTTP),
  /** The ledger invariant. */
  check: (broker: ServiceBroker) => broker.call<CheckReport, typeof NO_HTTP>("rewards.check", NO_HTTP),
};

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** The rewards domain's REPL commands (the domain module's `repl`). */
export const rewardRepl: readonly ReplCommand[] = [
  {
    command: "rewards-account <id>",
    description: "A user's balance (KV) and ledger (Postgres): kind, balance, held, pending, last postings",
    options: [{ option: "--limit <n>", description: "postings to show (default 20)" }],
    action: async (broker, args, { table }) => {
      const limit = Number(args.options["limit"] ?? 20) || 20;
      const r = await rewardCommands.account(broker, String(args["id"] ?? ""), limit);
      const a = r.account;
      print(
        `${a.id} (${a.kind}): balance ${a.balance}, held ${a.held}, ledger sum ${r.ledger.sum}, pending ${a.pending.length}`,
      );
      print(
        table([
          ["posting", "tx", "leg", "kind", "amount", "at"],
          ...r.ledger.items.map((p) => [p.id, p.tx, p.leg, p.kind, p.amount, p.at]),
        ]),
      );
    },
  },
  {
    command: "rewards-rules",
    description: "The business rules in force (id, version, kind, points, conditions, cap)",
    action: async (broker, _args, { table }) => {
      const r = await rewardCommands.rules(broker);
      print(
        table([
          ["id", "version", "kind", "enabled", "points from/to", "conditions", "cap"],
          ...r.items.map((x) => [
            x.id,
            x.version,
            x.txKind,
            x.enabled !== false,
            `${x.points.from ?? 0}/${x.points.to ?? 0}`,
            JSON.stringify(x.conditions ?? {}),
            x.cap ? `${x.cap.maxPointsPerParty}/${x.cap.period}` : "-",
          ]),
        ]),
      );
    },
  },
  {
    command: "rewards-check",
    description: "Check the ledger invariant: KV balances equal ledger sums, every leg balances",
    action: async (broker) => {
      const r = await rewardCommands.check(broker);
      print(
        `${r.ok ? "OK" : "NOT OK"}: ${r.accounts} accounts, ${r.transactions} transactions, ${r.postings} postings, mismatches ${r.mismatches.length}, unbalanced legs ${r.unbalancedLegs}, transit ${r.transit} / held ${r.held}${r.settled ? "" : ` (not settled: ${r.waiting.mailbox} mailbox, ${r.waiting.ledger} ledger waiting)`}`,
      );
      for (const m of r.mismatches.slice(0, 20)) print(`  ${m.account}: kv ${m.kv}, ledger ${m.ledger}`);
    },
  },
];
