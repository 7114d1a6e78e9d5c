/**
 * Per-tenant fair scheduling, pure: deficit round robin (Shreedhar & Varghese) over the tenants
 * that have events waiting, in the spirit of SQS fair queues.
 *
 * - Each tenant with waiting events sits in a ring. A turn adds `quantum × weight` to the
 *   tenant's deficit and grants a batch of up to min(backlog, deficit, maxBatch) events.
 * - A tenant has at most one grant outstanding (its batch must commit before the next one, which
 *   also keeps its events in order), so with C write slots a noisy tenant holds at most one:
 *   the other C-1 serve everyone else. This is the bounded share of processing.
 * - A tenant whose backlog empties leaves the ring and loses its deficit (no hoarding); one that
 *   becomes ready joins at the end of the ring, so it waits at most one turn of every other
 *   active tenant before its first grant.
 * - Work conserving: when only one tenant has work, it gets every turn.
 *
 * The processor tells the scheduler how many events arrived (`add`) and how many a grant used
 * (`complete`); the scheduler never sees messages, clocks or I/O.
 */

/** Tunables of the scheduler. */
export interface SchedulerOptions {
  /** Events credited to a tenant per turn (times its weight). */
  readonly quantum: number;
  /** Largest grant. */
  readonly maxBatch: number;
}

/** Permission for `tenant` to process up to `max` waiting events. */
export interface Grant {
  readonly tenant: string;
  readonly max: number;
}

interface TenantState {
  backlog: number;
  deficit: number;
  busy: boolean;
  weight: number;
  inRing: boolean;
}

/** Deficit-round-robin scheduler over tenants (see the module doc). */
export class FairScheduler {
  private readonly states = new Map<string, TenantState>();
  private readonly ring: string[] = [];
  private cursor = 0;

  constructor(private readonly opts: SchedulerOptions) {
    if (!(opts.quantum >= 1) || !(opts.maxBatch >= 1)) throw new Error("quantum and maxBatch must be at least 1");
  }

  private state(tenant: string): TenantState {
    let s = this.states.get(tenant);
    if (!s) this.states.set(tenant, (s = { backlog: 0, deficit: 0, busy: false, weight: 1, inRing: false }));
    return s;
  }

  /** `n` more events of `tenant` are waiting. */
  add(tenant: string, n = 1): void {
    if (n <= 0) return;
    const s = this.state(tenant);
    s.backlog += n;
    if (!s.inRing) {
      s.inRing = true;
      this.ring.push(tenant);
    }
  }

  /** Sets a tenant's weight (default 1): its share relative to others while all are busy. */
  setWeight(tenant: string, weight: number): void {
    if (!(weight > 0)) throw new Error("weight must be positive");
    this.state(tenant).weight = weight;
  }

  /**
   * The next grant, or undefined when no tenant without an outstanding grant has work. The
   * caller must call {@link complete} for every grant.
   */
  next(): Grant | undefined {
    const n = this.ring.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const tenant = this.ring[idx]!;
      const s = this.states.get(tenant)!;
      if (s.busy || s.backlog <= 0) continue;
      s.deficit = Math.min(s.deficit + this.opts.quantum * s.weight, this.opts.maxBatch * Math.max(1, s.weight));
      const max = Math.min(s.backlog, Math.floor(s.deficit), this.opts.maxBatch);
      if (max <= 0) continue; // a light weight collects credit over several turns
      s.busy = true;
      this.cursor = (idx + 1) % n;
      return { tenant, max };
    }
    return undefined;
  }

  /** The grant of `tenant` is done and took `used` events from its backlog. */
  complete(tenant: string, used: number): void {
    const s = this.states.get(tenant);
    if (!s) return;
    s.busy = false;
    s.backlog = Math.max(0, s.backlog - used);
    s.deficit = Math.max(0, s.deficit - used);
    if (s.backlog === 0) this.leaveRing(tenant, s);
  }

  /** Forgets `tenant` (its partition moved away); an outstanding grant's completion is ignored. */
  remove(tenant: string): void {
    const s = this.states.get(tenant);
    if (!s) return;
    this.leaveRing(tenant, s);
    this.states.delete(tenant);
  }

  /** Events of `tenant` known to be waiting. */
  backlog(tenant: string): number {
    return this.states.get(tenant)?.backlog ?? 0;
  }

  /** True while `tenant` has a grant outstanding. */
  isBusy(tenant: string): boolean {
    return this.states.get(tenant)?.busy ?? false;
  }

  /** Tenants with events waiting. */
  activeTenants(): readonly string[] {
    return this.ring;
  }

  private leaveRing(tenant: string, s: TenantState): void {
    s.deficit = 0;
    if (!s.inRing) return;
    s.inRing = false;
    const idx = this.ring.indexOf(tenant);
    if (idx === -1) return;
    this.ring.splice(idx, 1);
    if (idx < this.cursor) this.cursor--;
    if (this.cursor >= this.ring.length) this.cursor = 0;
  }
}
