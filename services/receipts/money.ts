/**
 * Money arithmetic for business rules, in integer minor units (cents) so that sums and
 * comparisons are exact. Amounts in documents have at most two decimals (the schemas say so).
 */

/** `amount` (major units, e.g. 12.34) as integer cents. */
export function cents(amount: number): number {
  return Math.round(amount * 100);
}

/** Cents as major units (for messages). */
export function fromCents(c: number): string {
  const sign = c < 0 ? "-" : "";
  const abs = Math.abs(c);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** `quantity × unitPrice`, rounded half away from zero to a cent. */
export function lineCents(quantity: number, unitPrice: number): number {
  // quantity has ≤ 3 decimals and price ≤ 2: scale to integers first to avoid 0.1 × 3 drift
  const q = Math.round(quantity * 1000);
  const p = cents(unitPrice);
  return roundDiv(q * p, 1000);
}

/** Tax included in a gross amount at `ratePercent` (VAT-inclusive prices), in cents. */
export function includedTaxCents(grossCents: number, ratePercent: number): number {
  const r = Math.round(ratePercent * 100);
  return roundDiv(grossCents * r, 10000 + r);
}

/** Tax on a net amount at `ratePercent`, in cents. */
export function addedTaxCents(netCents: number, ratePercent: number): number {
  const r = Math.round(ratePercent * 100);
  return roundDiv(netCents * r, 10000);
}

/** `a / b` rounded half away from zero (b > 0). */
export function roundDiv(a: number, b: number): number {
  const q = Math.floor(Math.abs(a) / b);
  const rem = Math.abs(a) - q * b;
  const r = rem * 2 >= b ? q + 1 : q;
  return a < 0 ? -r : r;
}

/** The sum of `values`. */
export function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
