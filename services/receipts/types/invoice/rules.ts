/** Business rules of an invoice. */
import type { ErrorDetail } from "../../../../lib/errors";
import { addedTaxCents, cents, fromCents, roundDiv, sum } from "../../money";
import type { Invoice } from "./schema";

/**
 * Each item's net amount is quantity × price less its discount; the tax summary has one entry
 * per rate used, with the net of that rate's items and the tax on it; totals add up; buyer and
 * seller differ; the due date is not before the issue date.
 */
export function invoiceRules(doc: Invoice): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const byRate = new Map<number, number>();
  const nets: number[] = [];
  doc.items.forEach((item, i) => {
    const gross = item.quantity * cents(item.unitPrice);
    const discountBp = Math.round((item.discountPercent ?? 0) * 100);
    const expected = gross - roundDiv(gross * discountBp, 10000);
    const net = cents(item.netAmount);
    if (net !== expected)
      errors.push({
        path: `/items/${i}/netAmount`,
        message: `must be quantity × unitPrice less discount = ${fromCents(expected)}`,
      });
    nets.push(net);
    const r = Math.round(item.taxRate * 100);
    byRate.set(r, (byRate.get(r) ?? 0) + net);
  });
  const seen = new Set<number>();
  const taxes: number[] = [];
  doc.taxSummary.forEach((t, i) => {
    const r = Math.round(t.rate * 100);
    if (seen.has(r)) errors.push({ path: `/taxSummary/${i}/rate`, message: `rate ${t.rate} is listed twice` });
    seen.add(r);
    const taxable = byRate.get(r);
    if (taxable === undefined) {
      errors.push({ path: `/taxSummary/${i}/rate`, message: `no item has tax rate ${t.rate}` });
      return;
    }
    if (cents(t.taxableAmount) !== taxable)
      errors.push({
        path: `/taxSummary/${i}/taxableAmount`,
        message: `must equal the net of items at ${t.rate}%, ${fromCents(taxable)}`,
      });
    const tax = addedTaxCents(taxable, t.rate);
    if (cents(t.taxAmount) !== tax)
      errors.push({
        path: `/taxSummary/${i}/taxAmount`,
        message: `must be ${t.rate}% of ${fromCents(taxable)} = ${fromCents(tax)}`,
      });
    taxes.push(cents(t.taxAmount));
  });
  for (const r of byRate.keys()) {
    if (!seen.has(r)) errors.push({ path: "/taxSummary", message: `rate ${r / 100} is used by items but missing` });
  }
  const totalNet = sum(nets);
  const totalTax = sum(taxes);
  if (cents(doc.totalNet) !== totalNet)
    errors.push({ path: "/totalNet", message: `must equal the sum of item net amounts, ${fromCents(totalNet)}` });
  if (cents(doc.totalTax) !== totalTax)
    errors.push({ path: "/totalTax", message: `must equal the sum of the tax summary, ${fromCents(totalTax)}` });
  if (cents(doc.totalGross) !== cents(doc.totalNet) + cents(doc.totalTax)) {
    errors.push({
      path: "/totalGross",
      message: `must equal totalNet + totalTax, ${fromCents(cents(doc.totalNet) + cents(doc.totalTax))}`,
    });
  }
  if (doc.buyer.taxId === doc.seller.taxId)
    errors.push({ path: "/buyer/taxId", message: "buyer and seller must differ" });
  if (doc.dueDate !== undefined && doc.dueDate < doc.issueDate)
    errors.push({ path: "/dueDate", message: "must not be before issueDate" });
  return errors;
}
