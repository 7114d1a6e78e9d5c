/** The orders' REPL command: `order <id>` prints an order's history, payment and lines. */
import type { ReplCommand } from "../../node/domain";

/** REPL commands of the orders domain. */
export const orderRepl: readonly ReplCommand[] = [
  {
    command: "order <id>",
    description: "An order's history (every status with its time and note), payment and lines",
    async action(broker, args, helpers) {
      const id = String(args["id"]);
      const s: unknown = await broker.call("orders.inspect", { orderId: id });
      if (s === null || typeof s !== "object" || !("history" in s) || !Array.isArray(s.history)) {
        process.stdout.write(`no order ${id}\n`);
        return;
      }
      const rows: unknown[][] = [["at", "status", "note"]];
      for (const h of s.history) {
        if (typeof h === "object" && h !== null && "at" in h && typeof h.at === "number")
          rows.push([new Date(h.at).toISOString(), "status" in h ? h.status : "", "note" in h ? h.note : ""]);
      }
      process.stdout.write(`${helpers.table(rows)}\n`);
      const { history: _h, ...rest } = s;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
    },
  },
];
