/**
 * The simulator's bookkeeping: registrations by idempotency key, counted per receipt. A call
 * with a known key returns the first answer and counts as a duplicate call, never as a new
 * registration; `doubleRegistrations` counts receipts registered more than once (under
 * different keys), which stays 0 when the caller's idempotency works.
 */

/** One registration, by idempotency key. */
export interface Registration {
  readonly key: string;
  readonly receiptId: string;
  readonly registrationId: string;
  status: "pending" | "registered" | "rejected";
  reason: string | null;
  /** Calls with this key after the first. */
  duplicateCalls: number;
  readonly createdAt: number;
}

/** Per-receipt counts. */
export interface ReceiptCounts {
  /** Registrations made for the receipt (should be 1). */
  registrations: number;
  /** Calls that found an existing registration. */
  duplicateCalls: number;
  status: Registration["status"];
  registrationId: string;
}

/** Totals of one simulator. */
export interface BookSummary {
  readonly receipts: number;
  readonly registrations: number;
  readonly registered: number;
  readonly rejected: number;
  readonly pending: number;
  readonly duplicateCalls: number;
  readonly doubleRegistrations: number;
}

/** Registrations of one simulated service. */
export class RegistrationBook {
  private readonly byKey = new Map<string, Registration>();
  private readonly byReceipt = new Map<string, ReceiptCounts>();
  private seq = 0;

  constructor(private readonly prefix: string) {}

  /** The registration for `key`, if any, counting this call as a duplicate. */
  repeat(key: string): Registration | undefined {
    const r = this.byKey.get(key);
    if (!r) return undefined;
    r.duplicateCalls++;
    const c = this.byReceipt.get(r.receiptId);
    if (c) c.duplicateCalls++;
    return r;
  }

  /** Records a new registration (or rejection) under `key`. */
  create(
    key: string,
    receiptId: string,
    status: Registration["status"],
    reason: string | null,
    now: number,
  ): Registration {
    const r: Registration = {
      key,
      receiptId,
      registrationId: `${this.prefix}-${(++this.seq).toString().padStart(8, "0")}`,
      status,
      reason,
      duplicateCalls: 0,
      createdAt: now,
    };
    this.byKey.set(key, r);
    const c = this.byReceipt.get(receiptId);
    if (c) {
      c.registrations++;
      c.status = status;
      c.registrationId = r.registrationId;
    } else
      this.byReceipt.set(receiptId, { registrations: 1, duplicateCalls: 0, status, registrationId: r.registrationId });
    return r;
  }

  /** Settles an async registration (registered or rejected). */
  settle(r: Registration, status: "registered" | "rejected"): void {
    r.status = status;
    const c = this.byReceipt.get(r.receiptId);
    if (c && c.registrationId === r.registrationId) c.status = status;
  }

  /** Counts of one receipt. */
  counts(receiptId: string): ReceiptCounts | undefined {
    const c = this.byReceipt.get(receiptId);
    return c ? { ...c } : undefined;
  }

  /** Every receipt's counts. */
  all(): Record<string, ReceiptCounts> {
    return Object.fromEntries([...this.byReceipt].map(([k, v]) => [k, { ...v }]));
  }

  /** Totals. */
  summary(): BookSummary {
    let registrations = 0;
    let registered = 0;
    let rejected = 0;
    let pending = 0;
    let duplicateCalls = 0;
    let doubleRegistrations = 0;
    for (const c of this.byReceipt.values()) {
      registrations += c.registrations;
      duplicateCalls += c.duplicateCalls;
      if (c.registrations > 1) doubleRegistrations++;
      if (c.status === "registered") registered++;
      else if (c.status === "rejected") rejected++;
      else pending++;
    }
    return {
      receipts: this.byReceipt.size,
      registrations,
      registered,
      rejected,
      pending,
      duplicateCalls,
      doubleRegistrations,
    };
  }

  /** Forgets everything. */
  reset(): void {
    this.byKey.clear();
    this.byReceipt.clear();
  }
}
