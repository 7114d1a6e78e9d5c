/** The cart's REPL command: `cart <id>` shows a cart's lists, status and order. */
import type { ReplCommand } from "../../node/domain";

/** REPL commands of the cart domain. */
export const cartRepl: readonly ReplCommand[] = [
  {
    command: "cart <id>",
    description: "A cart: items being bought, likely-to-buy items, status and order",
    async action(broker, args, helpers) {
      const id = typeof args["id"] === "string" ? args["id"] : String(args["id"]);
      const s: unknown = await broker.call("carts.inspect", { cartId: id });
      if (s === null || typeof s !== "object") {
        process.stdout.write(`no cart ${id}\n`);
        return;
      }
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      const items = "items" in s && Array.isArray(s.items) ? s.items : [];
      const rows: unknown[][] = [["variant", "title", "qty", "unit price"]];
      for (const l of items) {
        if (typeof l === "object" && l !== null)
          rows.push([
            "variantId" in l ? l.variantId : "",
            "title" in l ? l.title : "",
            "qty" in l ? l.qty : "",
            "unitPrice" in l ? l.unitPrice : "",
          ]);
      }
      process.stdout.write(`${helpers.table(rows)}\n`);
    },
  },
];
