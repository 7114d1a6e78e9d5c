/**
 * Readiness checks of one node. Components register a named check; `/health/ready` answers
 * 200 only when every check passes.
 */
export type HealthCheck = () => boolean | { ok: boolean; detail?: unknown };

/** Named readiness checks. */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();

  /** Adds (or replaces) the check `name`. */
  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /** Runs every check; a check that throws counts as failed. */
  report(): { ready: boolean; checks: Record<string, { ok: boolean; detail?: unknown }> } {
    const checks: Record<string, { ok: boolean; detail?: unknown }> = {};
    let ready = true;
    for (const [name, check] of this.checks) {
      let r: { ok: boolean; detail?: unknown };
      try {
        const v = check();
        r = typeof v === "boolean" ? { ok: v } : v;
      } catch (err) {
        r = { ok: false, detail: (err as Error).message };
      }
      checks[name] = r;
      if (!r.ok) ready = false;
    }
    return { ready, checks };
  }
}
