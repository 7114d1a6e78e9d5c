/**
 * The supporters domain's REPL commands (`npm run repl`): a supporter's queue, the backlog, the
 * domain's dead letters and their replay. Each goes through the `supporters` service, the same
 * code as its admin routes; {@link supporterCommands} are the plain functions the commands run,
 * so tests call exactly what the REPL runs.
 */
import type { ServiceBroker } from "moleculer";
import type { ReplCommand } from "../../node/domain";
import type { SupporterView } from "./view";
import type { Backlog, SupporterDlqView } from "./api";

/** Supporters domain operations through the `supporters` service (the same code as its admin routes). */
export const supporterCommands = {
  /** One supporter's queue: pending per lane, in flight, parked, last error (no personal data). */
  show: (broker: ServiceBroker, hash: string) =>
    broker.call<SupporterView, { hash: string }>("supporters.inspect", { hash }),
  /** The backlog per stage and downstream, with breaker states per node. */
  backlog: (broker: ServiceBroker) =>
    broker.call<Backlog, { params: object; query: object }>("supporters.backlog", { params: {}, query: {} }),
  /** The supporters' dead letters (optionally of one supporter). */
  dlq: (broker: ServiceBroker, opts: { hash?: string; limit?: number; afterSeq?: number } = {}) =>
    broker.call<SupporterDlqView[], typeof opts>("supporters.dlqList", opts),
  /** Replays supporters' dead letters by DLQ sequence (others are refused). */
  replay: (broker: ServiceBroker, seqs: number[]) =>
    broker.call<
      { replayed: number[]; missing: number[]; refused: number[] },
      { params: object; query: object; body: { seqs: number[] } }
    >("supporters.replay", { params: {}, query: {}, body: { seqs } }),
};

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** DLQ sequences from a command's `<seqs...>` argument (positive integers only). */
function seqsOf(raw: unknown): number[] {
  return (Array.isArray(raw) ? raw : String(raw ?? "").split(/[\s,]+/))
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** The supporters domain's REPL commands (the domain module's `repl`). */
export const supporterRepl: readonly ReplCommand[] = [
  {
    command: "supporter <hash>",
    description: "A supporter's delivery queue: pending per lane, in flight, attempts, last error, parked",
    action: async (broker, args, { table }) => {
      const v = await supporterCommands.show(broker, String(args["hash"] ?? ""));
      if (!v.known) return print(`supporter ${v.hash}: never seen`);
      print(
        `supporter ${v.hash}: pending user ${v.pending.user}, erp ${v.pending.erp}; received ${v.counts.received}, delivered user ${v.counts.userDelivered} / erp ${v.counts.erpDelivered}, parked ${v.counts.parked}, duplicates ${v.counts.duplicates}${v.forgottenAt ? `; forgotten at ${v.forgottenAt}` : ""}`,
      );
      print(
        table([
          ["lane", "in flight", "since", "attempts", "last error"],
          ...(["user", "erp"] as const).map((l) => [
            l,
            v.lanes[l].inFlight ?? "-",
            v.lanes[l].since ?? "-",
            v.lanes[l].attempts,
            (v.lanes[l].lastError ?? "-").slice(0, 80),
          ]),
        ]),
      );
      if (v.queue.length > 0)
        print(
          table([
            ["id", "kind", "received", "types", "user", "erp"],
            ...v.queue.map((q) => [q.id, q.kind, q.receivedAt, q.types.join(","), q.user, q.erp]),
          ]),
        );
      if (v.parked.length > 0)
        print(
          table([
            ["parked", "step", "at", "reason"],
            ...v.parked.map((p) => [p.id, p.step, new Date(p.at).toISOString(), p.reason.slice(0, 80)]),
          ]),
        );
    },
  },
  {
    command: "supporters-backlog",
    description:
      "Supporters backlog per stage and downstream (intake, mailboxes, user, ERP, event log, DLQ) and breakers",
    action: async (broker, _args, { table }) => {
      const b = await supporterCommands.backlog(broker);
      print(
        `intake pending ${b.intake.pending} (pump on ${b.intake.holder ?? "-"}), mailboxes ${b.mailboxes.pending}, event log ${b.eventLog.pending}, dead letters ${b.dlq.entries}`,
      );
      print(
        table([
          ["downstream", "messages pending", "oldest pending", "jobs waiting", "breakers"],
          ...(["user", "erp"] as const).map((d) => [
            d,
            b.downstreams[d].messagesPending,
            b.downstreams[d].oldestPending ?? "-",
            b.downstreams[d].jobsWaiting,
            JSON.stringify(b.downstreams[d].breakers),
          ]),
        ]),
      );
    },
  },
  {
    command: "supporters-dlq",
    description:
      "Supporters' dead letters: supporters-dlq [--hash H] [--limit N] [--after SEQ]; replay with supporters-replay",
    options: [
      { option: "-h, --hash <hash>", description: "one supporter's identity hash" },
      { option: "-l, --limit <limit>", description: "at most this many (default 100)" },
      { option: "-a, --after <after>", description: "entries after this DLQ sequence" },
    ],
    action: async (broker, args, { table }) => {
      const o = args.options;
      const rows = await supporterCommands.dlq(broker, {
        ...(typeof o["hash"] === "string" ? { hash: o["hash"] } : {}),
        ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
        ...(o["after"] !== undefined ? { afterSeq: Number(o["after"]) } : {}),
      });
      print(
        table([
          ["seq", "supporter", "message", "from", "attempts", "failed at", "error"],
          ...rows.map((r) => [
            r.seq,
            r.hash,
            r.messageId ?? "-",
            r.from ?? "-",
            r.attempts,
            r.failedAt,
            r.error.slice(0, 80),
          ]),
        ]),
      );
    },
  },
  {
    command: "supporters-replay <seqs...>",
    description: "Replay supporters' dead letters by DLQ sequence: supporters-replay 12 13",
    action: async (broker, args) => {
      const r = await supporterCommands.replay(broker, seqsOf(args["seqs"]));
      print(
        `replayed: ${r.replayed.join(", ") || "none"}; missing: ${r.missing.join(", ") || "none"}; refused (not a supporters dead letter): ${r.refused.join(", ") || "none"}`,
      );
    },
  },
];
