/** Business rules of a fiscal check. */
import type { ErrorDetail } from "../../../../lib/errors";
import { cents, fromCents, includedTaxCents, lineCents, sum } from "../../money";
import type { FiscalCheck } from "./schema";

/** The check's date and time as an ISO timestamp, or undefined when not a real moment. */
export function fiscalIssuedAt(doc: FiscalCheck): string | undefined {
  const d = doc.head.orderDate;
  const t = doc.head.orderTime;
  const [day, month, year] = [Number(d.slice(0, 2)), Number(d.slice(2, 4)), Number(d.slice(4, 8))];
  const [h, m, s] = [Number(t.slice(0, 2)), Number(t.slice(2, 4)), Number(t.slice(4, 6))];
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  const back = new Date(ms);
  if (
    year < 1970 ||
    back.getUTCFullYear() !== year ||
    back.getUTCMonth() !== month - 1 ||
    back.getUTCDate() !== day ||
    h > 23 ||
    m > 59 ||
    s > 59
  )
    return undefined;
  return back.toISOString();
}

function checkRowNumbers(rows: readonly { rowNum: number }[], path: string, errors: ErrorDetail[]): void {
  rows.forEach((r, i) => {
    if (r.rowNum !== i + 1)
      errors.push({ path: `${path}/${i}/rowNum`, message: `must be ${i + 1} (rows are numbered from 1 in order)` });
  });
}

/**
 * Rows are numbered 1..n; each row's cost is amount × price; the total is the sum of costs;
 * each tax's turnover is the cost of the rows carrying its letter and its sum the VAT included
 * in that turnover; payments add up to the total; the date and time are real.
 */
export function fiscalRules(doc: FiscalCheck): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  if (fiscalIssuedAt(doc) === undefined)
    errors.push({
      path: "/head/orderDate",
      message: "orderDate and orderTime must be a real date and time (DDMMYYYY, HHMMSS)",
    });
  checkRowNumbers(doc.rows, "/rows", errors);
  checkRowNumbers(doc.taxes, "/taxes", errors);
  checkRowNumbers(doc.payments, "/payments", errors);
  const costs = doc.rows.map((row, i) => {
    const expected = lineCents(row.amount, row.price);
    if (cents(row.cost) !== expected)
      errors.push({ path: `/rows/${i}/cost`, message: `must be amount × price = ${fromCents(expected)}` });
    return cents(row.cost);
  });
  const total = sum(costs);
  if (cents(doc.total.sum) !== total)
    errors.push({ path: "/total/sum", message: `must equal the sum of row costs, ${fromCents(total)}` });
  const letters = new Set<string>();
  doc.taxes.forEach((tax, i) => {
    if (letters.has(tax.letter))
      errors.push({ path: `/taxes/${i}/letter`, message: `letter ${tax.letter} is listed twice` });
    letters.add(tax.letter);
    const turnover = sum(doc.rows.filter((r) => (r.letters ?? "").includes(tax.letter)).map((r) => cents(r.cost)));
    if (cents(tax.turnover) !== turnover)
      errors.push({
        path: `/taxes/${i}/turnover`,
        message: `must equal the cost of rows with letter ${tax.letter}, ${fromCents(turnover)}`,
      });
    const expected = includedTaxCents(turnover, tax.percent);
    if (cents(tax.sum) !== expected)
      errors.push({
        path: `/taxes/${i}/sum`,
        message: `must be the ${tax.percent}% included in ${fromCents(turnover)} = ${fromCents(expected)}`,
      });
  });
  doc.rows.forEach((r, i) => {
    for (const l of r.letters ?? "") {
      if (!letters.has(l)) errors.push({ path: `/rows/${i}/letters`, message: `tax letter ${l} is not in taxes` });
    }
  });
  const paid = sum(doc.payments.map((p) => cents(p.sum)));
  if (paid !== cents(doc.total.sum))
    errors.push({
      path: "/payments",
      message: `must add up to the total ${fromCents(cents(doc.total.sum))}, not ${fromCents(paid)}`,
    });
  return errors;
}
