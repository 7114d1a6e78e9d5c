/**
 * A single-holder lease in a KV bucket whose entries expire (bucket TTL): the holder creates the
 * key and rewrites it (revision-checked) every ttl/3; when it stops, the entry expires and
 * another node can create it. Used so that exactly one node runs the intake pump at a time.
 */
import type { KV } from "../../nats";

/** One lease key as seen by one would-be holder. */
export class KvLease {
  private revision = 0;

  constructor(
    private readonly kv: KV,
    private readonly key: string,
    readonly holder: string,
  ) {}

  /** True while this node believes it holds the lease. */
  get held(): boolean {
    return this.revision > 0;
  }

  /** Takes the lease if nobody holds it; true when held afterwards. */
  async tryAcquire(): Promise<boolean> {
    if (this.held) return this.renew();
    try {
      this.revision = await this.kv.create(this.key, JSON.stringify({ holder: this.holder, at: Date.now() }));
      return true;
    } catch {
      return false;
    }
  }

  /** Extends the lease; false (and no longer held) when someone else took it or KV failed. */
  async renew(): Promise<boolean> {
    if (!this.held) return false;
    try {
      this.revision = await this.kv.update(
        this.key,
        JSON.stringify({ holder: this.holder, at: Date.now() }),
        this.revision,
      );
      return true;
    } catch {
      this.revision = 0;
      return false;
    }
  }

  /** Gives the lease up at once (so the next holder does not wait for the TTL). */
  async release(): Promise<void> {
    if (!this.held) return;
    const rev = this.revision;
    this.revision = 0;
    await this.kv.delete(this.key, { previousSeq: rev }).catch(() => undefined);
  }

  /** The current holder as stored, if any. */
  async current(): Promise<string | undefined> {
    const e = await this.kv.get(this.key).catch(() => null);
    if (!e || e.operation !== "PUT") return undefined;
    try {
      return e.json<{ holder: string }>().holder;
    } catch {
      return undefined;
    }
  }
}
