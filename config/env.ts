/**
 * Small, typed readers for environment variables. Each reader records a problem instead of
 * throwing, so that start-up can report every misconfiguration at once, one line each.
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** Collects configuration problems while values are read. */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** A string, or the default when unset or empty. */
  str(name: string, def: string): string {
    const v = this.env[name];
    return v === undefined || v.trim() === "" ? def : v.trim();
  }

  /** A string that must match `pattern`; `hint` says what is expected. */
  match(name: string, def: string, pattern: RegExp, hint: string): string {
    const v = this.str(name, def);
    if (!pattern.test(v)) this.problems.push(`${name}=${JSON.stringify(v)} is invalid: expected ${hint}`);
    return v;
  }

  /** An integer within [min, max]. */
  int(name: string, def: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  }

  /** A boolean: true/false/1/0/yes/no. */
  bool(name: string, def: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === "") return def;
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected true or false`);
    return def;
  }

  /**
   * A URL whose protocol is one of `protocols` (e.g. ["nats:"]). With `list`, a
   * comma-separated list of such URLs (a NATS cluster's seed servers).
   */
  url(name: string, def: string, protocols: string[], list = false): string {
    const v = this.str(name, def);
    for (const item of list ? v.split(",").map((s) => s.trim()) : [v]) {
      try {
        const u = new URL(item);
        if (!protocols.includes(u.protocol)) {
          this.problems.push(`${name}=${JSON.stringify(v)} is invalid: expected a ${protocols.join(" or ")}// URL`);
        }
      } catch {
        this.problems.push(`${name}=${JSON.stringify(v)} is invalid: ${JSON.stringify(item)} is not a URL`);
      }
    }
    return v;
  }

  /** A comma-separated list; every item must be one of `allowed` when given. */
  list(name: string, def: string[], allowed?: readonly string[]): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === "") return def;
    const items = raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (allowed) {
      for (const item of items) {
        if (!allowed.includes(item)) {
          this.problems.push(
            `${name} contains unknown ${JSON.stringify(item)}: expected some of ${allowed.join(", ")}`,
          );
        }
      }
    }
    return items;
  }
}
