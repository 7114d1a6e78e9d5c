/** Business rules of a retail receipt. */
import type { ErrorDetail } from "../../../../lib/errors";
import { cents, fromCents, includedTaxCents, lineCents, sum } from "../../money";
import type { RetailReceipt } from "./schema";

/**
 * Each line's amount is quantity × unit price; gross is the sum of the lines; VAT is the sum
 * of the VAT included in each line (rounded per line); net is gross − VAT; payments cover gross.
 */
export function retailRules(doc: RetailReceipt): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const amounts: number[] = [];
  const vats: number[] = [];
  doc.lines.forEach((line, i) => {
    const expected = lineCents(line.quantity, line.unitPrice);
    const amount = cents(line.amount);
    if (amount !== expected) {
      errors.push({ path: `/lines/${i}/amount`, message: `must be quantity × unitPrice = ${fromCents(expected)}` });
    }
    amounts.push(amount);
    vats.push(includedTaxCents(amount, line.vatRate));
  });
  const gross = sum(amounts);
  const vat = sum(vats);
  if (cents(doc.totals.gross) !== gross)
    errors.push({ path: "/totals/gross", message: `must equal the sum of line amounts, ${fromCents(gross)}` });
  if (cents(doc.totals.vat) !== vat)
    errors.push({ path: "/totals/vat", message: `must equal the VAT included in the lines, ${fromCents(vat)}` });
  if (cents(doc.totals.net) !== cents(doc.totals.gross) - cents(doc.totals.vat)) {
    errors.push({
      path: "/totals/net",
      message: `must equal gross − vat, ${fromCents(cents(doc.totals.gross) - cents(doc.totals.vat))}`,
    });
  }
  const paid = sum(doc.payments.map((p) => cents(p.amount)));
  if (paid !== cents(doc.totals.gross))
    errors.push({
      path: "/payments",
      message: `must add up to the gross total ${doc.totals.gross.toFixed(2)}, not ${fromCents(paid)}`,
    });
  return errors;
}
